// etcd 3.6, the version Kubernetes 1.36 pairs with (Debian ships 3.4), built from the server module that
// k8s.io/kubernetes already requires so that it shares the API server's compiled dependencies.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
