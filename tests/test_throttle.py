"""UpdateBatcher with a fake clock and a fake timer: what is delivered, and when, without real time."""

from __future__ import annotations

from submarine_kernel.throttle import UpdateBatcher


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeTimers:
    """Collects scheduled callbacks; `fire()` runs the ones due at the fake clock's time."""

    def __init__(self, clock: FakeClock):
        self.clock = clock
        self.pending: list[tuple[float, object]] = []

    def __call__(self, delay, callback):
        self.pending.append((self.clock.now + delay, callback))

    def advance(self, seconds: float) -> None:
        self.clock.now += seconds
        due = [cb for at, cb in self.pending if at <= self.clock.now]
        self.pending = [(at, cb) for at, cb in self.pending if at > self.clock.now]
        for callback in due:
            callback()


def make(interval=0.5, **kwargs):
    clock = FakeClock()
    timers = FakeTimers(clock)
    delivered: list[dict] = []
    batcher = UpdateBatcher(delivered.append, interval, clock=clock, schedule=timers, **kwargs)
    return batcher, delivered, timers


def test_first_update_goes_out_at_once_and_a_burst_becomes_one_delivery():
    batcher, delivered, timers = make()
    batcher.push({"state": "SUBMITTED"})
    assert delivered == [{"state": "SUBMITTED"}]
    for state in ("PENDING", "RUNNING", "RUNNING"):
        batcher.push({"state": state})
    assert len(delivered) == 1 and len(timers.pending) == 1      # one timer armed for the whole burst
    timers.advance(0.5)
    assert delivered == [{"state": "SUBMITTED"}, {"state": "RUNNING"}]


def test_at_most_one_delivery_per_interval_over_many_updates():
    batcher, delivered, timers = make(interval=0.5)
    for _ in range(100):                                         # 100 updates over 5 fake seconds
        batcher.push({"tick": timers.clock.now})
        timers.advance(0.05)
    timers.advance(1.0)
    assert 9 <= len(delivered) <= 11                             # ~ 5 s / 0.5 s, not 100
    assert delivered[-1]["tick"] == max(d["tick"] for d in delivered)  # the newest value is never lost


def test_list_keys_accumulate_and_stay_bounded():
    batcher, delivered, timers = make(append_keys=("lines",), max_items=3)
    batcher.push({"lines": ["a"]})
    for line in "bcdef":
        batcher.push({"lines": [line], "state": line})
    timers.advance(0.5)
    assert delivered == [{"lines": ["a"]}, {"lines": ["d", "e", "f"], "state": "f"}]


def test_flush_delivers_pending_now_and_close_drops_later_updates():
    batcher, delivered, timers = make()
    batcher.push({"state": "RUNNING"})
    batcher.push({"state": "SUCCEEDED"})
    batcher.flush()
    assert delivered[-1] == {"state": "SUCCEEDED"} and batcher.pending == {}
    timers.advance(1.0)                                          # the armed timer finds nothing to send
    assert len(delivered) == 2
    batcher.push({"state": "late"})
    batcher.close()
    batcher.push({"state": "after close"})
    timers.advance(1.0)
    assert [d["state"] for d in delivered] == ["RUNNING", "SUCCEEDED", "late"]
    assert batcher.deliveries == 3
