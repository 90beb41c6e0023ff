"""A TensorFlow-style replica that checks TF_CONFIG from the inside, without TensorFlow.

Every replica binds its own address from the cluster spec (so ports must be free and distinct); the
parameter server then serves forever, as a real one does, and each worker connects to it, says hello and
exits 0. Any mismatch exits 3 with the reason on stderr.
"""

import json
import os
import socket
import sys
import time


def fail(reason):
    print(f"TF_CONFIG CHECK FAILED: {reason}", file=sys.stderr, flush=True)
    sys.exit(3)


def expect(condition, reason):
    if not condition:
        fail(reason)


def address(host_port):
    host, port = host_port.rsplit(":", 1)
    return host, int(port)


config = json.loads(os.environ.get("TF_CONFIG") or fail("TF_CONFIG is not set"))
expect(set(config) == {"cluster", "task", "environment"}, f"TF_CONFIG keys are {sorted(config)}")
expect(config["environment"] == "cloud", f"environment is {config['environment']!r}")
cluster, task = config["cluster"], config["task"]
expected_roles = json.loads(os.environ["EXPECT_CLUSTER"])  # e.g. {"worker": 2, "ps": 1}
expect({r: len(a) for r, a in cluster.items()} == expected_roles, f"cluster is {cluster}")
addresses = [a for addrs in cluster.values() for a in addrs]
expect(len(set(addresses)) == len(addresses), f"addresses repeat: {addresses}")
role, index = os.environ["SUBMARINE_ROLE"], int(os.environ["SUBMARINE_REPLICA_INDEX"])
expect(task == {"type": role, "index": index}, f"task {task} does not match {role}-{index}")
expect(os.environ["SUBMARINE_JOB_NAME"] == os.environ["EXPECT_JOB_NAME"], "SUBMARINE_JOB_NAME is wrong")
expect(os.environ.get("SUBMARINE_FRAMEWORK") == "tensorflow", "SUBMARINE_FRAMEWORK is wrong")
for unwanted in ("MASTER_ADDR", "WORLD_SIZE", "RANK"):
    expect(unwanted not in os.environ, f"{unwanted} is set in a TensorFlow job")

me = address(cluster[role][index])
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    server.bind(me)
except OSError as exc:
    fail(f"cannot bind my own address {me}: {exc}")
server.listen(8)
print(f"{role}-{index} listening on {me[0]}:{me[1]}", flush=True)

if role == "ps":
    while True:  # a parameter server never ends by itself: the runtime stops it after the job succeeds
        conn, _ = server.accept()
        with conn:
            print(f"ps-{index} got {conn.recv(100).decode()}", flush=True)
            conn.sendall(b"ok")

deadline = time.monotonic() + 60
for ps_address in cluster.get("ps", []):
    while True:
        try:
            with socket.create_connection(address(ps_address), timeout=5) as conn:
                conn.sendall(f"hello from {role}-{index}".encode())
                expect(conn.recv(10) == b"ok", "the parameter server did not answer")
            break
        except OSError:
            expect(time.monotonic() < deadline, f"cannot reach the parameter server at {ps_address}")
            time.sleep(0.1)
print(f"{role}-{index} TF_CONFIG OK", flush=True)
