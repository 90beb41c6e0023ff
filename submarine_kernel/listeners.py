"""A thread-safe list of callbacks: add one (and get its remover), call them all, never fail the caller."""

from __future__ import annotations

import logging
import threading
from typing import Callable, Generic, TypeVar

log = logging.getLogger(__name__)
L = TypeVar("L", bound=Callable[..., None])


class Listeners(Generic[L]):
    """Callbacks called from background threads (tracker, metrics harvester) for views to redraw."""

    def __init__(self, what: str):
        self.what = what
        self._items: list[L] = []
        self._lock = threading.Lock()

    def add(self, listener: L) -> Callable[[], None]:
        """Register `listener`; returns a function that removes it (safe to call twice)."""
        with self._lock:
            self._items.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._items:
                    self._items.remove(listener)
        return remove

    def notify(self, *args) -> None:
        """Call every listener; one that raises is logged and the others still run."""
        with self._lock:
            items = list(self._items)
        for listener in items:
            try:
                listener(*args)
            except Exception:
                log.exception("a %s listener failed", self.what)
