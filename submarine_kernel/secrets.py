"""Keeping secrets out of outputs, logs, the registry and dry-run prints."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from .spec import JobSpec

REDACTED = "***"
_SECRET_KEY = re.compile(r"(secret|token|passw(or)?d|credential|api[-_]?key|access[-_]?key|private[-_]?key|"
                         r"session[-_]?key|auth|signature)", re.IGNORECASE)


def is_secret_key(key: str) -> bool:
    """Whether a variable or option name looks like it holds a secret (AWS_SECRET_ACCESS_KEY, HF_TOKEN...)."""
    return bool(_SECRET_KEY.search(str(key)))


def redact_mapping(values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy with the values of secret-looking keys replaced, recursively."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if is_secret_key(key):
            out[key] = REDACTED
        elif isinstance(value, Mapping):
            out[key] = redact_mapping(value)
        else:
            out[key] = value
    return out


def redact_url(url: str) -> str:
    """A URL without user info (`s3://KEY:SECRET@bucket` → `s3://***@bucket`)."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        return url.replace(parts.netloc, "***@" + parts.hostname + (f":{parts.port}" if parts.port else ""), 1)
    return url


def redacted_spec_json(spec: "JobSpec") -> str:
    """The spec as compact JSON with secret env values and params shown as `***`: what the registry, a local
    job's job.json and a cluster job's own description (annotation, service property) keep, so that a
    rebuilt row shows the job."""
    data = spec.to_dict()
    data["env"] = redact_mapping(data["env"])
    data["params"] = redact_mapping(data["params"])
    data["param_values"] = redact_mapping(data.get("param_values") or {})
    for role in data["roles"].values():
        role["env"] = redact_mapping(role["env"])
    return json.dumps(data, default=str, sort_keys=True, separators=(",", ":"))
