"""The Runtime interface, the standard job states, and the registry of runtimes by name.

A runtime turns a validated JobSpec plus an uploaded Bundle into a running job, and reports on many jobs
at once. Built-in runtimes are imported only when first used; other packages add runtimes through the
`submarine_kernel.runtimes` entry point group (like papermill's engines).
"""

from __future__ import annotations

import importlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterator, Mapping, Sequence

from traitlets import Int
from traitlets.config import Configurable

from ..algorithm import Bundle
from ..errors import Problem, RuntimeNotFound, SubmarineError
from ..job_types import JobRef, JobStatus
from ..spec import JobSpec


@dataclass
class ListedJob:
    """A job as the runtime's own list shows it (`Runtime.list_jobs`): what its registry row needs."""

    ref: JobRef
    #: the spec the job was submitted with, secrets shown as `***` (a bare one for jobs that kept none)
    spec: JobSpec
    bundle_uri: str = ""
    notebook: str | None = None
    submitted: str | None = None  # ISO time, as JobStatus.submitted

    @staticmethod
    def spec_from(name: str, described: str | Mapping | None) -> JobSpec:
        """The spec a job keeps (`secrets.redacted_spec_json`, or its dict as a local job.json holds it); a
        bare one named `name` when it keeps none or an unreadable one (a job made before specs were kept)."""
        try:
            spec = JobSpec.from_dict(described if isinstance(described, Mapping) else json.loads(described or ""))
        except (ValueError, TypeError, KeyError, AttributeError, SubmarineError):
            return JobSpec(name=name, framework="custom", roles={})
        return spec if spec.name == name else spec.replace(name=name)


@dataclass
class Submission:
    """One job as a runtime would submit it (torchx's `AppDryRunInfo`): the runtime's own `request`, which
    `Runtime.start` sends, and its text for a dry run (secrets hidden, placeholders for settings not
    configured yet, which `missing` lists)."""

    spec: JobSpec
    bundle: Bundle
    bundle_uri: str
    request: object
    describe: Callable[[], str]  # called only for a dry run: the text costs more than the request
    missing: list[str] = field(default_factory=list)

    @property
    def dry_run_text(self) -> str:
        text = self.describe()
        if self.missing:
            text += "\n\n# a real submission still needs:\n" + "\n".join(f"#   - {m}" for m in self.missing)
        return text


class Runtime(Configurable):
    """Base class of every runtime. Subclasses set `name` and implement the abstract methods.

    Runtimes are traitlets Configurables, so `%config KubernetesRuntime.namespace = "ml"` and
    ipython_config.py configure them like the rest of IPython.
    """

    name: ClassVar[str] = ""

    max_replicas = Int(10000, min=1, help="Most replicas (workers, parameter servers, chief, evaluators) one job "
                       "may ask for; checked before anything is built, so a typo like --workers 10000000 is one "
                       "line, not a frozen kernel.").tag(config=True)

    def replica_limit_problem(self, count: int) -> str | None:
        """The line refusing `count` replicas when it is over `max_replicas`; None when it is fine."""
        if count <= self.max_replicas:
            return None
        return Problem(f"the job asks for {count} replicas, more than the {self.name} runtime allows "
                       f"({self.max_replicas}): ask for fewer, or raise {type(self).__name__}.max_replicas", "workers")

    def check(self, spec: JobSpec) -> list[str]:
        """Problems this runtime would refuse (name rules, resources it cannot give, and every
        `missing_settings` entry); [] when fine. Each is a `Problem` naming the field it is about."""
        return list(self.missing_settings(spec))

    def bundle_problems(self, bundle_uri: str) -> list[str]:
        """Why replicas could not fetch a bundle stored at `bundle_uri` (checked before the upload; a dry run
        lists them); [] when they can."""
        return []

    def missing_settings(self, spec: JobSpec) -> list[str]:
        """Settings a real submission of `spec` needs that are not configured yet (a cluster address, a DNS
        domain), as `Problem`s a dry run may ignore (`dry_run_ok`): it renders a visible placeholder for each
        and lists them instead of refusing."""
        return []

    def prepare(self, spec: JobSpec, bundle: Bundle, bundle_uri: str) -> "Submission":
        """What this runtime would send for `spec` (its own request: the replicas' processes, the service
        JSON, the job objects), built locally with no side effects and no cluster call: a dry run prints it
        (`Submission.dry_run_text`), `start` sends it. Subclasses build it with `submission`."""
        raise NotImplementedError

    def start(self, submission: "Submission") -> JobRef:
        """Send a prepared submission: start the job and return at once; the job runs in the background."""
        raise NotImplementedError

    def submit(self, spec: JobSpec, bundle: Bundle, bundle_uri: str) -> JobRef:
        """`prepare`, then `start`: one call for callers that need not see the request."""
        return self.start(self.prepare(spec, bundle, bundle_uri))

    def submission(self, spec: JobSpec, bundle: Bundle, bundle_uri: str, request: object,
                   describe: Callable[[], str]) -> "Submission":
        """A Submission of this runtime, with what a real one still needs (`missing_settings`, and
        `bundle_problems` for where the bundle would be stored) folded in for the dry run to list."""
        missing = self.missing_settings(spec) + (self.bundle_problems(bundle_uri) if bundle_uri else [])
        return Submission(spec, bundle, bundle_uri, request, describe, missing)

    def poll(self, refs: Sequence[JobRef]) -> dict[str, JobStatus]:
        """Status of many jobs in as few requests as possible, keyed by `JobRef.key`."""
        raise NotImplementedError

    #: seconds between two `usage` calls of the tracker for this runtime's jobs
    usage_interval = 2.0

    def usage(self, refs: Sequence[JobRef]) -> dict[str, dict]:
        """What the jobs' replicas use now (CPU %, memory, GPU: usage.py's form), keyed by `JobRef.key`, with
        the samples this runtime keeps itself; a job nothing is known of gets its one-line reason in `notes`.
        The tracker calls this every `usage_interval` while jobs run, and once when each ends."""
        from .. import usage

        return {ref.key: usage.empty(self.name, self.usage_interval,
                                     [f"no resource metrics: the {self.name} runtime does not report them"])
                for ref in refs}

    def kept_usage(self, key: str, source: str) -> dict:
        """The samples this runtime keeps of job `key` between `usage` calls (a cluster answers with the
        present only); those of jobs not asked about for an hour (ended, forgotten) are let go."""
        import time

        from .. import usage

        kept = self.__dict__.setdefault("_kept_usage", {})
        moment = time.monotonic()
        for stale in [k for k, (_, asked) in kept.items() if moment - asked > 3600]:
            del kept[stale]
        samples = kept[key][0] if key in kept else usage.empty(source, self.usage_interval)
        kept[key] = (samples, moment)
        return samples

    def find(self, spec: JobSpec, bundle_uri: str | None) -> JobRef | None:
        """Settle a submission whose answer never arrived (its submitter was killed, or every create answer
        was lost): the ref of the job this very submission made (matched by the spec's submission token),
        or None after deleting whatever it half-created. Raises NotImplementedError when the runtime cannot
        tell (the registry row is then kept, UNKNOWN); TransientError when the runtime cannot be reached."""
        raise NotImplementedError

    def list_jobs(self) -> list[ListedJob]:
        """Every job submarine-kernel made on this runtime that the runtime itself still lists (its job
        folders, the cluster's job objects or services), for rebuilding a registry that was lost
        (`submarine-kernel recover`). Raises NotImplementedError when the runtime keeps no such list."""
        raise NotImplementedError

    def logs(self, ref: JobRef, replica: str | None = None, tail: int | None = None,
             follow: bool = False) -> Iterator[str]:
        """Lines of one replica's log (the deciding replica when None); `follow` keeps reading until it ends."""
        raise NotImplementedError

    def stop(self, ref: JobRef) -> None:
        """Stop every replica of the job."""
        raise NotImplementedError

    def links(self, ref: JobRef) -> dict[str, str]:
        """Named URLs for the job (logs, cluster UI, TensorBoard)."""
        return {}

    # -- shared by the runtimes ---------------------------------------------------------------------------
    def fill_links(self, templates: Mapping[str, str], fields: Mapping[str, str], setting: str) -> dict[str, str]:
        """Named URLs from the link templates of `setting` (e.g. "link_templates"); a template using a field
        that does not exist is one line naming the setting and the fields it may use."""
        links = {}
        for label, template in templates.items():
            if not template:
                continue
            try:
                links[label] = template.format_map(dict(fields))
            except (KeyError, IndexError, ValueError) as exc:
                raise SubmarineError(f"{type(self).__name__}.{setting} {template!r} cannot be filled ({exc}): "
                                     f"use only {', '.join('{' + f + '}' for f in fields)}") from None
        return links

    def follow_log(self, ref: JobRef, read_new: Callable[[], list[str]], interval: float) -> Iterator[str]:
        """The lines `read_new` returns, read again every `interval` seconds until the job has ended: the
        state is read before each read, so every line written before the end is still yielded."""
        while True:
            ended = self.poll([ref])[ref.key].terminal
            yield from read_new()
            if ended:
                return
            time.sleep(interval)

    def remove(self, ref: JobRef) -> None:
        """Delete what a finished job left on the runtime (Zeppelin's CLEAN_RUNTIME_CACHE)."""

    def start_tensorboard(self, name: str, logdir: str) -> str:
        """Start a TensorBoard that reads `logdir`; return its URL."""
        raise SubmarineError(f"the {self.name} runtime cannot start TensorBoard: start it yourself on {logdir}")

    def stop_tensorboard(self, name: str) -> bool:
        """Stop the TensorBoard started under `name`; False when none was running."""
        return False

    def use_storage(self, root: str, options: Mapping[str, Any]) -> None:
        """The session's storage root and options (set when the runtime is made and after `%config`), for a
        runtime that reads the cluster's own files through them (YARN's stored service definitions)."""

    def close(self) -> None:
        """Release clients and threads."""


# -- registry ------------------------------------------------------------------------------------------
_BUILTIN = {
    "local": "submarine_kernel.runtimes.local:LocalRuntime",
    "kubernetes": "submarine_kernel.runtimes.kubernetes:KubernetesRuntime",
    "yarn": "submarine_kernel.runtimes.yarn:YarnRuntime",
}
_REGISTERED: dict[str, type[Runtime] | str] = dict(_BUILTIN)
_ENTRY_POINTS_LOADED = False
ENTRY_POINT_GROUP = "submarine_kernel.runtimes"


def register_runtime(name: str, runtime: type[Runtime] | str) -> None:
    """Register a Runtime class, or a lazy "module:Class" reference, under `name`."""
    _REGISTERED[name] = runtime


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        _REGISTERED.setdefault(ep.name, ep.value)


def runtime_names() -> list[str]:
    _load_entry_points()
    return sorted(_REGISTERED)


def runtime_class(name: str) -> type[Runtime]:
    """The Runtime class registered under `name`, imported on first use."""
    _load_entry_points()
    target = _REGISTERED.get(name)
    if target is None:
        raise RuntimeNotFound(f"unknown runtime {name!r}: use one of {', '.join(runtime_names())}")
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        try:
            target = getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:
            raise RuntimeNotFound(f"runtime {name!r} needs the package {exc.name!r}: "
                                  f"pip install 'submarine-kernel[{name}]'") from None
        _REGISTERED[name] = target
    return target
