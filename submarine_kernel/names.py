"""Job names: the rules runtimes enforce, and Zeppelin's `<user>-<notebook>` default made unique per run."""

from __future__ import annotations

import os
import re
import secrets
import time
from typing import Iterable

from .errors import Problem

DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1035_MAX = 63


def dns1035_problems(name: str, what: str = "job name", max_length: int = DNS1035_MAX) -> list[str]:
    """Problems of `name` as a DNS-1035 label (Kubernetes objects; YARN service names follow the same rule)."""
    problems = []
    if len(name) > max_length:
        problems.append(Problem(f"{what} {name!r} is {len(name)} characters long: keep it to {max_length}", "name"))
    if not DNS1035.match(name):
        problems.append(Problem(f"{what} {name!r} is not a DNS-1035 label: use lower-case letters, digits and '-', "
                                "starting with a letter and not ending with '-'", "name"))
    return problems


def job_name_problems(name: str) -> list[Problem]:
    """The one job name rule, on every runtime: a DNS-1035 label, as Kubernetes objects, YARN services and
    their replicas' host names need it, so a name that runs locally runs on a cluster too."""
    return dns1035_problems(name)


def host_name_problems(name: str, hosts: Iterable[str]) -> list[Problem]:
    """The job name too long for the host names its replicas get (`<name>-worker-0-3.<name>.<ns>.svc`): each
    host's first label is a DNS label of at most 63 characters."""
    longest = max((host.split(".", 1)[0] for host in hosts), key=len, default=name)
    if len(longest) <= DNS1035_MAX:
        return []
    return [Problem(f"job name {name!r} is {len(name)} characters long: keep it to "
                    f"{DNS1035_MAX - (len(longest) - len(name))} (its replicas' host names, like {longest!r}, "
                    f"are DNS labels of at most {DNS1035_MAX})", "name")]


def sanitize(text: str, max_length: int = 40) -> str:
    """Lower-case DNS-1035 form of any text (`Jane.Doe/My Notebook.ipynb` → `jane-doe-my-notebook`)."""
    text = re.sub(r"\.ipynb$", "", text.strip().lower())
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    if not text or not text[0].isalpha():
        text = "job-" + text
    return text[:max_length].rstrip("-")


def login_name() -> str:
    """Who runs this process (getpass: LOGNAME, USER, the passwd entry), "user" in a container without one:
    the default user of job names, labels and the cluster clients."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "user"


def hadoop_user() -> str:
    """The user Hadoop clients (YARN, WebHDFS) act as without Kerberos: HADOOP_USER_NAME, as Hadoop's own
    clients read it, else the login name."""
    return os.environ.get("HADOOP_USER_NAME") or login_name()


def notebook_stem(notebook: str) -> str:
    """`/home/jane/work/Train Model.ipynb` → `Train Model.ipynb`: paths (absolute under nbconvert, papermill
    and headless runs) would otherwise fill names and labels with folders."""
    return notebook.rstrip("/").replace("\\", "/").rsplit("/", 1)[-1]


def notebook_label(notebook: str) -> str:
    """The notebook as a label value (`train-model`)."""
    return sanitize(notebook_stem(notebook), DNS1035_MAX)


def default_job_name(user: str, notebook: str | None = None) -> str:
    """`<user>-<notebook>` as Zeppelin named jobs, plus a short unique suffix so every run is its own job."""
    base = sanitize(f"{user}-{notebook_stem(notebook)}" if notebook else user, max_length=48)
    return unique_name(base)


def unique_name(base: str) -> str:
    suffix = f"{int(time.time()) % 100000:05d}{secrets.token_hex(2)}"
    return f"{base[:DNS1035_MAX - len(suffix) - 1].rstrip('-')}-{suffix}"
