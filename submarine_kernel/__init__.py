"""submarine-kernel: notebook cells → distributed training jobs on local processes, YARN or Kubernetes.

`%load_ext submarine_kernel` registers the magics; `import submarine_kernel as sk; sk.submit(...)` is the
Python API. Heavy clients (kubernetes, s3fs, requests-gssapi) are imported when first used.
"""

from .errors import SubmarineError, ValidationError

__version__ = "0.1.0"
__all__ = ["SubmarineError", "ValidationError", "__version__", "submit", "submit_sweep", "job", "jobs", "report",
           "form", "history", "load_ipython_extension", "unload_ipython_extension"]

_LAZY = {"submit": "api", "submit_sweep": "api", "job": "api", "jobs": "api", "report": "metrics", "form": "widgets",
         "history": "widgets"}


def __getattr__(name):
    """Import the API on first use, so `%load_ext` and `import submarine_kernel` stay light."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_ipython_extension(ipython):
    """`%load_ext submarine_kernel`: register the magics."""
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython):
    from .magics import unload_ipython_extension as unload

    unload(ipython)
