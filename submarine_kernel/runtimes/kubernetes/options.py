"""`ClusterOptions`: everything about the cluster a manifest needs that is not in the JobSpec (the
KubernetesRuntime traits as plain data, so the manifest builders need neither traitlets nor a cluster)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

#: what a ConfigMap may hold: etcd's 1 MiB object limit less room for metadata
CONFIGMAP_LIMIT = 1024 * 1024 - 64 * 1024


#: the Trainer v2 runtimes a TrainJob refers to by default, per framework (those Kubeflow Trainer installs)
DEFAULT_TRAINER_RUNTIMES = {"pytorch": "torch-distributed", "xgboost": "xgboost-distributed"}


@dataclass(frozen=True)
class ClusterOptions:
    """Everything about the cluster that is not in the JobSpec (KubernetesRuntime's traits)."""

    namespace: str = "default"
    training_operator: bool = True
    service_account: str = ""
    image_pull_policy: str = "IfNotPresent"
    image_pull_secrets: Sequence[str] = ()
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: Sequence[Mapping[str, Any]] = ()
    priority_class: str = ""
    pod_annotations: Mapping[str, str] = field(default_factory=dict)
    restart_policy: str = "Never"
    clean_pod_policy: str = "Running"
    ttl_seconds_after_finished: int | None = 86400
    backoff_limit: int | None = 0
    active_deadline_seconds: int | None = None
    job_success_policy: bool = True
    working_dir: str = "/workspace"
    limit_cpu: bool = True
    bundle_delivery: str = "auto"  # auto | configmap | storage
    configmap_limit: int = CONFIGMAP_LIMIT
    s3_fetch_image: str = "amazon/aws-cli:2.17.0"
    s3_endpoint_url: str = ""
    s3_region: str = ""
    s3_credentials_secret: str = ""
    hdfs_fetch_image: str = "curlimages/curl:8.8.0"
    webhdfs_url: str = ""
    hdfs_user: str = ""
    #: Kubeflow Trainer v2: the ClusterTrainingRuntime (or TrainingRuntime) per framework
    trainer_runtimes: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TRAINER_RUNTIMES))
    trainer_runtime_kind: str = "ClusterTrainingRuntime"
    #: Kueue LocalQueue (label + created suspended); "" for none
    queue: str = ""
    #: gang scheduling: default | volcano | coscheduling
    scheduler: str = "default"
    scheduler_name: str = ""
    gang_timeout_seconds: int = 60
