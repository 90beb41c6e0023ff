"""Run a training script as `python SCRIPT ARGS...` would, then print the PyTorch threads still running.

A process group that `destroy_process_group` really closed has joined its gloo threads by then; one still
alive at interpreter exit can abort the replica ("terminate called without an active exception", exit 134)
after its work is done.
"""

import os
import runpy
import sys

script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
names = []
for task in os.listdir("/proc/self/task"):
    try:
        with open(f"/proc/self/task/{task}/comm") as comm:
            names.append(comm.read().strip())
    except OSError:
        pass  # ended meanwhile
left = sorted(name for name in names if name.startswith(("gloo", "pt_")))
print(f"threads left after {script}: {', '.join(left) or 'none'}", flush=True)
