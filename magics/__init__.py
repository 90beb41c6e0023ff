"""The IPython face of submarine-kernel (installed as `submarine_kernel.magics`)."""

from .arguments import usage
from .submarine import SubmarineMagics, load_ipython_extension, unload_ipython_extension

__all__ = ["SubmarineMagics", "load_ipython_extension", "unload_ipython_extension", "usage"]
