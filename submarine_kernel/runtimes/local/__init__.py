"""The embedded default runtime: replicas as processes on this machine, under one detached supervisor per job.

`runtime.py` is the Runtime; `supervisor.py` the stdlib-only process that owns a job's replicas; `processes.py`
the process plumbing both sides of the job folder need; `data.py` what a JobRef of this runtime carries.
"""

from .data import LocalJobData
from .runtime import LocalRuntime

__all__ = ["LocalJobData", "LocalRuntime"]
