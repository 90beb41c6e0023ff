"""The "Python 3 (Submarine)" kernelspec: ipykernel with the extension preloaded."""

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
                 "--ext", "submarine_kernel.preload"],
        "display_name": DISPLAY_NAME,
        "language": "python",
        "metadata": {"debugger": True},
    }


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
