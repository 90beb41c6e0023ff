"""The flow of one job, shared by the magics, the Python API and the command line.

cells ─collect─▶ Bundle ─Storage.put─▶ bundle URI ─┐
run args + config + params ─────────▶ JobSpec ────┴─▶ Runtime.submit ─▶ JobRef ─▶ Tracker + Registry

Every problem (spec, runtime rules) is found before anything is uploaded or started.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Iterator, Mapping

from .algorithm import AlgorithmCollector, Bundle
from .config import SubmarineConfig
from .errors import SubmarineError, TransientError, ValidationError
from .names import default_job_name, notebook_label, sanitize
from .registry import JobRecord, Registry
from .retry import DEFAULT_POLICY
from .runtimes.base import JobRef, JobState, JobStatus, Runtime, runtime_class, utcnow
from .spec import JobSpec, draft_spec
from .storage import Storage, UploadResult
from .tracker import Tracker

LABEL_PREFIX = "submarine-kernel"
#: one token per `submit`, carried by the job on the cluster: a retried create that meets a job of the same
#: name with the same token adopts it ("already submitted"); another token means the name is taken
SUBMISSION_LABEL = f"{LABEL_PREFIX}/submission"


class Job:
    """A submitted job: ask its status, wait for it, read its logs, stop it."""

    def __init__(self, session: "Session", ref: JobRef, spec: JobSpec | None = None,
                 upload: UploadResult | None = None):
        self.session = session
        self.ref = ref
        self.spec = spec
        self.upload = upload

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def runtime(self) -> Runtime:
        return self.session.runtime(self.ref.runtime)

    def status(self) -> JobStatus:
        """The job's status now (one poll of its runtime)."""
        return self.runtime.poll([self.ref])[self.ref.key]

    def wait(self, timeout: float | None = None, interval: float | None = None) -> JobStatus:
        """Block until the job ends (or `timeout` seconds pass) and return its last status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = interval or getattr(self.runtime, "poll_interval", self.session.settings.poll_interval)
        failures = 0
        status = None
        while True:
            try:
                status = self.status()
                failures = 0
            except TransientError as exc:  # keep waiting through a blip; give up only when it lasts
                failures += 1
                if failures >= DEFAULT_POLICY.attempts:
                    raise
                self.session.notify(f"{self.name}: {exc}; retrying {failures + 1}/{DEFAULT_POLICY.attempts}")
                time.sleep(DEFAULT_POLICY.delay(failures))
                continue
            if status.terminal or (deadline is not None and time.monotonic() >= deadline):
                return status
            time.sleep(interval)

    def logs(self, replica: str | None = None, tail: int | None = None) -> str:
        """One replica's log so far (the deciding replica by default)."""
        return "\n".join(self.runtime.logs(self.ref, replica=replica, tail=tail))

    def follow(self, replica: str | None = None, tail: int | None = None) -> Iterator[str]:
        """Lines of one replica's log as they come, until the job ends."""
        return self.runtime.logs(self.ref, replica=replica, tail=tail, follow=True)

    def stop(self) -> JobStatus:
        """Stop every replica; returns the status afterwards."""
        self.runtime.stop(self.ref)
        status = self.status()
        # let the tracker publish the change (registry, listeners); handing it `status` as already known
        # would make it see no change, and the registry would keep the job RUNNING
        self.session.tracker.track(self.ref)
        return status

    def links(self) -> dict[str, str]:
        return self.runtime.links(self.ref)

    def __repr__(self) -> str:
        return f"<Job {self.ref.key}>"


class Session:
    """Configuration, the cell collector, storage, runtimes, tracker and registry of one process."""

    def __init__(self, config=None, notebook: str | None = None, registry: Registry | None = None,
                 settings: SubmarineConfig | None = None):
        from traitlets.config import Config

        self.config = Config(config) if config is not None else Config()
        # the magics pass themselves here: SubmarineMagics is a SubmarineConfig, so %config reaches it at once
        self.settings = settings if settings is not None else SubmarineConfig(config=self.config)
        self.notebook = notebook
        self.collector = AlgorithmCollector(notebook)
        self.params: dict = {}  # name → params.ParamDecl declared with `%submarine param`; forms show them
        self.registry = registry or Registry()
        self._runtimes: dict[str, Runtime] = {}
        self._runtimes_lock = threading.Lock()
        self.tracker = Tracker(self.runtime, self.registry, interval=self.settings.poll_interval)
        self.notify = _log_notice  # the magics print these; "retrying 2/5" and the like

    # -- parts -------------------------------------------------------------------------------------
    def runtime(self, name: str | None = None) -> Runtime:
        """The configured runtime called `name` (the default runtime when None), created once."""
        name = name or self.settings.runtime
        with self._runtimes_lock:
            if name not in self._runtimes:
                self._runtimes[name] = runtime_class(name)(config=self.config)
            return self._runtimes[name]

    def storage(self, root: str | None = None) -> Storage:
        storage = Storage(root or self.settings.storage_root, self.settings.storage_options,
                          progress=self.settings.progress)
        storage.on_retry = self.notify
        return storage

    def reconfigure(self, config) -> None:
        """Merge a changed traitlets config (after `%config`) into the runtimes, live and future."""
        self.config.merge(config)
        with self._runtimes_lock:
            for runtime in self._runtimes.values():
                runtime.update_config(config)

    # -- the flow ----------------------------------------------------------------------------------
    def default_name(self) -> str:
        return default_job_name(self.settings.user, self.notebook)

    def build(self, command: str | None = None, *, runtime: str | None = None, name: str | None = None,
              framework: str | None = None, labels: Mapping[str, str] | None = None, dry_run: bool = False,
              **options: Any) -> JobSpec:
        """A JobSpec from run options and session defaults, checked against the spec rules and the
        runtime's own; one ValidationError lists every problem. For a `dry_run`, settings the runtime still
        needs (`Runtime.missing_settings`) are not problems: the dry run shows placeholders and lists them."""
        base_labels = {f"{LABEL_PREFIX}/user": sanitize(self.settings.user, 63),
                       f"{LABEL_PREFIX}/job": "placeholder"}
        if self.notebook:
            base_labels[f"{LABEL_PREFIX}/notebook"] = notebook_label(self.notebook)
        self._check_replica_counts(self.runtime(runtime), options)
        name = name or self.default_name()
        base_labels[f"{LABEL_PREFIX}/job"] = name[:63]
        spec, problems = draft_spec(name, framework=framework or self.settings.framework, command=command,
                                    image=options.pop("image", None) or self.settings.image or None,
                                    labels={**base_labels, **dict(labels or {})}, **options)
        spec, param_problems = self._typed_params(spec)
        problems += [p for p in param_problems if p not in problems]
        if spec.roles:
            problems += [p for p in self._runtime_problems(spec, self.runtime(runtime), dry_run)
                         if p not in problems]
        if problems:
            raise ValidationError(problems)
        return spec

    @staticmethod
    def _runtime_problems(spec: JobSpec, runtime: Runtime, dry_run: bool) -> list[str]:
        problems = runtime.check(spec)
        if dry_run:
            missing = set(runtime.missing_settings(spec))
            problems = [p for p in problems if p not in missing]
        return problems

    @staticmethod
    def _check_replica_counts(rt: Runtime, options: Mapping[str, Any]) -> None:
        """Refuse counts over the runtime's limit before anything is built (a huge count froze the kernel)."""
        counts = [options.get(key) for key in ("workers", "ps", "evaluator")]
        total = sum(c for c in counts if isinstance(c, int) and not isinstance(c, bool) and c > 0)
        problem = rt.replica_limit_problem(total)
        if problem:
            raise ValidationError(problem)

    def param_decls(self) -> dict:
        """Every declared param: the saved notebook's `parameters` cell, then `%submarine param` (which wins)."""
        from .params import merge, notebook_parameters

        return merge(notebook_parameters(self.notebook), self.params)

    def _typed_params(self, spec: JobSpec) -> tuple[JobSpec, list[str]]:
        """Declared params checked (kind, choices, bounds) and converted for params.json, on every path:
        magics, API, form, sweeps and headless runs all build here."""
        from .params import check_values

        typed, problems = check_values(spec.params, self.param_decls())
        return spec.replace(param_values=typed), problems

    def bundle(self, files: Mapping[str, str | bytes] | None = None, notebook: str | None = None) -> Bundle:
        """The algorithm files: given files, a saved notebook's cells, or the cells collected so far."""
        if files is not None:
            from .algorithm import validate_title

            return Bundle({validate_title(k): v.encode() if isinstance(v, str) else bytes(v)
                           for k, v in files.items()}, notebook=self.notebook)
        if notebook is not None:
            from .algorithm import collect_notebook

            return collect_notebook(notebook)
        from .algorithm import notebook_order

        return self.collector.bundle(saved=notebook_order(self.notebook))  # the saved notebook's order

    def check(self, spec: JobSpec, runtime: Runtime, dry_run: bool = False) -> None:
        """Raise one ValidationError with every problem of the spec and of the runtime's rules."""
        limit = runtime.replica_limit_problem(spec.replica_count)
        if limit:  # before the runtime's own checks, which may look at every replica
            raise ValidationError(limit)
        own = spec.problems()
        problems = own + [p for p in self._runtime_problems(spec, runtime, dry_run) if p not in own]
        if problems:
            raise ValidationError(problems)

    def dry_run(self, spec: JobSpec, bundle: Bundle, runtime: str | None = None) -> str:
        """What the runtime would receive; nothing is uploaded or submitted. Settings a real submission still
        needs are shown as placeholders in the output and listed at its end."""
        rt = self.runtime(runtime)
        self.check(spec, rt, dry_run=True)
        bundle = bundle.with_params(spec.params_file())
        uri = self.storage().uri_for(bundle) if bundle.files else ""
        text = rt.render(spec, bundle, uri)
        missing = rt.missing_settings(spec) + (rt.bundle_problems(uri) if uri else [])
        if missing:
            text += "\n\n# a real submission still needs:\n" + "\n".join(f"#   - {m}" for m in missing)
        return text

    def submit(self, spec: JobSpec, bundle: Bundle, runtime: str | None = None) -> Job:
        """Validate, upload the bundle (unless already there), submit, record and track."""
        rt = self.runtime(runtime)
        self.check(spec, rt)
        bundle = bundle.with_params(spec.params_file())
        upload = self._upload(bundle, rt)
        # Runtimes make a retried create idempotent: a conflict on our own name with our own token means
        # "already submitted" (the response of an earlier attempt was lost), another token "name taken".
        import uuid

        spec = spec.replace(labels={**spec.labels, SUBMISSION_LABEL: uuid.uuid4().hex})
        ref = DEFAULT_POLICY.call(lambda: rt.submit(spec, bundle, upload.uri), f"submitting {spec.name}",
                                  on_retry=self.notify)
        status = JobStatus(JobState.SUBMITTED, "submitted", submitted=utcnow(), links=rt.links(ref))
        self.registry.add(ref, spec, upload.uri, self.notebook, status)
        self.tracker.track(ref, status)
        return Job(self, ref, spec, upload)

    def _upload(self, bundle: Bundle, rt: Runtime) -> UploadResult:
        """Store the bundle where the runtime's replicas can fetch it (refused before any byte moves); a job
        without files (a command that lives in the image) stores nothing and runs with an empty algorithm
        folder (its bundle URI is "")."""
        if not bundle.files:
            return UploadResult(uri="", digest=bundle.digest, bytes_uploaded=0, reused=False)
        storage = self.storage()
        problems = rt.bundle_problems(storage.uri_for(bundle))
        if problems:
            raise ValidationError(problems)
        return storage.put(bundle)

    # -- history -----------------------------------------------------------------------------------
    def job(self, name: str, runtime: str | None = None) -> Job:
        record = self.registry.get(name, runtime)
        return Job(self, record.ref, record.spec)

    def records(self, notebook: str | None = None, active_only: bool = False) -> list[JobRecord]:
        return self.registry.list(notebook=notebook, active_only=active_only)

    def reattach(self) -> list[JobRef]:
        """Follow again every job the registry knows as unfinished (after a kernel restart)."""
        refs = []
        for record in self.registry.list(active_only=True):
            try:
                self.runtime(record.ref.runtime)
            except SubmarineError:
                continue  # a runtime that is not installed here cannot be followed
            self.tracker.track(record.ref, record.status)
            refs.append(record.ref)
        return refs

    def close(self) -> None:
        self.tracker.close()
        for runtime in self._runtimes.values():
            runtime.close()


def _log_notice(message: str) -> None:
    import logging

    logging.getLogger("submarine_kernel").warning(message)


_default: Session | None = None
_default_lock = threading.Lock()


def default_session() -> Session:
    """The process-wide session used by `submarine_kernel.submit` and the magics."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Session()
        return _default


def set_default_session(session: Session | None) -> None:
    global _default
    with _default_lock:
        _default = session
