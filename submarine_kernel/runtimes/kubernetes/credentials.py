"""Which credentials the runtime uses: a kubeconfig file and context, or the pod's service account
(`in_cluster`), and what they say without contacting the cluster (the namespace of a dry run). Credentials
are described in words (file, context, user, service account), never by their values."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import RuntimeFailure

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class Credentials:
    """Where the credentials come from, from the runtime's traits and the environment; `local_facts`
    reads what a check needs once (the form checks on every keystroke), `load` configures a client."""

    kubeconfig: str = ""
    context: str = ""
    in_cluster: str = "auto"  # auto | yes | no
    kubeconfig_env: str = ""  # $KUBECONFIG
    service_host: str = ""  # $KUBERNETES_SERVICE_HOST

    @classmethod
    def of(cls, kubeconfig: str, context: str, in_cluster: str) -> "Credentials":
        return cls(kubeconfig, context, in_cluster, os.environ.get("KUBECONFIG", ""),
                   os.environ.get("KUBERNETES_SERVICE_HOST", ""))

    @property
    def path(self) -> str:
        """The kubeconfig file(s): the trait, else $KUBECONFIG, else ~/.kube/config."""
        return os.path.expanduser(self.kubeconfig or self.kubeconfig_env or "~/.kube/config")

    def has_kubeconfig(self) -> bool:
        return any(os.path.exists(p) for p in self.path.split(os.pathsep) if p)

    def use_in_cluster(self) -> bool:
        if self.in_cluster != "auto":
            return self.in_cluster == "yes"
        return not self.has_kubeconfig() and bool(self.service_host)

    def local_facts(self) -> "LocalFacts":
        """What these credentials say without the cluster: whether any exist, and their namespace."""
        if self.use_in_cluster():
            return LocalFacts(True, True, read_text(SERVICE_ACCOUNT_DIR / "namespace"))
        has = self.has_kubeconfig()
        return LocalFacts(False, has, kubeconfig_namespace(self.path, self.context) if has else None)

    def load(self, configuration: Any) -> tuple[str | None, str]:
        """Fill the client's `configuration`; return (the context's namespace, the credentials in words)."""
        from kubernetes import config

        if self.use_in_cluster():
            try:
                config.load_incluster_config(client_configuration=configuration)
            except config.ConfigException as exc:
                raise RuntimeFailure(f"cannot use the in-cluster service account ({exc}): run inside a pod, or set "
                                     "KubernetesRuntime.kubeconfig") from None
            namespace = read_text(SERVICE_ACCOUNT_DIR / "namespace")
            return namespace, f"the in-cluster service account {service_account_name(namespace)}"
        path = self.path
        if not self.has_kubeconfig():
            raise RuntimeFailure(no_kubeconfig(path))
        try:
            contexts, current = config.list_kube_config_contexts(path)
            names = [c["name"] for c in contexts]
            context_name = self.context or (current or {}).get("name")
            if context_name not in names:
                raise RuntimeFailure(f"kubeconfig {path} has no context {context_name!r}: set "
                                     f"KubernetesRuntime.context to one of {', '.join(names) or '(none)'}")
            context = next(c for c in contexts if c["name"] == context_name).get("context") or {}
            config.load_kube_config(config_file=path, context=context_name,
                                    client_configuration=configuration, persist_config=False)
        except config.ConfigException as exc:
            raise RuntimeFailure(f"cannot use kubeconfig {path}: {exc}") from None
        return (context.get("namespace"),
                f"kubeconfig {path}, context {context_name!r}, user {context.get('user', '?')!r}")


@dataclass(frozen=True)
class LocalFacts:
    in_cluster: bool
    #: a kubeconfig file exists, or the pod's service account is used
    available: bool
    namespace: str | None


def no_kubeconfig(path: str) -> str:
    return f"no kubeconfig at {path}: set KubernetesRuntime.kubeconfig or $KUBECONFIG, or run inside a cluster"


def read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def service_account_name(namespace: str | None) -> str:
    """`system:serviceaccount:ns:name` from the token's claims (the token itself is never shown)."""
    token = read_text(SERVICE_ACCOUNT_DIR / "token") or ""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        if isinstance(claims.get("sub"), str):
            return repr(claims["sub"])
    except (IndexError, ValueError, AttributeError):
        pass
    return f"of namespace {namespace!r}" if namespace else "(unnamed)"


def kubeconfig_namespace(path: str, context: str) -> str | None:
    """The namespace of a kubeconfig context, read without the kubernetes package (for dry runs)."""
    import yaml

    for one in path.split(os.pathsep):
        try:
            with open(one) as f:
                data = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError):
            continue
        name = context or data.get("current-context")
        for entry in data.get("contexts") or []:
            if isinstance(entry, dict) and entry.get("name") == name:
                return (entry.get("context") or {}).get("namespace")
    return None
