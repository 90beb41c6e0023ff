"""A replica that starts a grandchild in its process group, records both pids, then sleeps.

`SUBMARINE_PARAM_OUT` names a folder for `<role>-<index>.pids`; `SUBMARINE_PARAM_GO`, when set, names a folder
where a file `<role>-<index>` or `all` makes the replica exit with the code in that file (0 when empty). A replica
that exits with a non-zero code leaves its child running, as a crashing program does: the runtime must end it.
"""

import os
import subprocess
import sys
import time

name = f"{os.environ['SUBMARINE_ROLE']}-{os.environ['SUBMARINE_REPLICA_INDEX']}"
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
out = os.environ.get("SUBMARINE_PARAM_OUT")
if out:
    with open(os.path.join(out, f"{name}.pids.tmp"), "w") as f:
        f.write(f"{os.getpid()} {child.pid}")
    os.replace(os.path.join(out, f"{name}.pids.tmp"), os.path.join(out, f"{name}.pids"))
print(f"{name} sleeping", flush=True)
go = os.environ.get("SUBMARINE_PARAM_GO")
while True:
    for signal_file in ((os.path.join(go, name), os.path.join(go, "all")) if go else ()):
        if os.path.exists(signal_file):
            code = int(open(signal_file).read().strip() or 0)
            if code == 0:
                child.kill()
            print(f"{name} done with {code}", flush=True)
            sys.exit(code)
    time.sleep(0.05)
