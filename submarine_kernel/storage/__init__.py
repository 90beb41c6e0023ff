"""Bundle storage: where a job's algorithm files live until its replicas fetch them.

`store` (the content-addressed `Storage` and `fetch_bundle`), `filesystems` (which fsspec file system opens a
URL), `integrity` (checks a stored bundle must pass), `staging` (hidden working folders of local uploads),
`checkpoints` (deleting a job's checkpoint folder), and the protocol backends `s3` and `webhdfs`, imported
only when their protocol is first used.
"""

from .checkpoints import MIN_CHECKPOINT_DEPTH, checkpoint_depth, clean_checkpoint
from .filesystems import open_filesystem, register_filesystem
from .integrity import DamagedBundle
from .store import Storage, UploadResult, fetch_bundle

__all__ = ["MIN_CHECKPOINT_DEPTH", "DamagedBundle", "Storage", "UploadResult", "checkpoint_depth",
           "clean_checkpoint", "fetch_bundle", "open_filesystem", "register_filesystem"]
