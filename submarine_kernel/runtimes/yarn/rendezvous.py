"""Replicas that find each other without YARN Registry DNS: host names read from the Services API.

Many clusters do not run Registry DNS, so `<component>-<i>.<service>.<user>.<domain>` names resolve nowhere.
Without `YarnRuntime.registry_dns_domain`, a distributed job's addresses (TF_CONFIG, MASTER_ADDR) carry a
placeholder per component instance (`__peer_master-0__`), and every container runs a small Python program
before the user's command: it reads the service from the ResourceManager (`GET /app/v1/services/<name>`, which
lists each container's `ip` once the AM has its status, and its node as `bare_host`), waits until every instance it needs
is there, and prints `export` lines with the placeholders replaced. Replicas may share a host (no Docker
network), so each TensorFlow replica listens on its own port (`tf_port` + its position in TF_CONFIG).

The program is standard-library Python (the image runs Python training code anyway), shipped base64-encoded
inside the launch command so that YARN's double-quote wrapping and token substitution leave it alone.
"""

from __future__ import annotations

import base64
import re
from typing import Sequence

PLACEHOLDER = "__peer_{instance}__"
PLACEHOLDER_PATTERN = r"__peer_([a-z0-9-]+)__"
#: seconds a container waits for its peers' containers to appear in the service
WAIT_SECONDS = 600

_PROGRAM = r'''
import json, os, re, shlex, sys, time, urllib.parse, urllib.request
rms, user, service, wait = RMS, USER, SERVICE, WAIT
pattern = re.compile(PATTERN)
wanted = {k: v for k, v in os.environ.items() if pattern.search(v)}
needed = {name for v in wanted.values() for name in pattern.findall(v)}
hosts, last, deadline, patient = {}, "no answer yet", time.time() + wait, time.time() + wait / 2
while needed - set(hosts):
    if time.time() > deadline:
        sys.exit("submarine-kernel: gave up after %ds waiting for the containers of %s in the Services API (%s)"
                 % (wait, ", ".join(sorted(needed - set(hosts))), last))
    for rm in rms:
        url = "%s/app/v1/services/%s?%s" % (rm.rstrip("/"), urllib.parse.quote(service),
                                            urllib.parse.urlencode({"user.name": user}))
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                body = json.load(answer)
        except Exception as error:
            last = "%s: %s" % (rm, error)
            continue
        for component in body.get("components") or []:
            for container in component.get("containers") or []:
                # `ip` comes once the AM has the container's status; `bare_host` (the node) at once. Every
                # replica must see the same address, so the node is taken only when the IP is long late.
                host = container.get("ip") or (time.time() > patient and container.get("bare_host"))
                if host and container.get("component_instance_name"):
                    hosts[container["component_instance_name"]] = host
        last = "%s answered" % rm
        break
    if needed - set(hosts):
        time.sleep(2)
for key, value in wanted.items():
    print("export %s=%s" % (key, shlex.quote(pattern.sub(lambda m: hosts[m.group(1)], value))))
'''


def placeholder(instance: str) -> str:
    """The address placeholder of a component instance (`master-0`) that the program replaces."""
    return PLACEHOLDER.format(instance=instance)


def program(rm_urls: Sequence[str], user: str, service: str, wait: int = WAIT_SECONDS) -> str:
    """The container-side Python program for `service`, with its settings written in."""
    text = _PROGRAM
    for name, value in (("RMS", list(rm_urls)), ("USER", user), ("SERVICE", service), ("WAIT", int(wait)),
                        ("PATTERN", PLACEHOLDER_PATTERN)):
        text = re.sub(rf"\b{name}\b", lambda _: repr(value), text, count=1)
    return text


def shell_step(rm_urls: Sequence[str], user: str, service: str, wait: int = WAIT_SECONDS) -> str:
    """The launch-command step that runs the program and applies its exports (fails when it fails)."""
    encoded = base64.b64encode(program(rm_urls, user, service, wait).encode()).decode()
    python = "$(command -v python3 || command -v python)"
    return (f'SUBMARINE_PEERS="$(echo {encoded} | base64 -d | "{python}" -)" && eval "$SUBMARINE_PEERS"')

