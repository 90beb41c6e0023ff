"""Local jobs end with the right verdict under load: every replica terminal and matching its exit code, the
deciding role deciding (issue 23, items 1 and 2). bench/verdicts.py runs the same scenarios hundreds of times."""

from __future__ import annotations

import pytest

from core_support import stop_leftovers  # noqa: F401 (fixture)
from verdict_support import busy_loops, run_scenarios

pytestmark = pytest.mark.usefixtures("stop_leftovers")


def test_twenty_short_jobs_beside_two_busy_loops_all_end_with_the_right_verdict():
    with busy_loops(2):
        wrong = run_scenarios(20)
    assert wrong == {}
