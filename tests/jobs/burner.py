"""A replica that uses resources on purpose: holds `--mb` MiB (touched, so it is resident) and keeps one core
busy for `--seconds`, then exits 0. The usage tests check the samples against these figures."""

import argparse
import time

parser = argparse.ArgumentParser()
parser.add_argument("--mb", type=int, default=64)
parser.add_argument("--seconds", type=float, default=8.0)
args = parser.parse_args()

held = bytearray(args.mb << 20)
for offset in range(0, len(held), 4096):  # touch every page: a bytearray's zeroed pages may not be resident yet
    held[offset] = 1
print(f"holding {args.mb} MiB, busy for {args.seconds:g} s", flush=True)
deadline = time.monotonic() + args.seconds
spins = 0
while time.monotonic() < deadline:
    spins += 1
print(f"done after {spins} spins; cpu_seconds={time.process_time():.3f}", flush=True)
