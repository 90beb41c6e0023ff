"""submarine-kernel: notebook cells → distributed training jobs on local processes, YARN or Kubernetes.

`%load_ext submarine_kernel` registers the magics; `import submarine_kernel as sk; sk.submit(...)` is the
Python API. Heavy clients (kubernetes, s3fs, requests-gssapi) are imported when first used.
"""

from .errors import SubmarineError, ValidationError

__version__ = "0.1.0"
__all__ = ["SubmarineError", "ValidationError", "__version__"]
