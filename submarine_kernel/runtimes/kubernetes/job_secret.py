"""The Secret of one job: env values and params whose names look secret (`secrets.is_secret_key`) go into a
Secret `<job>-secrets` owned by the job, referenced with `valueFrom.secretKeyRef`; a secret param on the command
line is written as `"${SUBMARINE_PARAM_<NAME>}"` for the pod's shell to expand. Dry runs show it with `***`
values (`JobPlan.objects`)."""

from __future__ import annotations

from typing import Any, Mapping

from ...secrets import is_secret_key
from ...spec import JobSpec
from .labels import COMPONENT_LABEL, secret_name
from .volumes import CONFIGMAP_KEY_BAD


class JobSecrets:
    """Secret-looking env values and params of one job, kept out of the job, its command and its ConfigMap.

    Env entries whose name looks secret (AWS_SECRET_ACCESS_KEY, HF_TOKEN, SUBMARINE_PARAM_API_KEY...) become
    `valueFrom.secretKeyRef`s into one Secret owned by the job; a secret param on the command line becomes a
    reference to its SUBMARINE_PARAM_* variable, which the shell expands in the pod.
    """

    def __init__(self, spec: JobSpec):
        self.name = secret_name(spec.name)
        self.params = {k for k in spec.params if is_secret_key(k)}
        self.data: dict[str, str] = {}
        values: dict[str, dict[str, str]] = {}  # var → role → value
        for role in spec.roles:
            for key, value in spec.role_env(role).items():
                if is_secret_key(key):
                    values.setdefault(key, {})[role] = str(value)
        self._keys: dict[tuple[str, str], str] = {}  # (role, var) → key in the Secret
        for var, by_role in values.items():
            shared = len(set(by_role.values())) == 1
            for role, value in by_role.items():
                key = CONFIGMAP_KEY_BAD.sub("_", var if shared else f"{role}.{var}")
                self._keys[(role, var)] = key
                self.data[key] = value
        masked = {k: (f"__SUBMARINE_SECRET_PARAM_{k.upper()}__" if k in self.params else v)
                  for k, v in spec.params.items()}
        self._masked = spec.replace(params=masked)

    def ref(self, role: str, var: str) -> dict[str, Any] | None:
        key = self._keys.get((role, var))
        return {"secretKeyRef": {"name": self.name, "key": key}} if key else None

    def env(self, role: str, env: Mapping[str, Any]) -> dict[str, Any]:
        """`env` with secret values replaced by references to the Secret."""
        return {k: (self.ref(role, k) or v) if isinstance(v, str) else v for k, v in env.items()}

    def command(self, spec: JobSpec, role: str) -> str:
        """The role's launch command with each secret param read from its variable in the pod."""
        command = self._masked.launch_command(role)
        for name in self.params:
            command = command.replace(f"__SUBMARINE_SECRET_PARAM_{name.upper()}__",
                                      f'"${{SUBMARINE_PARAM_{name.upper()}}}"')
        return command

    def manifest(self, namespace: str, labels: Mapping[str, str]) -> dict[str, Any] | None:
        if not self.data:
            return None
        return {"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": self.name, "namespace": namespace,
                             "labels": {**labels, COMPONENT_LABEL: "secrets"}},
                "type": "Opaque", "immutable": True, "stringData": dict(sorted(self.data.items()))}
