"""Retries with exponential backoff and full jitter, bounded and visible ("retrying 2/5").

Used for submit, status, logs and storage calls. Only errors that may pass by themselves are retried:
TransientError (raised by runtimes for connection errors, timeouts and 5xx) and the OSErrors of
connections; a user error is never retried.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from .errors import TransientError

T = TypeVar("T")
RETRYABLE: tuple[type[BaseException], ...] = (TransientError, ConnectionError, TimeoutError)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 10.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Full jitter: a random wait in [0, min(max_delay, base * 2**(attempt-1))]."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return (rng or random).uniform(0, ceiling)

    def call(self, func: Callable[[], T], what: str, on_retry: Callable[[str], None] | None = None,
             retry_on: tuple[type[BaseException], ...] = RETRYABLE, sleep: Callable[[float], None] = time.sleep) -> T:
        """Run `func`, retrying retryable errors; the last error is raised as TransientError naming `what`."""
        for attempt in range(1, self.attempts + 1):
            try:
                return func()
            except retry_on as exc:
                if attempt == self.attempts:
                    raise TransientError(f"{what} failed {self.attempts} times, last with: {_describe(exc)}; "
                                         "check that the service is reachable, then try again") from exc
                if on_retry is not None:
                    on_retry(f"{what}: {_describe(exc)}; {self.note(attempt)}")
                sleep(self.delay(attempt))
        raise AssertionError("unreachable")

    def note(self, failures: int, every: float | None = None) -> str:
        """How a caller that keeps trying words its next try after `failures` failures: "retrying 3/5",
        then "still retrying every 10 s" once the bounded attempts are used up."""
        if failures < self.attempts:
            return f"retrying {failures + 1}/{self.attempts}"
        return f"still retrying every {self.max_delay if every is None else every:.0f} s"


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


DEFAULT_POLICY = RetryPolicy()


def retried(func: Callable[[], T], what: str) -> T:
    """`func()` with the default bounded, jittered retries, each retry logged ("retrying 2/5"): for runtime
    calls made outside a session's notices (logs, stop, lookups)."""
    import logging

    return DEFAULT_POLICY.call(func, what, on_retry=logging.getLogger("submarine_kernel").warning)
