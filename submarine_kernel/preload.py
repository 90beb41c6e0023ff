"""What the "Python 3 (Submarine)" kernelspec loads at start (`--ext submarine_kernel.preload`).

Preloading under this name rather than `submarine_kernel` keeps a notebook's own `%load_ext submarine_kernel`
quiet: IPython answers a second load of the same name with "The submarine_kernel extension is already loaded",
while loading `submarine_kernel` after this is a silent no-op (the magics register once per shell). So one
notebook runs unchanged, without noise, in the Submarine kernel and in a plain Python kernel. The price: in
the Submarine kernel, `%unload_ext submarine_kernel.preload` unloads what the kernel loaded (plain
`%unload_ext submarine_kernel` works once the notebook has run its own `%load_ext submarine_kernel`).
"""

from __future__ import annotations


def load_ipython_extension(ipython) -> None:
    from . import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython) -> None:
    from . import unload_ipython_extension as unload

    unload(ipython)
