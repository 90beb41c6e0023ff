"""What the notebook shows while and after a job runs (issue 23): reasons, interrupts, refusals, logs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kernel_support import errors, execute, html, text

SLOW = pytest.mark.slow


# -- item 5: a failure's reason where the user looks ------------------------------------------------------
def test_last_line_skips_metric_lines_and_is_capped(tmp_path):
    from submarine_kernel import metrics
    from submarine_kernel.runtimes.local import supervisor

    assert supervisor.METRIC_MARKER == metrics.MARKER  # the supervisor cannot import it: one rule, checked
    log = tmp_path / "r.log"
    log.write_text("step 1\nTraceback (most recent call last):\nValueError: bad lr\n\n"
                   'SUBMARINE_METRIC {"loss": 1}\n')
    assert supervisor.last_line(str(log)) == "ValueError: bad lr"
    log.write_text("x" * 1000 + "\n")
    assert len(supervisor.last_line(str(log))) == supervisor.LAST_LINE_CHARS
    assert supervisor.last_line(str(tmp_path / "missing.log")) == ""


@SLOW
def test_a_typo_in_the_launch_command_is_named_in_waits_error_the_summary_and_the_cli(tmp_path):
    nb = execute(
        "%%submarine.python train.py --no-local\nprint('training')",
        "%submarine run --name typo-job --wait -- python trian.py",
        tmp_path=tmp_path)
    error = errors(nb.cells[1])
    assert len(error) == 1 and error[0].startswith("UsageError: job typo-job ended FAILED: master-0 exited with "
                                                   "code 2: ") and "can't open file" in error[0] and "trian.py" in error[0]
    assert "trian.py" in html(nb.cells[1])  # the static summary says it too
    cli = subprocess.run([sys.executable, "-m", "submarine_kernel", "status", "typo-job"], capture_output=True,
                         text=True, timeout=60)
    assert "can't open file" in cli.stdout and "trian.py" in cli.stdout, cli.stdout + cli.stderr
