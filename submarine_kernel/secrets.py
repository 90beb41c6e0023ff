"""Keeping secrets out of outputs, logs, the registry and dry-run prints."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Iterable, Mapping
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


#: query parameters whose values are secrets (WebHDFS delegation tokens, RM and proxy tokens)
SECRET_QUERY_PARAMS = ("delegation", "token", "password", "doas_token", "signature")
_SECRET_QUERY = re.compile(r"(?i)([?&;](?:%s)=)[^&#\s'\"]*" % "|".join(SECRET_QUERY_PARAMS))
#: shorter values are not searched for in texts: replacing every "ab" would garble a message, not protect it
_MIN_LITERAL = 4


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` (an error message, a URL) with secret query values and the given secret values shown as `***`."""
    text = _SECRET_QUERY.sub(r"\1***", str(text))
    for secret in secrets:
        if secret and len(secret) >= _MIN_LITERAL:
            text = text.replace(secret, REDACTED)
    return text


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
