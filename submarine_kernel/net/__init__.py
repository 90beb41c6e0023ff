"""HTTP plumbing shared by the cluster clients (YARN ResourceManager, WebHDFS NameNodes).

`http`: the one requests session builder (TLS on by default, secrets out of errors); `kerberos`: SPNEGO and
kinit/klist; `failover`: the one high-availability loop over every configured URL.
"""
