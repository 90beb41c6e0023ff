"""The YARN runtime: each job a YARN Service, through the ResourceManager's REST APIs.

`runtime` (YarnRuntime: traits, submit, poll, logs, stop), `client` (the RM REST client: HA across rm_urls,
Kerberos, error translation), `service` (JobSpec → YARN Service JSON), `checks` (what YARN would refuse),
`classic` (Hadoop Submarine's `yarn jar ... job run` line), `status` (statuses and replicas from YARN's
answers), `data` (what a JobRef keeps: YarnJobData).
"""

from .client import (ResourceManagerClient, ResourceManagerUnreachable, ServiceNameTaken, ServiceRejected,
                     YarnAuthError)
from .data import YarnJobData
from .runtime import YarnRuntime

__all__ = ["ResourceManagerClient", "ResourceManagerUnreachable", "ServiceNameTaken", "ServiceRejected",
           "YarnAuthError", "YarnJobData", "YarnRuntime"]
