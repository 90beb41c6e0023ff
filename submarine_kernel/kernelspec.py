"""The "Python 3 (Submarine)" kernelspec: ipykernel (kernel.py's class) with the extension preloaded."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

KERNEL_NAME = "submarine"
DISPLAY_NAME = "Python 3 (Submarine)"


def kernel_json(python: str | None = None) -> dict:
    return {
        "argv": [python or sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--ext", "submarine_kernel.preload",
                 # no subshells for comms: see kernel.py
                 "--IPKernelApp.kernel_class=submarine_kernel.kernel.SubmarineKernel"],
        "display_name": DISPLAY_NAME,
        "language": "python",
        "metadata": {"debugger": True, **_encryption_support()},
    }


def _encryption_support() -> dict:
    """ipykernel's own declaration of the transports it can encrypt (CurveZMQ since 7.x), so a manager with
    `transport_encryption="auto"` encrypts this kernel's sockets too."""
    try:
        from ipykernel.kernelspec import get_kernel_dict

        supported = get_kernel_dict().get("metadata", {}).get("supported_encryption")
    except Exception:  # an ipykernel without it: plain TCP, as before
        return {}
    return {"supported_encryption": supported} if supported else {}


def install(user: bool = False, prefix: str | None = None, name: str = KERNEL_NAME) -> str:
    """Install the kernelspec (system-wide by default, like `jupyter kernelspec install`); return its folder."""
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "kernel.json").write_text(json.dumps(kernel_json(), indent=2))
        return KernelSpecManager().install_kernel_spec(tmp, kernel_name=name, user=user, prefix=prefix,
                                                       replace=True)


def uninstall(name: str = KERNEL_NAME) -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    return KernelSpecManager().remove_kernel_spec(name)


def kernel_manager(kernel_name: str = KERNEL_NAME, asynchronous: bool = False):
    """A manager for `kernel_name` (the Submarine kernel even when not installed) that encrypts the kernel's
    sockets where jupyter_client, pyzmq and the kernel all can: ipykernel then does not warn on the terminal
    that it is "running over TCP without encryption"."""
    from jupyter_client.manager import AsyncKernelManager, KernelManager
    from traitlets import TraitError

    manager = (AsyncKernelManager if asynchronous else KernelManager)(kernel_name=kernel_name,
                                                                       kernel_spec_manager=spec_manager())
    if manager.has_trait("transport_encryption"):  # jupyter_client >= 8.10
        try:
            manager.transport_encryption = "auto"
        except TraitError:  # pyzmq built without CurveZMQ
            pass
    return manager


def spec_manager():
    """A KernelSpecManager that knows the Submarine kernel even when it is not installed (headless runs)."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel

    class SubmarineKernelSpecManager(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            try:
                return super().get_kernel_spec(kernel_name)
            except NoSuchKernel:
                if kernel_name != KERNEL_NAME:
                    raise
                return KernelSpec(resource_dir="", **kernel_json())

    return SubmarineKernelSpecManager()
