"""The flow of one job, shared by the magics, the Python API and the command line.

cells ─collect─▶ Bundle ─Storage.put─▶ bundle URI ─┐
run args + config + params ─────────▶ JobSpec ────┴─▶ Runtime.submit ─▶ JobRef ─▶ Tracker + Registry

Every problem (spec, runtime rules) is found before anything is uploaded or started.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Mapping

from .algorithm import AlgorithmCollector, Bundle
from .config import SubmarineConfig
from .errors import SubmarineError, TransientError, ValidationError, dry_run_ok
from .job_handle import Job
from .names import DNS1035_MAX, default_job_name, job_name_problems, notebook_label, notebook_stem, sanitize
from .registry import JobRecord, NameInUse, Registry, RegistryError, submitter_alive
from .retry import DEFAULT_POLICY
from .job_types import SUBMISSION_LABEL, JobRef, JobState, JobStatus, utcnow
from .runtimes.base import Runtime, runtime_class
from .request import RunRequest
from .spec import JobSpec, draft_spec, without_consequences
from .storage import Storage, UploadResult
from .tracker import Tracker

LABEL_PREFIX = "submarine-kernel"
# SUBMISSION_LABEL: one token per `submit`, carried by the job on the cluster: a retried create that meets a
# job of the same name with the same token adopts it ("already submitted"); another token means the name is
# taken. Recovery (Session.settle) uses it to find what an interrupted submission made.


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
        self.skipped: list[str] = []  # registry rows the last listing could not read

    # -- parts -------------------------------------------------------------------------------------
    def runtime(self, name: str | None = None) -> Runtime:
        """The configured runtime called `name` (the default runtime when None), created once."""
        name = name or self.settings.runtime
        with self._runtimes_lock:
            if name not in self._runtimes:
                self._runtimes[name] = runtime_class(name)(config=self.config)
                self._runtimes[name].use_storage(self.settings.storage_root, self.settings.storage_options)
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
                runtime.use_storage(self.settings.storage_root, self.settings.storage_options)

    # -- the flow ----------------------------------------------------------------------------------
    def default_name(self) -> str:
        return default_job_name(self.settings.user, self.notebook)

    def build(self, request: RunRequest | str | None = None, *, dry_run: bool = False,
              param_decls: Mapping[str, Any] | None = None, **fields: Any) -> JobSpec:
        """The one builder: a JobSpec from a RunRequest (or a launch command and RunRequest fields as keywords)
        and the session's defaults, checked once, here: the spec rules, the declared params (the session's
        and `param_decls`, the form's own) and the runtime's rules; one ValidationError lists every problem.
        For a `dry_run`, problems a dry run may ignore (`Problem.dry_run_ok`: settings the runtime still
        needs, `Runtime.missing_settings`) are not problems: the dry run shows placeholders and lists them.
        `submit` and `dry_run` take the spec as built here. Nothing here settles earlier submissions or asks
        a cluster: a form checks on every keystroke (`check`)."""
        if not isinstance(request, RunRequest):
            request = RunRequest.of(request, **fields)
        elif fields:
            request = request.with_changes(**fields)
        options = request.spec_options()  # fields of the wrong kind are refused before any is read
        rt = self.runtime(request.runtime_name)
        self._check_replica_counts(rt, options)
        name = options.pop("name") or self.default_name()
        labels = {f"{LABEL_PREFIX}/user": sanitize(self.settings.user, DNS1035_MAX),
                  f"{LABEL_PREFIX}/job": name[:DNS1035_MAX]}
        if self.notebook:
            labels[f"{LABEL_PREFIX}/notebook"] = notebook_label(self.notebook)
        spec, problems = draft_spec(name, framework=options.pop("framework") or self.settings.framework,
                                    command=request.launch_command,
                                    image=options.pop("image") or self.settings.image or None,
                                    labels={**labels, **options.pop("labels")}, **options)
        spec, param_problems = self._typed_params(spec, param_decls)
        problems += [p for p in [*job_name_problems(name), *param_problems] if p not in problems]
        if spec.roles:
            problems += [p for p in self._runtime_problems(spec, rt, dry_run) if p not in problems]
        if problems:
            raise ValidationError(without_consequences(problems))
        return spec

    def check(self, request: RunRequest, param_decls: Mapping[str, Any] | None = None) -> list[str]:
        """Every problem `build` finds in `request` (with a form's own param declarations `param_decls`),
        for checks while the user types: nothing is settled, uploaded or asked of a cluster."""
        try:
            self.build(request, param_decls=param_decls)
        except ValidationError as exc:
            return list(exc.problems)
        return []

    @staticmethod
    def _runtime_problems(spec: JobSpec, runtime: Runtime, dry_run: bool) -> list[str]:
        problems = runtime.check(spec)
        return [p for p in problems if not dry_run_ok(p)] if dry_run else problems

    @staticmethod
    def _check_replica_counts(rt: Runtime, options: Mapping[str, Any]) -> None:
        """Refuse counts over the runtime's limit before anything is built (a huge count froze the kernel)."""
        counts = [options.get(key) for key in ("workers", "ps", "evaluator")]
        total = sum(c for c in counts if isinstance(c, int) and not isinstance(c, bool) and c > 0)
        problem = rt.replica_limit_problem(total)
        if problem:
            raise ValidationError(problem)

    def param_decls(self, user_ns: Mapping[str, Any] | None = None) -> dict:
        """Every declared param: the saved notebook's `parameters` cell, then `%submarine param` (which wins);
        values the kernel holds now (`user_ns`, for a form) become the defaults."""
        from .params import merge, notebook_parameters

        return merge(notebook_parameters(self.notebook), self.params, user_ns)

    def _typed_params(self, spec: JobSpec, extra: Mapping[str, Any] | None) -> tuple[JobSpec, list[str]]:
        """Declared params checked (kind, choices, bounds) and converted for params.json, on every path:
        magics, API, form, sweeps and headless runs all build here. `extra` declarations (a form's) join
        the session's; the session's win, as `%submarine param` is the user's latest word."""
        from .params import check_values

        typed, problems = check_values(spec.params, {**dict(extra or {}), **self.param_decls()})
        return spec.replace(param_values=typed), problems

    def bundle(self, files: Mapping[str, str | bytes] | None = None, notebook: str | None = None) -> Bundle:
        """The algorithm files: given files, a saved notebook's cells, or the cells collected so far."""
        if files is not None:
            from .algorithm import validate_title

            if not isinstance(files, Mapping):
                raise ValidationError(f"files is a {type(files).__name__}: give a dict of file name → text or bytes")
            wrong = [f"files[{k!r}] is {type(v).__name__}: give its text or bytes" for k, v in files.items()
                     if not isinstance(v, (str, bytes, bytearray))]  # bytes(5) would be five NUL bytes
            if wrong:
                raise ValidationError(wrong)
            return Bundle({validate_title(k): v.encode() if isinstance(v, str) else bytes(v)
                           for k, v in files.items()}, notebook=self.notebook)
        if notebook is not None:
            from .algorithm import collect_notebook

            return collect_notebook(notebook)
        from .algorithm import notebook_order

        return self.collector.bundle(saved=notebook_order(self.notebook))  # the saved notebook's order

    def run(self, request: RunRequest, *, dry_run: bool = False, bundle: Bundle | None = None,
            files: Mapping[str, str | bytes] | None = None, notebook: str | None = None,
            param_decls: Mapping[str, Any] | None = None,
            inspect_bundle: Callable[[Bundle], None] | None = None) -> Job | str:
        """The one flow every entry point takes (`%submarine run`, `sk.submit`, the form, sweeps):
        build (and so check) → bundle → the dry run's text | (clean the checkpoint folder when asked, then)
        submit. Nothing is deleted, uploaded or submitted when a check fails. The bundle is `bundle`, else
        `files`, a saved `notebook`'s cells or the cells collected so far (`Session.bundle`);
        `inspect_bundle` sees it once the request is known to be valid, and may refuse it (the magic's
        "nothing is collected" rule: a script run from a notebook names files the notebook should hold)."""
        if not dry_run:
            self.settle()  # an interrupted submission of this name must not keep the name taken
        spec = self.build(request, dry_run=dry_run, param_decls=param_decls)
        if bundle is None:
            bundle = self.bundle(files=files, notebook=notebook)
        if inspect_bundle is not None:
            inspect_bundle(bundle)
        if dry_run:
            return self.dry_run(spec, bundle, request.runtime_name)
        if request.clean_checkpoint and spec.checkpoint_path:
            from .storage import clean_checkpoint

            clean_checkpoint(spec.checkpoint_path, self.settings.storage_options)
        return self.submit(spec, bundle, request.runtime_name)

    def dry_run(self, spec: JobSpec, bundle: Bundle, runtime: str | None = None) -> str:
        """What the runtime would receive; nothing is uploaded or submitted. Settings a real submission still
        needs are shown as placeholders in the output and listed at its end. `spec` comes from
        `build(..., dry_run=True)`, which checked it."""
        bundle = bundle.with_params(spec.params_file())
        uri = self.storage().uri_for(bundle) if bundle.files else ""
        return self.runtime(runtime).prepare(spec, bundle, uri).dry_run_text

    def submit(self, spec: JobSpec, bundle: Bundle, runtime: str | None = None) -> Job:
        """Record, upload the bundle (unless already there), submit, confirm and track a spec `build` made
        (and checked: nothing is checked twice; only the bundle store is checked here, against the runtime).

        The registry row is written first, so a job never runs unrecorded: a refusal removes the row again,
        and a submission cut short (the submitter killed, every create answer lost) leaves a row that the
        next check settles (`settle`: the job adopted, or what was half-created deleted)."""
        rt = self.runtime(runtime)
        self.settle()
        bundle = bundle.with_params(spec.params_file())
        storage = self.storage()
        if bundle.files:
            storage.connect_soon()  # an object store's client is made while the bundle is hashed and recorded
        self._check_bundle(bundle, rt, storage)  # refused before anything is recorded or moves
        # Runtimes make a retried create idempotent: a conflict on our own name with our own token means
        # "already submitted" (the response of an earlier attempt was lost), another token "name taken".
        import uuid

        spec = spec.replace(labels={**spec.labels, SUBMISSION_LABEL: uuid.uuid4().hex})
        from .provenance import capture  # read before the row exists: a slow git never holds a NEW row

        made_from = capture(self.notebook, bundle, spec)
        record = lambda: self.registry.record(rt.name, spec, storage.uri_for(bundle) if bundle.files else "",  # noqa: E731
                                              self.notebook)
        try:
            recorded = record()
        except NameInUse:  # a live job's row is never replaced; one that ended unseen frees its name
            if not self._ended_unseen(rt, spec.name):
                raise
            recorded = record()
        self.registry.keep_provenance(recorded, made_from)
        try:
            upload = self._upload(bundle, storage)
        except BaseException:
            self.registry.remove(recorded, exact=True)  # nothing reached the runtime: nothing left behind
            raise
        try:
            ref = self._start(rt, spec, bundle, upload, storage)
        except SubmarineError as exc:
            if not isinstance(exc, TransientError):
                self.registry.remove(recorded, exact=True)  # refused by the runtime: it made nothing
                raise
            ref = self._settle_now(rt, spec, upload.uri, recorded, exc)
        except BaseException as exc:  # interrupted mid-request: the create may have reached the runtime
            self.registry.mark_unconfirmed(recorded, f"the submission was interrupted ({type(exc).__name__}); "
                                                     "the next status check adopts the job or cleans it up")
            raise
        status = JobStatus(JobState.SUBMITTED, "submitted", submitted=utcnow(), links=rt.links(ref))
        self.registry.confirm(ref, status, upload.uri, recorded=recorded)
        self.tracker.track(ref, status)
        return Job(self, ref, spec, upload)

    def _ended_unseen(self, rt: Runtime, name: str) -> bool:
        """Whether the job the registry holds as live under `name` has ended since (asked of its runtime once,
        and recorded)."""
        try:
            record = self.registry.get(name, rt.name)
            status = rt.poll([record.ref]).get(record.ref.key)
        except SubmarineError:
            return False
        return status is not None and status.terminal and self.remember(record.ref, status)

    def _check_bundle(self, bundle: Bundle, rt: Runtime, storage: Storage) -> None:
        """Refuse a bundle store the runtime's replicas cannot fetch from (before any byte moves)."""
        if bundle.files:
            problems = rt.bundle_problems(storage.uri_for(bundle))
            if problems:
                raise ValidationError(problems)

    def _upload(self, bundle: Bundle, storage: Storage) -> UploadResult:
        """Store the bundle; a job without files (a command that lives in the image) stores nothing and runs
        with an empty algorithm folder (its bundle URI is "")."""
        if not bundle.files:
            return UploadResult(uri="", digest=bundle.digest, bytes_uploaded=0, reused=False)
        return storage.put(bundle)

    def _settle_now(self, rt: Runtime, spec: JobSpec, bundle_uri: str, recorded: JobRef, exc: Exception) -> JobRef:
        """Every create was retried out: ask once whether one of them made the job (only its answer was
        lost: adopted) or not (what it half-created deleted, the row removed, the error raised); when even
        that cannot be asked, the row stays, unconfirmed, for the next check."""
        try:
            ref = rt.find(spec, bundle_uri)
        except (NotImplementedError, SubmarineError):
            self.registry.mark_unconfirmed(recorded, f"the submission may have happened ({str(exc)[:160]}); "
                                                     "the next status check adopts the job or cleans it up")
            raise exc from None
        if ref is None:
            self.registry.remove(recorded, exact=True)
            raise exc
        self.notify(f"{spec.name}: the cluster made the job though its answers were lost; following it")
        return ref

    def _start(self, rt: Runtime, spec: JobSpec, bundle: Bundle, upload: UploadResult, storage: Storage) -> JobRef:
        """rt.submit with retries; a stored bundle found damaged on fetch is uploaded again once."""
        from .storage import DamagedBundle

        submission = rt.prepare(spec, bundle, upload.uri)

        def attempt():
            return rt.start(submission)
        try:
            return DEFAULT_POLICY.call(attempt, f"submitting {spec.name}", on_retry=self.notify)
        except DamagedBundle as exc:
            if not bundle.files:
                raise
            self.notify(f"{exc}; uploading the bundle again")
            storage.put(bundle, verify=True)
            return DEFAULT_POLICY.call(attempt, f"submitting {spec.name}", on_retry=self.notify)

    def settle(self) -> list[str]:
        """Settle recorded submissions whose submitter is gone or whose answer was lost: adopt the job the
        runtime has for them, or delete what they half-created and forget the row. Returns one line each."""
        settled = []
        for record in self.registry.pending():
            owner = record.ref.extra.get("submitter")
            if record.state == "NEW" and submitter_alive(owner, record.submitted):
                continue  # still being submitted by a live process
            try:
                rt = self.runtime(record.ref.runtime)
                ref = rt.find(record.spec, record.bundle_uri)
            except NotImplementedError:
                continue
            except SubmarineError as exc:  # unreachable now: kept for the next check
                _log_notice(f"{record.ref.name}: cannot settle its submission yet: {exc}")
                continue
            try:  # a read-only store still lists: what settling learned is said, not recorded
                if ref is None:
                    self.registry.remove(record.ref, exact=True)
                    settled.append(f"{record.ref.name}: its submission never started a job; forgot it")
                    continue
                status = JobStatus(JobState.SUBMITTED, "submitted", submitted=record.submitted, links=rt.links(ref))
                self.registry.confirm(ref, status, recorded=record.ref)
            except RegistryError as exc:
                self.notify(f"{record.ref.name}: its interrupted submission "
                            f"{'started no job' if ref is None else 'started a job'}; not recorded: {exc}")
                continue
            self.tracker.track(ref)
            settled.append(f"{record.ref.name}: adopted the job its interrupted submission started")
        return settled

    # -- history -----------------------------------------------------------------------------------
    def job(self, name: str, runtime: str | None = None) -> Job:
        self.settle()
        record = self.record(name, runtime)
        return Job(self, record.ref, record.spec)

    def record(self, name: str, runtime: str | None = None) -> JobRecord:
        """One job's registry row (the newest of that name), as recorded: views read it on status events,
        so nothing is settled here (`job` and `records` settle)."""
        return self.registry.get(name, runtime)

    def records(self, notebook: str | None = None, active_only: bool = False,
                limit: int | None = None) -> list[JobRecord]:
        """The registry's jobs, newest first (the newest `limit`): the one door to history for every view.
        Submissions cut short are settled first, unfinished local jobs are read again from their folders (no
        cluster is asked) and rows that cannot be read are skipped, each with a notice."""
        self.settle()
        records = self.registry.list(notebook=notebook, active_only=active_only, limit=limit)
        skipped = list(self.registry.skipped)
        for line in skipped:
            self.notify(line)
        self.skipped = skipped
        stale = [r for r in records if r.ref.runtime == "local" and not r.pending and not JobState(r.state).terminal]
        if stale:
            statuses = self.runtime("local").poll([r.ref for r in stale])
            for record in stale:
                status = statuses.get(record.ref.key)
                if status is not None and self.remember(record.ref, status):
                    record.status, record.state = status, status.state.value
        return records

    def remember(self, ref: JobRef, status: JobStatus) -> bool:
        """Write a status learned by any reader to the registry when it is newer; True when written."""
        if status.stale:
            return False
        try:
            record = self.registry.get(ref.name, ref.runtime)
        except SubmarineError:
            return False
        if record.pending or (record.status is not None and record.status.same_as(status)):
            return False
        if record.status is not None and record.status.terminal and not status.terminal:
            return False  # never move a finished job back (a runtime that forgot it answers UNKNOWN)
        try:
            self.registry.update_status(ref, status)
        except SubmarineError as exc:  # a read-only registry still lists and shows status; it cannot learn
            self.notify(f"the newest status of {ref.name} is not recorded: {exc}")
            return False
        return True

    def reattach(self) -> list[JobRef]:
        """Follow again every job the registry knows as unfinished (after a kernel restart)."""
        refs = []
        for record in self.registry.list(active_only=True):
            if record.pending:
                continue  # settled by the next listing or submission (it may ask a cluster: not at load)
            try:
                self.runtime(record.ref.runtime)
            except SubmarineError:
                continue  # a runtime that is not installed here cannot be followed
            self.tracker.track(record.ref, record.status, announce=True)  # listeners hear the state now
            refs.append(record.ref)
        return refs

    def remove_finished(self, notebook: str | None = None) -> int:
        """Delete what the finished jobs (of `notebook`; every job's when None) left on their runtimes
        (Zeppelin's CLEAN_RUNTIME_CACHE); returns how many jobs were cleaned."""
        removed = 0
        for record in self.records(notebook=notebook):
            if record.status is not None and record.status.terminal:
                self.runtime(record.ref.runtime).remove(record.ref)
                removed += 1
        return removed

    # -- TensorBoard -------------------------------------------------------------------------------
    def tensorboard_name(self) -> str:
        """The one TensorBoard of this notebook (or session): a name every runtime accepts."""
        return sanitize(f"tensorboard-{notebook_stem(self.notebook) if self.notebook else 'session'}", 50)

    def start_tensorboard(self, logdir: str, runtime: str | None = None) -> str:
        """Start (or update) this notebook's TensorBoard on `runtime`, reading `logdir`; returns its URL."""
        return self.runtime(runtime).start_tensorboard(self.tensorboard_name(), logdir)

    def stop_tensorboard(self, runtime: str | None = None) -> bool:
        """Stop this notebook's TensorBoard; False when none was running."""
        return self.runtime(runtime).stop_tensorboard(self.tensorboard_name())

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
