"""Keeping secrets out of outputs, logs, the registry and dry-run prints."""

from __future__ import annotations

import re
from typing import Any, Mapping
from urllib.parse import urlsplit

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
