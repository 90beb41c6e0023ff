"""Resources of one replica: both Hadoop Submarine syntaxes (`memory=8G,vcores=2,gpu=2` on the command line,
`cpu=2,memory=1024M,nvidia.com/gpu=1` on the Submarine server) read into one normalized form and written
back in either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from .errors import ResourceError

_MEMORY_UNITS_MIB = {
    "": 1, "m": 1, "mb": 1, "mi": 1, "mib": 1,
    "k": 1 / 1024, "kb": 1 / 1024, "ki": 1 / 1024, "kib": 1 / 1024,
    "g": 1024, "gb": 1024, "gi": 1024, "gib": 1024,
    "t": 1024 ** 2, "tb": 1024 ** 2, "ti": 1024 ** 2, "tib": 1024 ** 2,
}
_MEMORY_KEYS = ("memory", "mem", "memory-mb")
_CPU_KEYS = ("cpu", "cpus", "vcores", "vcore")
_GPU_KEYS = ("gpu", "gpus", "nvidia.com/gpu", "yarn.io/gpu")
# A vendor resource is a qualified name, as Kubernetes extended resources and YARN resource types are.
_VENDOR_KEY = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Resources:
    """Normalized resources of one replica: memory in MiB, cpus (may be fractional), gpus, named others."""

    memory_mib: int | None = None
    cpus: float | None = None
    gpus: int = 0
    other: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> "Resources":
        """Parse either Submarine syntax; raise ResourceError listing every bad item."""
        if text is None or not str(text).strip():
            return cls()
        memory = cpus = None
        gpus = 0
        other: dict[str, int] = {}
        problems: list[str] = []
        seen: dict[str, str] = {}  # normalized kind → the item that gave it
        for item in str(text).split(","):
            item = item.strip()
            if not item:
                continue
            key, sep, value = item.partition("=")
            key, value = key.strip().lower(), value.strip()
            if not sep or not value:
                problems.append(f"resource {item!r} has no value: write it as key=value, e.g. memory=4G")
                continue
            kind = next((k for k, names in (("memory", _MEMORY_KEYS), ("cpu", _CPU_KEYS), ("gpu", _GPU_KEYS))
                         if key in names), key)
            if kind in seen:
                problems.append(f"{kind} is given twice in {text!r} ({seen[kind]} and {key}={value}): keep one")
                continue
            seen[kind] = f"{key}={value}"
            if key in _MEMORY_KEYS:
                memory = _parse_memory(value, problems)
            elif key in _CPU_KEYS:
                cpus = _parse_cpus(key, value, problems)
            elif key in _GPU_KEYS:
                gpus = _parse_count(key, value, problems, allow_zero=True) or 0
            elif _VENDOR_KEY.match(key):
                count = _parse_count(key, value, problems, allow_zero=True)
                if count is not None:
                    other[key] = count
            else:
                problems.append(f"unknown resource key {key!r} in {text!r}: use memory, vcores (or cpu), gpu "
                                "(or nvidia.com/gpu), or a qualified name like example.com/fpga")
        if problems:
            raise ResourceError(problems)
        return cls(memory_mib=memory, cpus=cpus, gpus=gpus, other=dict(sorted(other.items())))

    def to_cli(self) -> str:
        """Submarine command-line syntax: `memory=8G,vcores=2,gpu=2`."""
        items = []
        if self.memory_mib is not None:
            items.append(f"memory={_format_memory(self.memory_mib)}")
        if self.cpus is not None:
            items.append(f"vcores={_format_cpus(self.cpus)}")
        if self.gpus:
            items.append(f"gpu={self.gpus}")
        items += [f"{k}={v}" for k, v in self.other.items()]
        return ",".join(items)

    def __str__(self) -> str:
        return self.to_cli() or "(defaults)"


def _parse_memory(value: str, problems: list[str]) -> int | None:
    if value.startswith("-"):
        problems.append(f"memory={value} is negative: ask for at least memory=1M")
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([A-Za-z]*)", value)
    unit = match.group(2).lower() if match else None
    if not match or unit not in _MEMORY_UNITS_MIB:
        problems.append(f"memory={value!r} has a bad unit: use a number with K, M, G or T (e.g. memory=4G)")
        return None
    mib = float(match.group(1)) * _MEMORY_UNITS_MIB[unit]
    if mib < 1:
        problems.append(f"memory={value} is under 1 MiB: ask for at least memory=1M")
        return None
    return int(round(mib))


def _parse_cpus(key: str, value: str, problems: list[str]) -> float | None:
    millis = re.fullmatch(r"(\d+)m", value)
    try:
        if not millis and not re.fullmatch(r"-?\d+(\.\d+)?", value):
            raise ValueError(value)  # float() would also take nan, inf and 1e3
        cpus = int(millis.group(1)) / 1000 if millis else float(value)
    except ValueError:
        problems.append(f"{key}={value!r} is not a number: write e.g. vcores=2 or cpu=500m")
        return None
    if cpus <= 0:
        problems.append(f"{key}={value} must be positive")
        return None
    return cpus


def _parse_count(key: str, value: str, problems: list[str], allow_zero: bool) -> int | None:
    if not re.fullmatch(r"-?\d+", value):
        problems.append(f"{key}={value!r} is not a whole number")
        return None
    count = int(value)
    if count < 0 or (count == 0 and not allow_zero):
        problems.append(f"{key}={value} must not be negative")
        return None
    return count


def _format_memory(mib: int) -> str:
    for unit, size in (("T", 1024 ** 2), ("G", 1024)):
        if mib % size == 0:
            return f"{mib // size}{unit}"
    return f"{mib}M"


def _format_cpus(cpus: float) -> str:
    return str(int(cpus)) if float(cpus).is_integer() else f"{int(round(cpus * 1000))}m"
