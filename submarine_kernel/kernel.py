"""The Submarine kernel: ipykernel's IPythonKernel that does not offer kernel subshells to its frontends.

JupyterLab and Notebook 7 send widget comms over a subshell when the kernel offers them (one per comm target).
When a target's last comm closes they delete its subshell, and comms opened in that moment adopt the subshell
being deleted: the kernel then drops their messages ("Unknown subshell_id"). A job's status widget closes when
the job ends, right before the next cell opens its widgets, so after Run All the history's header clicks (and
any Stop) could be lost. Without subshells every comm goes to the main shell, which keeps serving them while a
`%submarine run --wait` cell awaits its job (magics/submarine.await_waiting_runs), and widget callbacks run on
the main thread, as the widgets assume.
"""

from __future__ import annotations

from ipykernel.ipkernel import IPythonKernel

SUBSHELLS = "kernel subshells"


class SubmarineKernel(IPythonKernel):
    @property
    def kernel_info(self):
        info = super().kernel_info
        info["supported_features"] = [f for f in info.get("supported_features", []) if f != SUBSHELLS]
        return info
