"""A PyTorch-style replica that checks the environment contract and the localized files from the inside.

It exits 3 with the reason on stderr when something is wrong, and also writes what it saw to
`$SUBMARINE_PARAM_OUT/<role>-<index>.json` so the test can look from the outside too.
"""

import json
import os
import sys

problems = []


def expect(condition, reason):
    if not condition:
        problems.append(reason)


env = os.environ
role, index = env["SUBMARINE_ROLE"], int(env["SUBMARINE_REPLICA_INDEX"])
world = int(env["EXPECT_WORLD_SIZE"])
expect(env.get("MASTER_ADDR") == "127.0.0.1", f"MASTER_ADDR={env.get('MASTER_ADDR')}")
expect(env.get("MASTER_PORT", "").isdigit() and 0 < int(env["MASTER_PORT"]) < 65536, "MASTER_PORT is not a port")
expect(env.get("WORLD_SIZE") == str(world), f"WORLD_SIZE={env.get('WORLD_SIZE')}")
expected_rank = 0 if role == "master" else index + 1
expect(env.get("RANK") == str(expected_rank), f"RANK={env.get('RANK')} for {role}-{index}")
expect(env.get("LOCAL_RANK") == "0", f"LOCAL_RANK={env.get('LOCAL_RANK')}")
expect(env.get("PYTHONUNBUFFERED") == "1", "PYTHONUNBUFFERED is not 1")
expect("TF_CONFIG" not in env, "TF_CONFIG is set in a PyTorch job")
expect(env.get("SUBMARINE_JOB_NAME") == env["EXPECT_JOB_NAME"], "SUBMARINE_JOB_NAME is wrong")
expect(env.get("SUBMARINE_FRAMEWORK") == "pytorch", "SUBMARINE_FRAMEWORK is wrong")
expect(role in ("master", "worker"), f"SUBMARINE_ROLE={role}")
expect(env.get("SUBMARINE_INPUT_PATH") == env["EXPECT_INPUT_PATH"], "SUBMARINE_INPUT_PATH is wrong")
expect(env.get("SUBMARINE_CHECKPOINT_PATH") == env["EXPECT_CHECKPOINT_PATH"], "SUBMARINE_CHECKPOINT_PATH is wrong")
expect(env.get("SUBMARINE_PARAM_EPOCHS") == "3", f"SUBMARINE_PARAM_EPOCHS={env.get('SUBMARINE_PARAM_EPOCHS')}")

# the bundle: in ./submarine_algorithm (on PYTHONPATH) and in the working directory
algorithm_dir = os.path.abspath("submarine_algorithm")
expect(env.get("PYTHONPATH", "").split(os.pathsep)[0] == algorithm_dir, f"PYTHONPATH={env.get('PYTHONPATH')}")
for name in ("env_check.py", "utils/data.py", "params.json"):
    expect(os.path.isfile(name), f"{name} is not in the working directory")
    expect(os.path.isfile(os.path.join(algorithm_dir, name)), f"{name} is not in submarine_algorithm/")
params = json.load(open("params.json"))
expect(params.get("epochs") == 3, f"params.json is {params}")
# import the nested helper through PYTHONPATH alone, not through the script's own folder
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.getcwd()]
import utils.data  # noqa: E402

expect(os.path.dirname(os.path.dirname(os.path.abspath(utils.data.__file__))) == algorithm_dir,
       f"utils.data came from {utils.data.__file__}")
expect(utils.data.VALUE == 42, "utils.data.VALUE is wrong")
expect("--epochs" in sys.argv and sys.argv[sys.argv.index("--epochs") + 1] == "3", f"argv={sys.argv}")

seen = {k: v for k, v in env.items() if k.startswith(("SUBMARINE_", "MASTER_", "WORLD_SIZE", "RANK", "LOCAL_RANK",
                                                       "PYTHONUNBUFFERED", "CUDA_VISIBLE_DEVICES"))}
with open(os.path.join(env["SUBMARINE_PARAM_OUT"], f"{role}-{index}.json"), "w") as f:
    json.dump({"env": seen, "cwd": os.getcwd(), "problems": problems}, f)
if problems:
    print("ENV CHECK FAILED: " + "; ".join(problems), file=sys.stderr, flush=True)
    sys.exit(3)
print(f"{role}-{index} env OK", flush=True)
