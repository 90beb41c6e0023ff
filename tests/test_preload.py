"""The Submarine kernel preloads the extension; a notebook's own `%load_ext submarine_kernel` stays quiet."""

from __future__ import annotations

import pytest

from kernel_support import errors, execute, text

pytestmark = pytest.mark.slow


def test_load_ext_in_the_submarine_kernel_prints_nothing_and_the_magics_work(tmp_path):
    nb = execute("%load_ext submarine_kernel", "%submarine config", tmp_path=tmp_path)
    assert nb.cells[0].outputs == []
    assert errors(nb.cells[1]) == [] and "runtime" in text(nb.cells[1])


def test_the_kernelspec_preloads_under_its_own_name():
    from submarine_kernel.kernelspec import kernel_json

    argv = kernel_json()["argv"]
    assert argv[argv.index("--ext") + 1] == "submarine_kernel.preload"
