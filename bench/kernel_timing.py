"""Timing cells in a real Jupyter kernel (jupyter_client): start one, time a cell's round trip, read a value
back without output, and the percentiles of many round trips."""

from __future__ import annotations

import ast
import json
import math
import random
import time


def start_kernel(name: str, env: dict):
    from submarine_kernel.kernelspec import kernel_manager

    km = kernel_manager(name)  # encrypted where it can be: no "running over TCP" warning amid the figures
    km.start_kernel(env=env)
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return km, kc


def timed_execute(kc, code: str) -> float:
    start = time.perf_counter()
    reply = kc.execute_interactive(code, timeout=600, output_hook=lambda msg: None)
    elapsed = time.perf_counter() - start
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"benchmark cell failed: {code!r}: {reply['content'].get('evalue')}")
    return elapsed


def kernel_value(kc, expression: str):
    """The value of a JSON-returning `expression` evaluated in the kernel (user_expressions: no output)."""
    reply = kc.execute_interactive("", user_expressions={"v": expression}, timeout=120,
                                   output_hook=lambda msg: None)
    result = reply["content"]["user_expressions"]["v"]
    if result.get("status") != "ok":
        raise RuntimeError(f"benchmark probe failed: {expression}: {result.get('evalue')}")
    return json.loads(ast.literal_eval(result["data"]["text/plain"]))  # the repr of the JSON string


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def cell_latencies(kc, count: int, seed: int) -> list[float]:
    """Round trips of a trivial cell, spread over a few poll intervals by a random pause before each."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        time.sleep(rng.uniform(0, 0.02))
        out.append(timed_execute(kc, "pass"))
    return out
