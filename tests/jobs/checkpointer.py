"""A replica that traps SIGTERM to save a checkpoint (SUBMARINE_PARAM_SAVE_SECONDS to write it, 0.5 by
default) and then exits 0; with SUBMARINE_PARAM_IGNORE_TERM it ignores SIGTERM altogether."""

import os
import signal
import sys
import time

save = float(os.environ.get("SUBMARINE_PARAM_SAVE_SECONDS", "0.5"))


def on_term(signum, frame):
    print("got SIGTERM, saving a checkpoint", flush=True)
    time.sleep(save)
    print("checkpoint saved", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, signal.SIG_IGN if os.environ.get("SUBMARINE_PARAM_IGNORE_TERM") else on_term)
print(f"training in pid {os.getpid()}", flush=True)
while True:
    time.sleep(0.05)
