"""What each run used: per replica CPU %, memory (RSS) and, where NVML answers, GPU use and GPU memory.

The data only, with no import beyond the standard library: the local supervisor (`python -S`, no site
packages) loads this very file by path (`runtimes/local/sampler.py`) so the bounding rule below is the one
rule for every runtime's samples.

A job's usage is one JSON-able dict:
    {"source": "local /proc", "interval": 2.0, "notes": ["no GPU metrics (NVML: ...)"],
     "replicas": {"worker-0": {"points": [[t, cpu, rss, gpu, gpu_mem], ...],
                               "peak": {"cpu": .., "rss": .., "gpu": .., "gpu_mem": ..}}}}
`t` is seconds since the epoch, `cpu` percent of one core (200 = two busy cores, as `top` shows it), `rss`
and `gpu_mem` bytes, `gpu` percent; a value a source cannot give is None. Peaks are kept apart from the
points, so thinning old points never lowers them. `notes` are the one-line reasons something is missing
("no GPU metrics (NVML: ...)", "no resource metrics: metrics.k8s.io is not served by this cluster").
"""

from __future__ import annotations

T, CPU, RSS, GPU, GPU_MEM = range(5)
PEAK_FIELDS = {"cpu": CPU, "rss": RSS, "gpu": GPU, "gpu_mem": GPU_MEM}
#: the local sampler's period: two /proc scans a second would cost more than they tell
SAMPLE_SECONDS = 2.0
#: points kept per replica (a 2 s sampler fills 120 in 4 minutes; older ones are then thinned)...
MAX_POINTS = 120
#: ...and per job, so a 256-replica job's usage stays a few hundred KiB
MAX_JOB_POINTS = 4000
MIN_POINTS = 16
SPARK = "▁▂▃▄▅▆▇█"


def empty(source: str, interval: float, notes: list[str] | None = None) -> dict:
    return {"source": source, "interval": interval, "notes": list(notes or []), "replicas": {}}


def points_budget(replicas: int) -> int:
    """Points one replica keeps when a job has `replicas` of them."""
    return max(MIN_POINTS, min(MAX_POINTS, MAX_JOB_POINTS // max(1, replicas)))


def add_point(usage: dict, replica: str, point: list, budget: int = MAX_POINTS) -> None:
    """Append one sample of `replica`, raise its peaks, and thin its oldest points past `budget`."""
    entry = usage["replicas"].setdefault(replica, {"points": [], "peak": {}})
    for name, index in PEAK_FIELDS.items():
        value = point[index]
        if value is not None and (entry["peak"].get(name) is None or value > entry["peak"][name]):
            entry["peak"][name] = value
    points = entry["points"]
    if points and points[-1][T] == point[T]:
        points[-1] = point  # the same instant read twice (a cluster answering an unchanged value)
    else:
        points.append(point)
    if len(points) > budget:
        entry["points"] = thinned(points, budget)


def raise_peaks(usage: dict, replica: str, **peaks) -> None:
    """Raise `replica`'s peaks to values a source reports apart from its points (a container's lifetime max)."""
    entry = usage["replicas"].setdefault(replica, {"points": [], "peak": {}})
    for name, value in peaks.items():
        if value is not None and (entry["peak"].get(name) is None or value > entry["peak"][name]):
            entry["peak"][name] = value


def thinned(points: list, budget: int) -> list:
    """The oldest half of `points` merged in pairs (CPU and GPU use averaged, memory the larger), the newest
    kept as they are: recent minutes stay sharp, the whole run still shows, and the length stays bounded."""
    cut = (len(points) - budget // 2) & ~1  # an even count of old points, merged in pairs
    old, recent = points[:cut], points[cut:]
    merged = []
    for a, b in zip(old[::2], old[1::2]):
        merged.append([a[T], _mean(a[CPU], b[CPU]), _larger(a[RSS], b[RSS]), _mean(a[GPU], b[GPU]),
                       _larger(a[GPU_MEM], b[GPU_MEM])])
    out = merged + recent
    return out if len(out) <= budget else thinned(out, budget)


def _mean(a, b):
    return b if a is None else a if b is None else (a + b) / 2


def _larger(a, b):
    return b if a is None else a if b is None else max(a, b)


def job_peaks(usage: dict | None) -> dict:
    """The largest CPU %, RSS, GPU % and GPU memory of any one replica of the job (None where unknown)."""
    peaks: dict = {name: None for name in PEAK_FIELDS}
    for entry in (usage or {}).get("replicas", {}).values():
        for name in PEAK_FIELDS:
            value = entry.get("peak", {}).get(name)
            if value is not None and (peaks[name] is None or value > peaks[name]):
                peaks[name] = value
    return peaks


def summary(usage: dict | None) -> dict:
    """What the history keeps apart from the points: peaks, notes and the source (a small row)."""
    usage = usage or {}
    return {"peaks": job_peaks(usage), "notes": list(usage.get("notes", [])), "source": usage.get("source", "")}


def size_text(value: float | None) -> str:
    """Bytes as `612 MiB`, `1.2 GiB`."""
    if value is None:
        return "?"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= scale:
            shown = value / scale
            return f"{shown:.1f} {unit}" if shown < 10 else f"{shown:.0f} {unit}"
    return f"{value:.0f} B"


def percent_text(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f} %"


def peaks_text(summary_or_usage: dict | None) -> str:
    """`peak CPU 187 % · peak mem 612 MiB · GPU 45 % / 3.1 GiB`, or the notes when nothing was measured:
    the history's compact column and the summary line of a finished job."""
    data = summary_or_usage or {}
    peaks = data["peaks"] if "peaks" in data else job_peaks(data)
    notes = data.get("notes", [])
    if peaks["cpu"] is None and peaks["rss"] is None and peaks["gpu"] is None and peaks["gpu_mem"] is None:
        return "; ".join(notes) if notes else ""
    parts = [f"peak CPU {percent_text(peaks['cpu'])}", f"peak mem {size_text(peaks['rss'])}"]
    if peaks["gpu"] is not None or peaks["gpu_mem"] is not None:
        parts.append(f"GPU {percent_text(peaks['gpu'])} / {size_text(peaks['gpu_mem'])}")
    else:
        parts.append("GPU -")
    return " · ".join(parts)


def sparkline(values: list, width: int = 40, top: float | None = None) -> str:
    """`▁▃▇█▅`: the last `width` values scaled to `top` (default: their largest); unknown values as spaces."""
    values = list(values)[-width:]
    known = [v for v in values if v is not None]
    top = top if top else (max(known) if known else 0)
    if not top:
        return "".join(" " if v is None else SPARK[0] for v in values)
    return "".join(" " if v is None else SPARK[min(len(SPARK) - 1, int(v / top * (len(SPARK) - 1) + 0.5))]
                   for v in values)


def replica_lines(usage: dict | None, width: int = 40) -> list[tuple[str, str, str, str]]:
    """(replica, CPU sparkline + last, memory sparkline + last, GPU text) per replica, for the live view."""
    rows = []
    for name, entry in sorted((usage or {}).get("replicas", {}).items()):
        points = entry.get("points", [])
        if not points:
            continue
        last = points[-1]
        cpu = f"{sparkline([p[CPU] for p in points], width)} {percent_text(last[CPU])}"
        mem = f"{sparkline([p[RSS] for p in points], width)} {size_text(last[RSS])}"
        if last[GPU] is None and last[GPU_MEM] is None:
            gpu = "-"
        else:
            gpu = (f"{sparkline([p[GPU] for p in points], width, 100)} {percent_text(last[GPU])} / "
                   f"{size_text(last[GPU_MEM])}")
        rows.append((name, cpu, mem, gpu))
    return rows
