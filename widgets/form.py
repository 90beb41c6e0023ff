"""The parameter form: job fields and the notebook's hyperparameters; Run submits one job or a sweep.

Values are checked on every change with the same rules `%submarine run` uses (`Session.check`, i.e.
`Session.build`, which asks no cluster); a problem is flagged beside its field and Run stays disabled with the list shown.
Numbers are typed as text and read with the parameter's type, so `2.7` in a whole-number field is an
error, not 27. Only the fields the chosen runtime and framework use are shown. Below Run, the latest
run's live status and a compact list of the earlier ones (not a growing pile of status boxes).
"""

from __future__ import annotations

import threading
import weakref
from html import escape
from typing import Any, Mapping

import ipywidgets as w

from submarine_kernel import render
from submarine_kernel.errors import SubmarineError, ValidationError, field_of, form_words
from submarine_kernel.params import ParamDecl
from submarine_kernel.runtimes.base import runtime_names
from submarine_kernel.request import RunRequest
from submarine_kernel.spec import DECIDING_ROLES, FRAMEWORK_ROLES, FRAMEWORKS, ROLE_NAMES
from submarine_kernel.sweep import SweepScheduler, expand, parse_space, start_sweep
from submarine_kernel.throttle import UpdateBatcher

from .common import LABEL_STYLE, FallbackBundle, flag_html, problems_html
from .param_fields import param_hint_widget, param_widget, sweep_example
from .runs_table import earlier_runs_html
from .status import JobStatusView

MODES = ("single run", "grid", "random")
#: the roles with a resource field (the form asks for no evaluators); each framework shows only its own
RESOURCE_ROLES = ("default", *(role for role in ROLE_NAMES if role != "evaluator"))
#: runtimes that run no container image
IMAGELESS_RUNTIMES = ("local",)
#: earlier runs listed below the latest one (the history has them all)
EARLIER_RUNS_SHOWN = 20
_last_forms: "weakref.WeakKeyDictionary[Any, ParameterForm]" = weakref.WeakKeyDictionary()


def last_form(session) -> "ParameterForm | None":
    """The form most recently made for this session (History's Re-run fills it)."""
    return _last_forms.get(session)


def _text(description: str, value: str = "", placeholder: str = "", width: str = "520px") -> w.Text:
    return w.Text(value=value, description=description, placeholder=placeholder, style=LABEL_STYLE,
                  continuous_update=False, layout=w.Layout(width=width))


class ParameterForm(FallbackBundle, w.VBox):
    """A form for one job: edit fields and params, then Run (one job, a grid or a random search)."""

    def __init__(self, session, request: RunRequest | None = None,
                 params: Mapping[str, ParamDecl] | None = None, concurrency: int = 2):
        self.session = session
        request = request or RunRequest()
        self.decls: dict[str, ParamDecl] = dict(params or {})
        self.jobs: list = []
        self.sweeps: list[SweepScheduler] = []
        self._filling = False  # no checks while fill() sets many fields
        runtimes = runtime_names()
        runtime = request.runtime or session.settings.runtime
        self.fields: dict[str, w.ValueWidget] = {
            "command": _text("launch command", request.command, "python train.py --lr {lr}", "720px"),
            "name": _text("job name", request.name, "default: <user>-<notebook>-<suffix>"),
            "runtime": w.Dropdown(options=sorted(set(runtimes) | {runtime}), value=runtime,
                                  description="runtime", style=LABEL_STYLE),
            "framework": w.Dropdown(options=list(FRAMEWORKS),
                                    value=request.framework or session.settings.framework,
                                    description="framework", style=LABEL_STYLE),
            "workers": w.IntText(value=request.workers, description="workers", style=LABEL_STYLE,
                                 continuous_update=False),
            "ps": w.IntText(value=request.ps, description="parameter servers", style=LABEL_STYLE,
                            continuous_update=False),
            "chief": w.Checkbox(value=request.chief, description="TensorFlow chief", style=LABEL_STYLE,
                                layout=w.Layout(width="420px")),
            "image": _text("image", request.image, session.settings.image or "cluster runtimes only"),
            "input_path": _text("input path", request.input_path, "SUBMARINE_INPUT_PATH"),
            "checkpoint_path": _text("checkpoint path", request.checkpoint_path, "SUBMARINE_CHECKPOINT_PATH"),
            "clean_checkpoint": w.Checkbox(value=request.clean_checkpoint, style=LABEL_STYLE,
                                           description="clean checkpoint before the run",
                                           layout=w.Layout(width="420px")),
        }
        for role in RESOURCE_ROLES:
            label = "resources" if role == "default" else f"{role} resources"
            self.fields[f"resources.{role}"] = _text(label, request.resources.get(role, ""),
                                                     "memory=4G,vcores=2,gpu=0" if role == "default" else
                                                     "as above")
        self.rerun_of = request.rerun_of
        self.param_fields = {name: param_widget(decl, request.params.get(name)) for name, decl in self.decls.items()}
        self.param_hints = {name: param_hint_widget(decl) for name, decl in self.decls.items()}
        # the sweep boxes check (and count the runs) as the user types, not only on Enter
        self.sweep_fields = {name: _text("", "", sweep_example(decl, "grid"), "300px")
                             for name, decl in self.decls.items()}
        for field in self.sweep_fields.values():
            field.continuous_update = True
        self.flags: dict[str, w.HTML] = {name: w.HTML() for name in [*self.fields, *self.decls]}
        self.mode = w.ToggleButtons(options=MODES, value="single run", description="run as", style=LABEL_STYLE)
        self.samples = w.IntText(value=4, description="random samples", style=LABEL_STYLE, continuous_update=False)
        self.concurrency = w.IntText(value=concurrency, description="at most at once", style=LABEL_STYLE,
                                     continuous_update=False)
        # early stopping (pruning.py): blank metric = every run goes to its end
        self.stop_metric = _text("stop early on", "", "metric, e.g. loss (blank: no early stopping)", "420px")
        self.stop_direction = w.Dropdown(options=[("lower is better", "min"), ("higher is better", "max")],
                                         value="min", description="", layout=w.Layout(width="150px"))
        self.stop_rule = w.Dropdown(options=[("median stopping", "median"), ("successive halving (ASHA)", "asha")],
                                    value="median", description="", layout=w.Layout(width="210px"))
        self.stopping_row = w.HBox([self.stop_metric, self.stop_direction, self.stop_rule])
        self.run_button = w.Button(description="Run", icon="play", button_style="primary",
                                   tooltip="submit with these values")
        self.run_button.add_class("submarine-run")
        self.message = w.HTML()
        self.sweep_preview = w.HTML()  # "6 runs will be submitted, at most 2 at once", before Run
        self.sweep_preview.add_class("submarine-sweep-preview")
        self.latest = w.VBox()      # the live status of the latest run, or of every running trial of a sweep
        self.earlier = w.HTML()     # one line per earlier run
        self.earlier.add_class("jp-RenderedHTMLCommon")
        self.sweep_summary = w.HTML()  # the heading of the sweep whose trials are shown below it
        self._shown_sweep: object | None = None  # that sweep's token (`_start_sweep`); None after a single run
        self._rows_lock = threading.RLock()  # sweeps start trials from the tracker's thread
        self.output = w.VBox([self.sweep_summary, self.latest, self.earlier])
        self._views: dict[str, JobStatusView] = {}
        self._job_keys: set[str] = set()
        self._earlier_batcher = UpdateBatcher(lambda _: self._render_earlier(), 1.0)
        self._remove_listener = session.tracker.listen(
            lambda ref, status: self._earlier_batcher.push({"changed": True}) if ref.key in self._job_keys else None)
        self.run_button.on_click(lambda _: self.run())
        for widget in [*self.fields.values(), *self.param_fields.values(), *self.sweep_fields.values(),
                       self.mode, self.samples, self.concurrency, self.stop_metric, self.stop_direction,
                       self.stop_rule]:
            widget.observe(lambda _: self._filling or self.check(), names="value")
        self.mode.observe(lambda _: self._show_sweep_fields(), names="value")
        for key in ("runtime", "framework", "ps", "chief", "workers"):
            self.fields[key].observe(lambda _: self._show_job_fields(), names="value")
        super().__init__(children=self._layout(), layout=w.Layout(border="1px solid #d0d7de", padding="8px"))
        self.add_class("submarine-form")
        self._show_sweep_fields()
        self._show_job_fields()
        self.check()
        _last_forms[session] = self

    def _row(self, key: str, widget: w.Widget, *extra: w.Widget) -> w.HBox:
        row = w.HBox([widget, *extra, self.flags[key]])
        self.rows[key] = row
        return row

    def _layout(self) -> list[w.Widget]:
        self.rows: dict[str, w.HBox] = {}
        job = [self._row(k, self.fields[k]) for k in ("command", "name", "runtime", "framework", "workers", "ps",
                                                       "chief", "image", "input_path", "checkpoint_path",
                                                       "clean_checkpoint")]
        resources = [self._row(f"resources.{r}", self.fields[f"resources.{r}"]) for r in RESOURCE_ROLES]
        params = [self._row(n, self.param_fields[n], self.param_hints[n], self.sweep_fields[n])
                  for n in self.decls] or \
            [w.HTML("<i>no parameters: tag a cell <code>parameters</code> or use %submarine param NAME=VALUE</i>")]
        return [w.HTML("<b>Submarine job</b>"), *job, w.HTML("<b>Resources</b>"), *resources,
                w.HTML("<b>Parameters</b>"), *params, w.HTML("<b>Run</b>"), self.mode,
                w.HBox([self.samples, self.concurrency]), self.stopping_row,
                w.HBox([self.run_button, self.sweep_preview]), self.message,
                self.output]

    def _show_sweep_fields(self) -> None:
        sweeping = self.mode.value != "single run"
        for name, field in self.sweep_fields.items():
            field.layout.display = None if sweeping else "none"
            field.placeholder = sweep_example(self.decls[name], self._sweep_mode())
        self.samples.layout.display = None if self.mode.value == "random" else "none"
        self.concurrency.layout.display = None if sweeping else "none"
        self.stopping_row.layout.display = None if sweeping else "none"

    def shown_roles(self) -> tuple[str, ...]:
        """The roles whose resource fields the chosen framework (and ps/chief choice) uses."""
        f = self.fields
        roles = FRAMEWORK_ROLES.get(f["framework"].value, (*DECIDING_ROLES, "ps"))
        return tuple(r for r in roles if (r != "ps" or f["ps"].value > 0) and (r != "chief" or f["chief"].value))

    def _show_job_fields(self) -> None:
        """Hide what the runtime and framework do not use (ps/chief outside TensorFlow, image for local)."""
        f = self.fields
        tensorflow = f["framework"].value == "tensorflow"
        visible = {"ps": tensorflow, "chief": tensorflow, "image": f["runtime"].value not in IMAGELESS_RUNTIMES}
        roles = self.shown_roles()
        visible.update({f"resources.{r}": r in roles for r in RESOURCE_ROLES if r != "default"})
        for key, shown in visible.items():
            self.rows[key].layout.display = None if shown else "none"

    # -- values ------------------------------------------------------------------------------------------
    def param_values(self) -> tuple[dict[str, Any], list[str]]:
        """Each param's value read with its type, and the problems of those that cannot be read (the
        text is kept for them, so the form still shows what was typed)."""
        values, found = {}, []
        for name, widget in self.param_fields.items():
            decl = self.decls[name]
            try:
                values[name] = decl.coerce(widget.value) if isinstance(widget, w.Text) else widget.value
            except ValidationError as exc:
                values[name] = widget.value
                found.extend(exc.problems)
        return values, found

    def request(self) -> RunRequest:
        """The form's values as a RunRequest; hidden fields (not used by the framework/runtime) are left out."""
        f = self.fields
        tensorflow = f["framework"].value == "tensorflow"
        roles = ("default", *self.shown_roles())
        return RunRequest(
            command=f["command"].value, name=f["name"].value, runtime=f["runtime"].value,
            framework=f["framework"].value, workers=f["workers"].value, ps=f["ps"].value if tensorflow else 0,
            chief=f["chief"].value and tensorflow,
            resources={r: f[f"resources.{r}"].value for r in roles if f[f"resources.{r}"].value},
            image="" if f["runtime"].value in IMAGELESS_RUNTIMES else f["image"].value,
            input_path=f["input_path"].value, checkpoint_path=f["checkpoint_path"].value,
            clean_checkpoint=f["clean_checkpoint"].value, params=self.param_values()[0], rerun_of=self.rerun_of)

    def fill(self, request: RunRequest) -> None:
        """Put a request's values into the form (Re-run from the history): one run with those values, so
        the mode goes back to single run and sweep values are cleared; unknown params are ignored."""
        self._filling = True
        try:
            self.mode.value = "single run"
            for field in self.sweep_fields.values():
                field.value = ""
            self.rerun_of = request.rerun_of
            self._fill(request)
        finally:
            self._filling = False
        self.check()

    def _fill(self, request: RunRequest) -> None:
        f = self.fields
        for key in ("command", "image", "input_path", "checkpoint_path"):
            f[key].value = getattr(request, key) or ""
        f["name"].value = ""  # a re-run is a new job
        if request.runtime:
            if request.runtime not in f["runtime"].options:
                f["runtime"].options = [*f["runtime"].options, request.runtime]
            f["runtime"].value = request.runtime
        if request.framework:
            f["framework"].value = request.framework
        f["workers"].value, f["ps"].value, f["chief"].value = request.workers, request.ps, request.chief
        f["clean_checkpoint"].value = request.clean_checkpoint
        for role in RESOURCE_ROLES:
            f[f"resources.{role}"].value = request.resources.get(role, "")
        for name, value in request.params.items():
            widget = self.param_fields.get(name)
            if widget is not None and not self.decls[name].problems(value):
                widget.value = str(value) if isinstance(widget, w.Text) else value

    # -- checks ------------------------------------------------------------------------------------------
    def problems(self) -> list[str]:
        """Every problem of the current values (and of the sweep fields when sweeping)."""
        values, found = self.param_values()
        unreadable = {name for name, value in values.items() if value is self.param_fields[name].value
                      and isinstance(self.param_fields[name], w.Text) and self.decls[name].kind in ("int", "float")
                      and any(field_of(p) == self.decls[name].field for p in found)}
        decls = {n: d for n, d in self.decls.items() if n not in unreadable}  # said once, above
        try:
            found += [p for p in self.session.check(self.request(), decls) if p not in found]
        except ValidationError as exc:
            found += list(exc.problems)
        if self.mode.value != "single run":
            try:
                self._sweep_runs()
            except ValidationError as exc:
                found += [p for p in exc.problems if p not in found]
            try:
                self.early_stopping()
            except ValidationError as exc:
                found += [p for p in exc.problems if p not in found]
            if self.concurrency.value < 1:
                found.append(f"at most at once must be 1 or more, not {self.concurrency.value}")
        return found

    def check(self) -> list[str]:
        """Flag problems beside their fields and enable Run only when there are none."""
        found = self.problems()
        by_field: dict[str, list[str]] = {}
        for problem in found:
            field = field_of(problem)
            # a param's flag is its name; beside its field a problem needs no label
            by_field.setdefault(field.removeprefix("params."), []).append(form_words(problem) or problem)
        for key, flag in self.flags.items():
            html = flag_html(by_field.get(key, []))
            if flag.value != html:
                flag.value = html
        self.run_button.disabled = bool(found)
        self.message.value = problems_html([self.form_text(p) for p in found])
        self._preview_sweep(found)
        return found

    def _preview_sweep(self, found: list[str]) -> None:
        """How many runs Run would submit, while sweeping and nothing is wrong (else nothing is promised)."""
        text = ""
        if self.mode.value != "single run" and not found:
            count = len(self._sweep_runs())
            stopping = self.early_stopping()
            text = (f"{count} run{'s' if count != 1 else ''} will be submitted, at most {self.concurrency.value} at "
                    f"once" + (f"; trials losing on {stopping.metric} are stopped early" if stopping else ""))
        html = f"<small>{escape(text)}</small>" if text else ""
        if self.sweep_preview.value != html:
            self.sweep_preview.value = html

    def form_text(self, problem: str) -> str:
        """A problem in the form's words: `Workers: must be at least 1` where the problem has words for forms
        (`Problem.form`), else as it is (its words name no command-line flag)."""
        words = form_words(problem)
        if not words:
            return str(problem)
        field = field_of(problem)
        widget = self.fields.get(field)
        label = widget.description if widget is not None and widget.description else field.removeprefix("params.")
        return f"{label[:1].upper()}{label[1:]}: {words}"

    def _sweep_mode(self) -> str:
        return "grid" if self.mode.value == "grid" else "random"

    def _sweep_texts(self) -> dict[str, str]:
        return {n: f.value for n, f in self.sweep_fields.items()}

    def _sweep_runs(self) -> list[dict]:
        base = self.request().params
        return expand(self._sweep_mode(), self._sweep_texts(), self.decls, base, self.samples.value)

    def early_stopping(self):
        """The sweep's stopping rule (pruning.EarlyStopping), or None when no metric is given."""
        if not self.stop_metric.value.strip():
            return None
        from submarine_kernel.pruning import EarlyStopping

        return EarlyStopping(self.stop_metric.value.strip(), self.stop_direction.value, self.stop_rule.value)

    # -- run ---------------------------------------------------------------------------------------------
    def run(self) -> list:
        """Submit what the form says; returns the jobs submitted now (a sweep submits the rest later)."""
        found = self.check()
        if found:
            return []
        try:
            if self.mode.value == "single run":
                job = self.session.run(self.request(), param_decls=self.decls)
                self._started(job, sweep=None)
                return [job]
            return self._start_sweep()
        except SubmarineError as exc:  # what only a submission finds (a runtime's refusal), in the form's words too
            found = exc.problems if isinstance(exc, ValidationError) else [str(exc)]
            self.message.value = problems_html([self.form_text(p) for p in found])
            return []

    def _started(self, job, sweep: object | None) -> None:
        """Show the new run's live status. A single run takes the place of every live row (they join the compact
        list of earlier runs, and the sweep's heading goes); a trial of the shown sweep gets a row beside the
        sweep's running trials, taking only the places of trials that ended. A trial of a sweep the form no
        longer shows (a single run came after it) is listed without a live row."""
        with self._rows_lock:
            self.jobs.append(job)
            self._job_keys.add(job.ref.key)
            self.message.value = f"<small>submitted <b>{escape(job.name)}</b> to {escape(job.ref.runtime)} with " \
                                 f"{escape(render.params_text(job.spec.params) or 'no params')}</small>"
            if sweep is None:
                self._shown_sweep = None
                self.sweep_summary.value = ""
            if sweep is None or sweep is self._shown_sweep:
                kept = {key: view for key, view in self._views.items() if sweep is not None and self._running(view)}
                for key, view in self._views.items():
                    if key not in kept:
                        view.close()
                kept[job.ref.key] = JobStatusView(self.session, job.ref, self.session.tracker.last(job.ref))
                self._views = kept
                self.latest.children = list(kept.values())  # works from any thread
            self._render_earlier()

    def _running(self, view: JobStatusView) -> bool:
        """Whether a trial's row is still live: its job has not ended (the tracker knows first: a sweep starts
        its next trial on the tracker's word, before the view has taken it in)."""
        last = self.session.tracker.last(view.ref)
        return not (view.finished or view.status.terminal or (last is not None and last.terminal))

    def _render_earlier(self) -> None:
        self.earlier.value = self.earlier_html()

    def earlier_html(self) -> str:
        """One line per earlier run of this form (those without a live row), newest first: name, state, params,
        last metrics."""
        with self._rows_lock:
            earlier = [job for job in self.jobs if job.ref.key not in self._views][::-1]
        return earlier_runs_html(self.session, earlier, EARLIER_RUNS_SHOWN)

    def _start_sweep(self) -> list:
        sweep = self._shown_sweep = object()  # its trials' rows and heading show until a single run comes after
        summary = self.sweep_summary

        def started(job) -> None:
            self._started(job, sweep)

        def changed(scheduler: SweepScheduler) -> None:
            with self._rows_lock:
                if sweep is self._shown_sweep:
                    summary.value = f"<b>{escape(scheduler.summary())}</b>" + problems_html(scheduler.problems())

        scheduler = start_sweep(self.session, self.request(), self.decls, self._sweep_mode(),
                                parse_space(self._sweep_mode(), self._sweep_texts(), self.decls),
                                self.samples.value, stopping=self.early_stopping(), limit=self.concurrency.value,
                                on_submit=started, on_change=changed)
        self.sweeps.append(scheduler)
        return list(scheduler.jobs)

    # -- fallbacks ---------------------------------------------------------------------------------------
    def _rows(self) -> list[list[str]]:
        request = self.request()
        rows = [["launch command", request.command], ["runtime", request.runtime], ["workers", request.workers],
                ["parameter servers", request.ps], ["input path", request.input_path],
                ["checkpoint path", request.checkpoint_path]]
        rows += [[f"{r} resources" if r != "default" else "resources", t] for r, t in request.resources.items()]
        return rows + [[f"param {k}", v] for k, v in request.params.items()]

    def latest_view(self) -> JobStatusView | None:
        return next(reversed(self._views.values()), None)

    def fallback_html(self) -> str:
        runs = "".join(view.fallback_html() for view in list(self._views.values())) + self.earlier_html()
        return ('<div class="submarine-form-static"><div><b>Submarine parameter form</b> (needs a running kernel '
                "and a widget frontend to edit; its last values):</div>"
                + render.table_html(["field", "value"], self._rows()) + runs + "</div>")

    def fallback_text(self) -> str:
        return "Submarine parameter form (needs a widget frontend to edit)\n" + \
            render.table_text(["field", "value"], self._rows()) + \
            "".join("\n" + view.fallback_text() for view in list(self._views.values()))

    def close(self) -> None:
        self._remove_listener()
        self._earlier_batcher.close()
        for view in self._views.values():
            view.close()
        super().close()
