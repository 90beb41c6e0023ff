"""The parameter form: job fields and the notebook's hyperparameters; Run submits one job or a sweep.

Values are checked on every change with the same rules `%submarine run` uses (`launch.problems`, i.e.
`Session.build`); a problem is flagged beside its field and Run stays disabled with the list shown.
"""

from __future__ import annotations

import os
import threading
import weakref
from html import escape
from typing import Any, Mapping

import ipywidgets as w

from submarine_kernel import launch, render
from submarine_kernel.errors import SubmarineError, ValidationError
from submarine_kernel.params import ParamDecl
from submarine_kernel.runtimes.base import runtime_names
from submarine_kernel.spec import FRAMEWORKS
from submarine_kernel.sweep import SweepScheduler, expand

from .common import LABEL_STYLE, FallbackBundle, flag_html, problems_html
from .status import JobStatusView

MODES = ("single run", "grid", "random")
_last_forms: "weakref.WeakKeyDictionary[Any, ParameterForm]" = weakref.WeakKeyDictionary()


def last_form(session) -> "ParameterForm | None":
    """The form most recently made for this session (History's Re-run fills it)."""
    return _last_forms.get(session)


def param_widget(decl: ParamDecl, value: Any = None) -> w.ValueWidget:
    """The input widget for one parameter, following its kind."""
    value = decl.default if value is None else value
    common = {"description": decl.name, "style": LABEL_STYLE, "continuous_update": False}
    if decl.kind == "choice":
        return w.Dropdown(options=list(decl.choices), value=value, description=decl.name, style=LABEL_STYLE)
    if decl.kind == "bool":
        return w.Checkbox(value=bool(value), description=decl.name, style=LABEL_STYLE, indent=True,
                          layout=w.Layout(width="420px"))
    if decl.kind == "int":
        return w.IntText(value=int(value), **common)
    if decl.kind == "float":
        return w.FloatText(value=float(value), **common)
    return w.Text(value=str(value), **common)


def _text(description: str, value: str = "", placeholder: str = "", width: str = "520px") -> w.Text:
    return w.Text(value=value, description=description, placeholder=placeholder, style=LABEL_STYLE,
                  continuous_update=False, layout=w.Layout(width=width))


class ParameterForm(FallbackBundle, w.VBox):
    """A form for one job: edit fields and params, then Run (one job, a grid or a random search)."""

    def __init__(self, session, request: launch.RunRequest | None = None,
                 params: Mapping[str, ParamDecl] | None = None, concurrency: int = 2):
        self.session = session
        request = request or launch.RunRequest()
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
        for role in launch.RESOURCE_ROLES:
            label = "resources" if role == "default" else f"{role} resources"
            self.fields[f"resources.{role}"] = _text(label, request.resources.get(role, ""),
                                                     "memory=4G,vcores=2,gpu=0" if role == "default" else
                                                     "as above")
        self.param_fields = {name: param_widget(decl, request.params.get(name)) for name, decl in self.decls.items()}
        self.sweep_fields = {name: _text("", "", "grid: 0.01, 0.1 · random: 0.001..0.1", "300px")
                             for name in self.decls}
        self.flags: dict[str, w.HTML] = {name: w.HTML() for name in [*self.fields, *self.decls]}
        self.mode = w.ToggleButtons(options=MODES, value="single run", description="run as", style=LABEL_STYLE)
        self.samples = w.IntText(value=4, description="random samples", style=LABEL_STYLE, continuous_update=False)
        self.concurrency = w.IntText(value=concurrency, description="at most at once", style=LABEL_STYLE,
                                     continuous_update=False)
        self.run_button = w.Button(description="Run", icon="play", button_style="primary",
                                   tooltip="submit with these values")
        self.run_button.add_class("submarine-run")
        self.message = w.HTML()
        self.output = w.Output()
        self.run_button.on_click(lambda _: self.run())
        for widget in [*self.fields.values(), *self.param_fields.values(), *self.sweep_fields.values(),
                       self.mode, self.samples, self.concurrency]:
            widget.observe(lambda _: self._filling or self.check(), names="value")
        self.mode.observe(lambda _: self._show_sweep_fields(), names="value")
        super().__init__(children=self._layout(), layout=w.Layout(border="1px solid #d0d7de", padding="8px"))
        self.add_class("submarine-form")
        self._show_sweep_fields()
        self.check()
        _last_forms[session] = self

    def _row(self, key: str, widget: w.Widget, extra: w.Widget | None = None) -> w.HBox:
        return w.HBox([widget, *([extra] if extra else []), self.flags[key]])

    def _layout(self) -> list[w.Widget]:
        job = [self._row(k, self.fields[k]) for k in ("command", "name", "runtime", "framework", "workers", "ps",
                                                       "chief", "image", "input_path", "checkpoint_path",
                                                       "clean_checkpoint")]
        resources = [self._row(f"resources.{r}", self.fields[f"resources.{r}"]) for r in launch.RESOURCE_ROLES]
        params = [self._row(n, self.param_fields[n], self.sweep_fields[n]) for n in self.decls] or \
            [w.HTML("<i>no parameters: tag a cell <code>parameters</code> or use %submarine param NAME=VALUE</i>")]
        return [w.HTML("<b>Submarine job</b>"), *job, w.HTML("<b>Resources</b>"), *resources,
                w.HTML("<b>Parameters</b>"), *params, w.HTML("<b>Run</b>"), self.mode,
                w.HBox([self.samples, self.concurrency]), w.HBox([self.run_button]), self.message, self.output]

    def _show_sweep_fields(self) -> None:
        sweeping = self.mode.value != "single run"
        for field in self.sweep_fields.values():
            field.layout.display = None if sweeping else "none"
            field.placeholder = "values: 0.01, 0.1, 0.5" if self.mode.value == "grid" else \
                "range 0.001..0.1, log:1e-4..1e-1, or values a, b"
        self.samples.layout.display = None if self.mode.value == "random" else "none"
        self.concurrency.layout.display = None if sweeping else "none"

    # -- values ------------------------------------------------------------------------------------------
    def request(self) -> launch.RunRequest:
        """The form's values as a RunRequest."""
        f = self.fields
        return launch.RunRequest(
            command=f["command"].value, name=f["name"].value, runtime=f["runtime"].value,
            framework=f["framework"].value, workers=f["workers"].value, ps=f["ps"].value, chief=f["chief"].value,
            resources={r: f[f"resources.{r}"].value for r in launch.RESOURCE_ROLES if f[f"resources.{r}"].value},
            image=f["image"].value, input_path=f["input_path"].value, checkpoint_path=f["checkpoint_path"].value,
            clean_checkpoint=f["clean_checkpoint"].value,
            params={name: self.decls[name].coerce(widget.value) if self.decls[name].kind == "str" else widget.value
                    for name, widget in self.param_fields.items()})

    def fill(self, request: launch.RunRequest) -> None:
        """Put a request's values into the form (Re-run from the history); unknown params are ignored."""
        self._filling = True
        try:
            self._fill(request)
        finally:
            self._filling = False
        self.check()

    def _fill(self, request: launch.RunRequest) -> None:
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
        for role in launch.RESOURCE_ROLES:
            f[f"resources.{role}"].value = request.resources.get(role, "")
        for name, value in request.params.items():
            widget = self.param_fields.get(name)
            if widget is not None and not self.decls[name].problems(value):
                widget.value = value

    # -- checks ------------------------------------------------------------------------------------------
    def problems(self) -> list[str]:
        """Every problem of the current values (and of the sweep fields when sweeping)."""
        try:
            found = launch.problems(self.session, self.request(), self.decls)
        except ValidationError as exc:
            found = list(exc.problems)
        if self.mode.value != "single run":
            try:
                self._sweep_runs()
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
            field = launch.problem_field(problem)
            if field == "resources":
                roles = [r for r in launch.RESOURCE_ROLES if r != "default" and f"{r} resources" in problem]
                field = f"resources.{roles[0] if roles else 'default'}"
            by_field.setdefault(field, []).append(problem)
        for key, flag in self.flags.items():
            html = flag_html(by_field.get(key, []))
            if flag.value != html:
                flag.value = html
        self.run_button.disabled = bool(found)
        self.message.value = problems_html(found)
        return found

    def _sweep_runs(self) -> list[dict]:
        base = self.request().params
        return expand("grid" if self.mode.value == "grid" else "random",
                      {n: f.value for n, f in self.sweep_fields.items()}, self.decls, base, self.samples.value)

    # -- run ---------------------------------------------------------------------------------------------
    def run(self) -> list:
        """Submit what the form says; returns the jobs submitted now (a sweep submits the rest later)."""
        found = self.check()
        if found:
            return []
        try:
            if self.mode.value == "single run":
                job = launch.launch(self.session, self.request(), self.decls)
                self._started(job)
                return [job]
            return self._start_sweep()
        except SubmarineError as exc:
            self.message.value = problems_html([str(exc)])
            return []

    def _started(self, job) -> None:
        self.jobs.append(job)
        self.message.value = f"<small>submitted <b>{escape(job.name)}</b> to {escape(job.ref.runtime)} with " \
                             f"{escape(render.params_text(job.spec.params) or 'no params')}</small>"
        # append_display_data works from any thread (sweeps submit from the tracker thread)
        self.output.append_display_data(JobStatusView(self.session, job.ref, self.session.tracker.last(job.ref)))

    def _start_sweep(self) -> list:
        runs = self._sweep_runs()
        request = self.request()
        summary = w.HTML()
        self.output.append_display_data(summary)
        lock = threading.Lock()

        def submit(params):
            name = self.session.default_name()
            # parallel runs must not share a checkpoint folder: each gets its own below the given one
            checkpoint = request.checkpoint_path and os.path.join(request.checkpoint_path, name)
            job = launch.launch(self.session, request.with_changes(params=params, name=name,
                                                                   checkpoint_path=checkpoint), self.decls)
            with lock:
                self._started(job)
            return job

        def changed(scheduler: SweepScheduler) -> None:
            summary.value = f"<b>{escape(scheduler.summary())}</b>" + problems_html(scheduler.errors)

        scheduler = SweepScheduler(self.session.tracker, runs, submit, self.concurrency.value, changed)
        self.sweeps.append(scheduler)
        scheduler.start()
        return list(scheduler.jobs)

    # -- fallbacks ---------------------------------------------------------------------------------------
    def _rows(self) -> list[list[str]]:
        request = self.request()
        rows = [["launch command", request.command], ["runtime", request.runtime], ["workers", request.workers],
                ["parameter servers", request.ps], ["input path", request.input_path],
                ["checkpoint path", request.checkpoint_path]]
        rows += [[f"{r} resources" if r != "default" else "resources", t] for r, t in request.resources.items()]
        return rows + [[f"param {k}", v] for k, v in request.params.items()]

    def fallback_html(self) -> str:
        return ("<div><b>Submarine parameter form</b> (needs a widget frontend to edit; values now):</div>"
                + render.table_html(["field", "value"], self._rows()))

    def fallback_text(self) -> str:
        return "Submarine parameter form (needs a widget frontend to edit)\n" + \
            render.table_text(["field", "value"], self._rows())
