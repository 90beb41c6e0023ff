"""`%submarine` and `%%submarine.python` / `%%submarine.sh`: the notebook face of submarine-kernel.

The subcommands' arguments are declared and read in `arguments.py` (IPython's magic_arguments, so
`%submarine?` prints real usage); this module is the Magics class that acts on them. User errors
raise UsageError: IPython shows one line, no traceback, and a headless run still sees the cell fail.
"""

from __future__ import annotations

import atexit
import re
import subprocess
import sys
import time
import warnings

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from IPython.display import display
from traitlets import Bool, Int

from submarine_kernel import hints, progress, render
from submarine_kernel.algorithm import UntitledCellWarning, parse_cell_header, strip_interpreter_line
from submarine_kernel.command_template import placeholders
from submarine_kernel.config import SubmarineConfig
from submarine_kernel.errors import SubmarineError
from submarine_kernel.metrics import harvester_for
from submarine_kernel.notebook_path import detect as detect_notebook
from submarine_kernel.job_types import JobRef, JobStatus
from submarine_kernel.request import RunRequest
from submarine_kernel.job_handle import Job
from submarine_kernel.session import Session, set_default_session
from submarine_kernel.spec import ROLE_NAMES

from .arguments import SUBCOMMANDS, key_values, parse_argstring, split_command, typed_params, usage


#: while `--wait` blocks a cell: at most this long between two rounds of widget messages, and how many a round
WAIT_UI_SECONDS = 0.25
#: most log lines one `%submarine logs` sends into the notebook
NOTEBOOK_LOG_LINES = 2000
WAIT_UI_EVENTS = 20
#: while `--wait` blocks a cell: how often a plain (`--plain`) status reads the job's progress from its log
WAIT_PROGRESS_SECONDS = 3.0


@magics_class
class SubmarineMagics(Magics, SubmarineConfig):
    """Magics whose traits are the session defaults: `%config SubmarineMagics.runtime = "yarn"`."""

    workers = Int(1, min=1, help="Training replicas when a run names none.").tag(config=True)
    wait = Bool(False, help="Block every run until its job ends.").tag(config=True)

    def __init__(self, shell=None, **kwargs):
        super().__init__(shell=shell, **kwargs)
        notebook = detect_notebook(shell.user_ns if shell else None)  # also under nbconvert and papermill
        self.session = Session(config=shell.config if shell else None, notebook=notebook or None, settings=self)
        self.session.notify = lambda message: print(f"submarine: {message}", file=sys.stderr, flush=True)
        self.last_job: str | None = None
        self._displays: dict = {}  # job key → its status output (widget or plain)
        self._cell_id: str | None = None
        self._stop_listening = self.session.tracker.listen(self._on_status)
        self._metrics = harvester_for(self.session)  # reported metrics reach the registry when jobs end
        set_default_session(self.session)
        if shell is not None:
            shell.events.register("pre_run_cell", self._remember_cell)
            # runs before ipykernel's own exit handler closes the sockets (atexit is last in, first out):
            # a status arriving while the kernel shuts down would otherwise fail on a closed IOPub socket
            atexit.register(self.session.tracker.close)
            try:
                self.session.reattach()  # a restarted kernel follows its unfinished jobs again
            except SubmarineError:
                pass

    def update_config(self, config):
        """%config reaches the runtimes too (LocalRuntime.*, KubernetesRuntime.*, YarnRuntime.*)."""
        super().update_config(config)
        if getattr(self, "session", None) is not None:
            self.session.reconfigure(config)

    def close(self) -> None:
        atexit.unregister(self.session.tracker.close)
        self._stop_listening()
        self._metrics.close()
        if self.shell is not None:
            try:
                self.shell.events.unregister("pre_run_cell", self._remember_cell)
            except ValueError:
                pass
        self.session.close()

    def _prompt_number(self) -> int:
        """This cell's prompt number. IPython 9 increments execution_count before running a cell and 8 after,
        but both have stored the running cell's input in history by now (index 0 is a blank entry)."""
        history = getattr(self.shell.history_manager, "input_hist_raw", None)
        return len(history) - 1 if history else self.shell.execution_count

    def _remember_cell(self, info) -> None:
        self._cell_id = getattr(info, "cell_id", None)

    # -- cell magics -------------------------------------------------------------------------------
    @cell_magic("submarine.python")
    def submarine_python(self, line, cell):
        """%%submarine.python TITLE [--no-local]: collect the cell into TITLE, then run it in this kernel."""
        body = self._collect(line, cell, "python")
        if body is not None:
            self._run_here(body)

    @cell_magic("submarine.sh")
    def submarine_sh(self, line, cell):
        """%%submarine.sh TITLE [--no-local]: collect the cell into TITLE, then run it in a shell here."""
        body = self._collect(line, cell, "sh")
        if body is not None:
            result = subprocess.run(["/bin/bash", "-c", body], capture_output=True, text=True)
            sys.stdout.write(result.stdout)
            sys.stderr.write(result.stderr)
            if result.returncode:
                raise UsageError(f"the shell cell exited with code {result.returncode}")

    def _run_here(self, body: str) -> None:
        """Run the body as a plain cell runs, and fail this cell when it fails (so the next cell does not run
        and a headless run exits non-zero). The nested run has shown the traceback already; handing its
        error to this cell's own result makes the execute reply an error with the same name and value."""
        outer = getattr(self.shell.displayhook, "exec_result", None)
        result = self.shell.run_cell(body, store_history=False)
        self.shell.displayhook.exec_result = outer
        error = result.error_before_exec if result.error_before_exec is not None else result.error_in_exec
        if error is None:
            return
        if outer is None:  # called outside a cell (shell.run_cell_magic from code): say it plainly
            raise UsageError(f"the cell raised {type(error).__name__}: {error}")
        outer.error_in_exec = error

    def _collect(self, line: str, cell: str, kind: str) -> str | None:
        """Collect the cell; the body to run here (interpreter line stripped), or None when it should not."""
        try:
            header = parse_cell_header(kind, line)
        except SubmarineError as exc:
            raise UsageError(str(exc)) from None
        if header.python:
            return strip_interpreter_line(cell)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UntitledCellWarning)
            try:
                part = self.session.collector.add(header.title, cell, cell_id=self._cell_id, kind=kind,
                                                  where=f"In [{self._prompt_number()}]")
            except SubmarineError as exc:
                raise UsageError(str(exc)) from None
        for warning in caught:
            print(f"submarine: {warning.message}", file=sys.stderr)
        if part is not None:
            same = [p for p in self.session.collector.parts if p.title == part.title]
            print(f"submarine: collected into {part.title} (part {same.index(part) + 1} of {len(same)})")
        if header.no_local:
            return None
        return part.source if part is not None else strip_interpreter_line(cell)

    # -- %submarine --------------------------------------------------------------------------------
    @no_var_expand
    @line_magic
    def submarine(self, line):
        """Submit and follow distributed training jobs. Subcommands: run, status, list, logs, stop, clean,
        tensorboard, config, form, param, history, usage. See `%submarine usage` for every option."""
        words = line.strip().split(None, 1)
        if not words:
            raise UsageError("no subcommand: use one of " + ", ".join([*SUBCOMMANDS, "usage"]))
        sub, rest = words[0], (words[1] if len(words) > 1 else "")
        if sub == "usage":
            print(usage())
            return
        extra = getattr(self, f"_sub_{sub}", None)
        if sub not in SUBCOMMANDS and extra is None:
            raise UsageError(f"unknown subcommand {sub!r}: use one of {', '.join([*SUBCOMMANDS, 'usage'])}")
        try:
            return getattr(self, f"_sub_{sub}")(rest)
        except SubmarineError as exc:
            raise UsageError(str(exc)) from None

    def _parse(self, sub: str, text: str):
        parser_func = SUBCOMMANDS[sub]
        parser_func.parser.prog = f"submarine {sub}"
        try:
            return parse_argstring(parser_func, self.shell.var_expand(text) if self.shell else text)
        except UsageError as exc:
            raise UsageError(f"%submarine {sub}: {exc}") from None

    def _name(self, name: str | None) -> str:
        name = name or self.last_job
        if not name:
            raise UsageError("no job yet in this kernel: give the job name (see %submarine list)")
        return name

    def _sub_run(self, rest: str, defer_wait: bool = False):
        options, command = split_command(rest)
        args = self._parse("run", options)
        resources = {role: getattr(args, f"{role}_resources") for role in ROLE_NAMES
                     if getattr(args, f"{role}_resources")}
        if args.resources:
            resources["default"] = args.resources
        runtime = args.runtime or self.runtime
        request = RunRequest(
            command=command, runtime=runtime, name=args.name, framework=args.framework,
            workers=args.workers if args.workers is not None else self.workers, ps=args.ps, chief=args.chief,
            resources=resources, image=args.image, env=key_values(args.env, "env"), input_path=args.input,
            checkpoint_path=args.checkpoint, params={**self._declared_param_values(), **typed_params(args.param)},
            labels=key_values(args.label, "label"))
        self._check_param_names(request)

        def scripts_collected(bundle) -> None:
            missing = unknown_scripts(request.command, bundle.files)
            if missing and not bundle.files and not args.dry_run:  # `python -c ...` needs no files: it runs
                raise UsageError(f"nothing is collected in this kernel yet (or since %submarine clean) for "
                                 f"{', '.join(missing)}: run the %%submarine.python cells first, or pass "
                                 "--notebook SAVED.ipynb")
            for name in missing:
                print(f"submarine: warning: the launch command names {name}, which is neither collected nor in "
                      f"this folder (collected: {', '.join(sorted(bundle.files)) or 'nothing'})", file=sys.stderr)

        submitted = self.session.run(request, dry_run=args.dry_run, notebook=args.notebook,
                                     inspect_bundle=scripts_collected)
        if args.dry_run:
            print(submitted)  # the dry run's text
            return
        job = submitted
        self.last_job = job.name
        upload = job.upload
        stored = (f"bundle {'reused' if upload.reused else f'uploaded, {upload.bytes_uploaded} bytes'}: {upload.uri}"
                  if upload.uri else "no algorithm files")
        print(f"submarine: submitted {job.name} to {job.ref.runtime} ({stored})")
        self._show(job.ref, self.session.tracker.last(job.ref), plain=args.plain)
        if args.wait or self.wait:
            if defer_wait:
                return job
            return self._wait(job)
        return None

    def _check_param_names(self, request: RunRequest) -> None:
        """`-p lerning_rate 0.1` when `learning_rate` is declared: a typo would reach the job as an extra
        `--lerning_rate 0.1` while the declared value stays; refused, naming the close declared name."""
        user_ns = self.shell.user_ns if self.shell else None
        known = set(self.session.param_decls(user_ns)) | set(placeholders(request.command or ""))
        typos = [hints.unknown_name("param", name, hints.close_to(name, known)) for name in request.params
                 if name not in known and hints.close_to(name, known)]
        if typos:
            raise UsageError("; ".join(typos) + " (a new param needs no declaration, but one this close is "
                             "likely a typo)")

    def _wait(self, job: Job) -> None:
        """`--wait` outside a kernel cell's own await (a terminal IPython, code calling the magic): block."""
        try:
            status = self._wait_handling_clicks(job)
        except KeyboardInterrupt:
            raise UsageError(detached_message(job.name)) from None
        self._wait_ended(job, status)

    async def wait_async(self, job: Job) -> None:
        """`--wait` in a kernel cell (see `await_waiting_runs`): the cell awaits, so the kernel's event loop
        keeps running and handles the status widget's comm messages (Stop, full log) meanwhile; the next
        cells' execute requests still wait for this cell. An interrupt ends the wait in one line."""
        import asyncio

        interval = min(getattr(job.runtime, "poll_interval", self.poll_interval), WAIT_UI_SECONDS)
        loop = asyncio.get_running_loop()
        progress_read = 0.0
        try:
            while True:
                # a status read may take a while on a cluster: off the event loop, so clicks stay answered
                status = await loop.run_in_executor(None, job.status)
                if status.terminal:
                    break
                if loop.time() - progress_read >= WAIT_PROGRESS_SECONDS:
                    progress_read = loop.time()
                    await loop.run_in_executor(None, self._show_progress, job, status)
                await asyncio.sleep(interval)
        except (asyncio.CancelledError, KeyboardInterrupt):  # ipykernel turns SIGINT into a cancellation
            raise UsageError(detached_message(job.name)) from None
        self._wait_ended(job, status)

    def _show_progress(self, job: Job, status: JobStatus) -> None:
        """A plain status (no widget to follow the log) shows the job's progress line while `--wait` waits."""
        view = self._displays.get(job.ref.key)
        if hasattr(view, "show_progress"):
            view.show_progress(status, progress.of_job(job))

    def _wait_ended(self, job: Job, status: JobStatus) -> None:
        self.session.tracker.refresh()
        self._show(job.ref, status)
        view = self._displays.get(job.ref.key)
        if hasattr(view, "wait_frozen"):  # the cell ends with the job's static summary in its output
            view.wait_frozen()
        if status.state.value != "SUCCEEDED":
            raise UsageError(hints.ended_message(job.name, status))  # names the replica that failed

    def _wait_handling_clicks(self, job: Job) -> JobStatus:
        """Block until the job ends. In an ipykernel 6 kernel (which has `do_one_iteration`), jupyter-ui-poll
        runs the kernel's message loop meanwhile, so the status widget's Stop and full-log buttons work;
        ipykernel 7 has no such loop to run: kernel cells await instead (`wait_async`)."""
        kernel = getattr(self.shell, "kernel", None)
        if kernel is None or not hasattr(kernel, "do_one_iteration"):
            return job.wait()
        from jupyter_ui_poll import ui_events

        interval = min(getattr(job.runtime, "poll_interval", self.poll_interval), WAIT_UI_SECONDS)
        progress_read = 0.0
        with ui_events() as handle_ui_events:
            while True:
                status = job.wait(timeout=interval)
                if status.terminal:
                    return status
                if time.monotonic() - progress_read >= WAIT_PROGRESS_SECONDS:
                    progress_read = time.monotonic()
                    self._show_progress(job, status)
                handle_ui_events(WAIT_UI_EVENTS)

    def _show(self, ref: JobRef, status: JobStatus | None, plain: bool = False) -> None:
        if status is None:
            return
        view = self._displays.get(ref.key)
        if view is None:
            from submarine_kernel.widgets.magic_views import status_display

            self._displays[ref.key] = status_display(self.session, ref, status, plain)
        else:
            view.update(status)

    def _on_status(self, ref: JobRef, status: JobStatus) -> None:
        """Tracker thread: refresh the job's output in place."""
        view = self._displays.get(ref.key)
        if view is not None:
            view.update(status)

    def _sub_status(self, rest: str):
        args = self._parse("status", rest)
        job = self.session.job(self._name(args.name))
        status = job.status()
        values = job.last_metrics()
        shown = None if status.terminal else progress.of_job(job)
        from submarine_kernel.usage import peaks_text

        used = peaks_text(job.usage())  # `peak CPU 187 % · peak mem 612 MiB · GPU -`, or why nothing is known
        display({"text/html": render.status_html(job.name, status, job.ref.runtime, values, shown, used),
                 "text/plain": render.status_text(job.name, status, job.ref.runtime, values, shown, used)}, raw=True)

    def _sub_list(self, rest: str):
        args = self._parse("list", rest)
        records = self.session.records(notebook=None if args.all else self.session.notebook)[:args.limit]
        if not records:
            print("submarine: no jobs yet" + ("" if args.all else " from this notebook (try --all)"))
            return
        headers = ["name", "runtime", "state", "submitted", "elapsed", "params"]
        rows = [[r.ref.name, r.ref.runtime, r.status.state.value if r.status else r.state,
                 render.short_time(r.submitted), render.elapsed(r.status) if r.status else "",
                 render.params_text(r.params)] for r in records]
        display({"text/html": render.table_html(headers, rows), "text/plain": render.table_text(headers, rows)},
                raw=True)

    def _sub_logs(self, rest: str):
        args = self._parse("logs", rest)
        from submarine_kernel.log_view import log_lines

        if args.all and args.replica:
            raise UsageError("%submarine logs: give --replica NAME or --all, not both")
        job = self.session.job(self._name(args.name))
        # capped: every printed line is kept in the notebook and the kernel (a 195 MiB log grew it by 370 MiB)
        for line in log_lines(job, args.replica, every=args.all, tail=args.tail, follow=args.follow,
                              metrics=args.metrics, limit=NOTEBOOK_LOG_LINES, prefix=hints.NOTEBOOK):
            print(line.text, file=sys.stderr if line.note else sys.stdout, flush=args.follow)

    def _sub_stop(self, rest: str):
        args = self._parse("stop", rest)
        job = self.session.job(self._name(args.name))
        status = job.stop()  # a replica still in its stop grace shows "stopping (grace 30 s)"
        print(f"submarine: {job.name} is {status.state.value}"
              + ("" if status.terminal or not status.message else f" ({status.message})"))

    def _sub_clean(self, rest: str):
        args = self._parse("clean", rest)
        if args.cells or (args.checkpoint is None and not args.jobs):
            parts = len(self.session.collector.parts)
            self.session.collector.clear()
            print(f"submarine: forgot {parts} collected cell(s); re-run the %%submarine cells to collect them again")
        if args.checkpoint is not None:
            path = args.checkpoint or (self.session.job(self._name(None)).spec.checkpoint_path or "")
            from submarine_kernel.storage import clean_checkpoint

            removed = clean_checkpoint(path, self.storage_options)
            print(f"submarine: {'deleted' if removed else 'nothing to delete at'} checkpoint {path}")
        if args.jobs:
            removed = self.session.remove_finished(notebook=self.session.notebook)
            print(f"submarine: removed what {removed} finished job(s) left on their runtimes")

    def _sub_tensorboard(self, rest: str):
        args = self._parse("tensorboard", rest)
        if args.action == "stop":
            stopped = self.session.stop_tensorboard(args.runtime)
            print("submarine: TensorBoard stopped" if stopped else "submarine: no TensorBoard was running")
            return
        logdir = args.logdir or (self.session.job(self._name(None)).spec.checkpoint_path if self.last_job else None)
        if not logdir:
            raise UsageError("no log folder: pass --logdir PATH or run a job with --checkpoint PATH first")
        url = self.session.start_tensorboard(logdir, args.runtime)
        display({"text/html": f'TensorBoard: {render.link(url, url)}', "text/plain": f"TensorBoard: {url}"},
                raw=True)

    def _sub_config(self, rest: str):
        args = self._parse("config", rest)
        traits = {k: t for k, t in self.traits(config=True).items()}
        for setting in args.settings:
            key, sep, value = setting.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or key not in traits:
                raise UsageError(f"cannot set {setting!r}: use KEY=VALUE with KEY one of {', '.join(sorted(traits))}")
            try:
                setattr(self, key, traits[key].from_string(value))
            except Exception as exc:
                raise UsageError(f"bad value for {key}: {exc}") from None
        from submarine_kernel.secrets import redact_mapping

        shown = redact_mapping({k: getattr(self, k) for k in sorted(traits)})
        rows = [[k, v] for k, v in shown.items()]
        display({"text/html": render.table_html(["setting", "value"], rows),
                 "text/plain": render.table_text(["setting", "value"], rows)}, raw=True)


    # -- widgets (the views live in submarine_kernel.widgets; ipywidgets is imported only here) ---------
    def _sub_form(self, rest: str):
        from submarine_kernel.widgets.magic_views import show_form

        options, command = split_command(rest)
        args = self._parse("form", options)
        show_form(self.session, command, args, self.shell.user_ns if self.shell else None)

    def _sub_param(self, rest: str):
        from submarine_kernel.params import declare_in_session

        args = self._parse("param", rest)
        print(declare_in_session(self.session, args.assignment, args.choices, args.minimum, args.maximum,
                                 self.shell.user_ns if self.shell else {}))

    def _declared_param_values(self) -> dict:
        """`%submarine param` names with the kernel's current values: every run passes them."""
        user_ns = self.shell.user_ns if self.shell else {}
        return {name: user_ns.get(name, decl.default) for name, decl in self.session.params.items()}

    def _sub_history(self, rest: str):
        args = self._parse("history", rest)
        if args.diff:
            from submarine_kernel.provenance import compare

            print(compare(self.session.registry, *(self.session.job(name) for name in args.diff)))
            return
        if args.export == "mlflow":
            from submarine_kernel.mlflow_export import export_history

            result = export_history(self.session, args.tracking_uri, args.experiment, args.all, args.limit)
            print(f"submarine: {result.summary()}")
            return
        from submarine_kernel.widgets.magic_views import show_history

        show_history(self.session, args)


SubmarineMagics.submarine.__doc__ = (SubmarineMagics.submarine.__doc__ or "") + "\n\n" + usage()


_loaded: dict[int, SubmarineMagics] = {}

#: a top-level `%submarine run ...` line as IPython has turned it into Python
_RUN_LINE = re.compile(r"""^get_ipython\(\)\.run_line_magic\((['"])submarine\1, (?P<arg>(['"])run\b.*)\)$""")


def detached_message(name: str) -> str:
    return (f"stopped waiting for {name}: the job still runs (its output above keeps updating); "
            f"stop it with %submarine stop {name}")


def await_waiting_runs(lines: list[str]) -> list[str]:
    """IPython input transformer: a top-level `%submarine run` line becomes `await run_awaiting(...)`, so a
    `--wait` in a kernel cell awaits the job instead of blocking the event loop that reads widget clicks."""
    out = []
    for line in lines:
        match = _RUN_LINE.match(line.rstrip("\n"))
        if match:
            line = (f"await __import__('submarine_kernel.magics.submarine', fromlist=['run_awaiting'])"
                    f".run_awaiting(get_ipython(), {match['arg']})" + ("\n" if line.endswith("\n") else ""))
        out.append(line)
    return out


async def run_awaiting(shell, line: str) -> None:
    """`%submarine run` from a kernel cell: submit at once, then await the job when the run waits."""
    magics = _loaded[id(shell)]
    # ipykernel resets these in ZMQInteractiveShell.run_cell only, which an awaiting cell does not go through:
    # without a reset its error reply fails (fresh kernel) or carries an earlier cell's traceback
    shell._last_traceback, shell._last_traceback_during_displayhook = None, False
    try:
        job = magics._sub_run(line.split(None, 1)[1] if " " in line.strip() else "", defer_wait=True)
    except SubmarineError as exc:
        raise UsageError(str(exc)) from None
    if job is not None:
        await magics.wait_async(job)


def unknown_scripts(command: str, collected) -> list[str]:
    """The `.py` files a launch command names that are neither collected nor in the kernel's folder."""
    import os
    import shlex

    try:
        words = shlex.split(command or "")
    except ValueError:
        return []
    return [w for w in dict.fromkeys(words) if w.endswith(".py") and "{" not in w
            and w not in collected and not os.path.exists(w)]


def load_ipython_extension(ipython) -> None:
    """Register the magics once per shell; loading again is a no-op."""
    if id(ipython) in _loaded:
        return
    magics = SubmarineMagics(shell=ipython)
    ipython.register_magics(magics)
    if getattr(ipython, "kernel", None) is not None and not hasattr(ipython.kernel, "do_one_iteration"):
        ipython.input_transformers_post.append(await_waiting_runs)  # ipykernel 7: cells await --wait
    ipython.configurables.append(magics)
    _loaded[id(ipython)] = magics


def unload_ipython_extension(ipython) -> None:
    magics = _loaded.pop(id(ipython), None)
    if magics is None:
        return
    for kind in ("line", "cell"):
        for name in list(magics.magics[kind]):
            ipython.magics_manager.magics[kind].pop(name, None)
    if magics in ipython.configurables:
        ipython.configurables.remove(magics)
    if await_waiting_runs in ipython.input_transformers_post:
        ipython.input_transformers_post.remove(await_waiting_runs)
    magics.close()
    set_default_session(None)
