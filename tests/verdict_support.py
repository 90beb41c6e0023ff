"""Short local jobs whose verdict is known in advance, run many at once beside busy loops.

Shared by tests/test_local_verdicts.py (a few dozen jobs) and bench/verdicts.py (hundreds). Each scenario is a
launch command and the verdict the supervisor must reach: the job's state, the message naming the deciding
failure, and every replica in a terminal state that matches its exit code.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass, field

#: replicas exit by role: `sh` starts in a few milliseconds, so a few dozen jobs stay cheap
_BY_ROLE = "case $SUBMARINE_ROLE in master) {master};; *) {worker};; esac"


@dataclass(frozen=True)
class Scenario:
    name: str
    command: str
    workers: int
    state: str                   # the job's expected verdict
    message: str                 # a regular expression its message must match in full
    replicas: dict = field(default_factory=dict)  # replica → state it must end in (others: any terminal state)


SCENARIOS = [
    # issue 23 item 1: both replicas fail at once; the one not read first stayed RUNNING forever (either may
    # exit first and decide; the other then ends FAILED too, or STOPPED when it was still starting)
    Scenario("missing-file", "python missing.py", 2, "FAILED",
             r"(master|worker)-0 exited with code 2: .*can't open file .*missing\.py.*"),  # the reason, too
    # issue 23 item 2: the workers succeed, then the master fails: the master decides
    Scenario("master-fails-late", _BY_ROLE.format(master="sleep 0.3; exit 5", worker="exit 0"), 3, "FAILED",
             "master-0 exited with code 5", {"master-0": "FAILED", "worker-0": "SUCCEEDED", "worker-1": "SUCCEEDED"}),
    Scenario("all-succeed", _BY_ROLE.format(master="exit 0", worker="exit 0"), 3, "SUCCEEDED",
             "master-0 succeeded", {"master-0": "SUCCEEDED", "worker-0": "SUCCEEDED", "worker-1": "SUCCEEDED"}),
    Scenario("worker-fails-first", _BY_ROLE.format(master="sleep 30", worker="exit 3"), 2, "FAILED",
             "worker-0 exited with code 3", {"master-0": "STOPPED", "worker-0": "FAILED"}),
]

TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


def problems_of(scenario: Scenario, status) -> list[str]:
    """What is wrong with a finished job's status, in words (empty when the verdict is right)."""
    found = []
    if status.state.value != scenario.state or not re.fullmatch(scenario.message, status.message):
        found.append(f"job {status.state.value} {status.message!r}, expected {scenario.state} {scenario.message!r}")
    for replica in status.replicas:
        state, code = replica.state.value, replica.exit_code
        if state not in TERMINAL:
            found.append(f"{replica.name} ended {state} (exit code {code})")
        elif code is None:
            found.append(f"{replica.name} {state} without an exit code")
        elif state == "SUCCEEDED" and code != 0 or state == "FAILED" and code == 0:
            found.append(f"{replica.name} {state} with exit code {code}")
        expected = scenario.replicas.get(replica.name)
        if expected and state != expected:
            found.append(f"{replica.name} ended {state} (exit {code}), expected {expected}")
    return found


def run_scenarios(jobs: int, timeout: float = 300.0) -> dict[str, list[str]]:
    """Submit `jobs` short jobs (the scenarios in turn) to the default session at once; wait for all.

    Returns job name → its problems, for the jobs that have any."""
    import submarine_kernel as sk

    submitted = []
    for i in range(jobs):
        scenario = SCENARIOS[i % len(SCENARIOS)]
        job = sk.submit(scenario.command, files={"x.txt": ""}, framework="pytorch", workers=scenario.workers,
                        name=f"v-{scenario.name}-{uuid.uuid4().hex[:6]}")
        submitted.append((scenario, job))
    wrong = {}
    for scenario, job in submitted:
        found = problems_of(scenario, job.wait(timeout=timeout))
        if found:
            wrong[job.name] = found
    return wrong


@contextlib.contextmanager
def busy_loops(count: int = 2):
    """`count` processes that spin on a core each, as a loaded laptop does; ended on exit."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for proc in loops:
            proc.kill()
            proc.wait()
