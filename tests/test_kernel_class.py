"""The Submarine kernel offers no kernel subshells (submarine_kernel/kernel.py): JupyterLab and Notebook 7 then
send widget comms to the main shell, and no click lands on a subshell they deleted meanwhile (the history's
header clicks were dropped as "Unknown subshell_id" in Notebook 7 after Run All; test_browser.py clicks them)."""

from __future__ import annotations

import pytest

from kernel_support import FrontendKernel

pytestmark = pytest.mark.slow


def test_the_kernel_offers_no_subshells_and_answers_comms_on_the_main_shell():
    with FrontendKernel() as kernel:
        info = kernel.kc.kernel_info(reply=True, timeout=60)["content"]
        assert "kernel subshells" not in info["supported_features"]
        assert info["implementation"] == "ipython" and info["status"] == "ok"   # otherwise ipykernel's own
        reply, printed = kernel.run("import threading, ipywidgets as w\nclicks = []\n"
                                    "b = w.Button(); b.on_click(lambda _: clicks.append("
                                    "threading.current_thread().name))\nprint(b.comm.comm_id)")
        comm_id = printed.strip()
        kernel.kc.shell_channel.send(kernel.kc.session.msg("comm_msg", {
            "comm_id": comm_id, "data": {"method": "custom", "content": {"event": "click"}}}))
        reply, printed = kernel.run("print(clicks)")          # the shell handles messages in order
        assert printed.strip() == "['MainThread']"
