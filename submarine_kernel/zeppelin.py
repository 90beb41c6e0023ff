"""Zeppelin notes → notebooks (`submarine-kernel import-zeppelin NOTE`).

Reads a note in either format Zeppelin wrote (one `<name>_<id>.zpln` file from 0.9 on; `<id>/note.json` in 0.7
and 0.8) and builds an .ipynb for the Submarine kernel: `%submarine.python` / `%submarine.sh` paragraphs become
`%%submarine.python TITLE` / `%%submarine.sh TITLE` cells (the title is the algorithm file's name, as Zeppelin's
interpreter uploaded it), `%md` becomes markdown, any other interpreter's paragraph a raw cell that names it, and
the job settings the Submarine interpreter kept (its dashboard's values in the note, its cluster-wide properties
in the interpreter setting) one `%submarine config` / `%submarine run` cell. Outputs are dropped.

Problems of single paragraphs are warnings (one line each) and the rest is still imported; a file that is not a
note is one error and nothing is written. The notebook is written to a temporary file and renamed into place.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from .algorithm import CELL_MAGICS, validate_title
from .errors import SubmarineError, TitleError

#: a paragraph's interpreter binding on its first line: `%md`, `%spark.pyspark`, `%submarine.sh(k=v)`
_BINDING = re.compile(r"^[ \t]*%(?P<name>[\w.]+)(?:\((?P<props>[^)\n]*)\))?(?=\s|$)")
#: the note id at the end of a 0.9+ file name: `1. IPython Basic_2EYDJKFFY.zpln`
_ZPLN_NAME = re.compile(r"^(?P<name>.*)_(?P<id>[A-Za-z0-9]+)\.zpln$")

#: a Zeppelin interpreter that becomes a cell magic → the magic's kind
CELL_KINDS = {magic: magic.split(".", 1)[1] for magic in CELL_MAGICS}
MARKDOWN = "md"
DASHBOARD = "submarine"

#: what the Submarine interpreter read from its setting (docs/interpreter/submarine.md, SubmarineConstants)
PROPERTIES = {
    "tf.parameter.services.num": "number of parameter servers (distributed jobs)",
    "tf.parameter.services.cpu": "vcores of each parameter server",
    "tf.parameter.services.memory": "memory of each parameter server, e.g. 2G",
    "tf.parameter.services.gpu": "GPUs of each parameter server",
    "tf.parameter.services.docker.image": "image of the parameter servers",
    "tf.worker.services.num": "number of workers (distributed jobs)",
    "tf.worker.services.cpu": "vcores of each worker",
    "tf.worker.services.memory": "memory of each worker, e.g. 4G",
    "tf.worker.services.gpu": "GPUs of each worker",
    "tf.worker.services.docker.image": "image of the workers",
    "tf.checkpoint.path": "checkpoint root; a note's job used <root>/<note id>",
    "tf.tensorboard.enable": "whether a TensorBoard was started",
    "machinelearing.distributed.enable": "distributed job (PS and workers) instead of one worker",
    "submarine.yarn.queue": "YARN queue",
    "submarine.algorithm.hdfs.path": "where the algorithm files were uploaded",
}
#: spelled both ways in the interpreter's releases
_DISTRIBUTED_KEYS = ("machinelearing.distributed.enable", "machinelearning.distributed.enable")

#: the dashboard's values as the note keeps them: angular objects of the `%submarine` paragraph (the dashboard
#: the interpreter drew), or dynamic form params (its first, form-based UI, and the names the project notes use)
NOTE_VALUES = {
    "job_name": ("JOB_NAME",),
    "input_path": ("INPUT_PATH", "TF_INPUT_PATH", "Input Path(input_path)"),
    "checkpoint_path": ("CHECKPOINT_PATH", "TF_CHECKPOINT_PATH", "Checkpoint Path(checkpoint_path)"),
    "ps_command": ("PS_LAUNCH_CMD", "TF_PS_LAUNCH_CMD", "PS Launch Command"),
    "worker_command": ("WORKER_LAUNCH_CMD", "TF_WORKER_LAUNCH_CMD", "Worker Launch Command"),
    "clean_checkpoint": ("CLEAN_CHECKPOINT",),
    "distributed": ("MACHINELEARING_DISTRIBUTED_ENABLE", "MACHINELEARNING_DISTRIBUTED_ENABLE"),
}
#: Hadoop Submarine's launch-command placeholders → the environment every replica gets (contract.py)
_COMMAND_PLACEHOLDERS = {"%input_path%": "$SUBMARINE_INPUT_PATH", "%checkpoint_path%": "$SUBMARINE_CHECKPOINT_PATH"}
LAUNCHER_TITLE = "zeppelin_launch.sh"


class NoteError(SubmarineError):
    """A file that is not a Zeppelin note, or options that cannot apply to it."""


@dataclass
class Note:
    """A note as read from disk: its id, name, format and JSON object."""

    path: Path
    id: str
    name: str
    format: str  # "zpln" or "note.json"
    data: dict


@dataclass
class Paragraph:
    index: int
    id: str
    title: str
    interpreter: str | None
    explicit: bool  # the text names its interpreter (else the note's default applies)
    body: str  # the text without its binding
    text: str
    raw: dict = field(repr=False, default_factory=dict)


@dataclass
class Imported:
    """The notebook and what the import said about the note."""

    notebook: Any
    warnings: list[str]
    note: Note

    def summary(self) -> str:
        kinds: dict[str, int] = {}
        for cell in self.notebook.cells:
            kinds[cell.cell_type] = kinds.get(cell.cell_type, 0) + 1
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        return f"{len(self.notebook.cells)} cells ({counts}) from Zeppelin note {self.note.name!r} ({self.note.id})"


# -- reading ------------------------------------------------------------------------------------------
def read_note(path: str | Path) -> Note:
    """The note at `path` (a .zpln file, a note.json, or a 0.7/0.8 note folder holding note.json)."""
    path = Path(path)
    if path.is_dir():
        if not (path / "note.json").is_file():
            raise NoteError(f"{str(path)!r} is a folder without note.json: give the note's .zpln or note.json file")
        path = path / "note.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NoteError(f"note {str(path)!r} does not exist: check the path") from None
    except UnicodeDecodeError:
        raise NoteError(f"{str(path)!r} is not UTF-8 text: give a Zeppelin note (.zpln or note.json)") from None
    except OSError as exc:
        raise NoteError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NoteError(f"{str(path)!r} is not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}): "
                        "give a Zeppelin note (.zpln or note.json)") from None
    if not isinstance(data, dict):
        raise NoteError(f"{str(path)!r} holds a JSON {type(data).__name__}, not a Zeppelin note object")
    paragraphs = data.get("paragraphs")
    if "paragraphs" not in data or not isinstance(paragraphs, list):
        raise NoteError(f"{str(path)!r} has no 'paragraphs' list: it is JSON but not a Zeppelin note")
    if not paragraphs:
        raise NoteError(f"note {str(path)!r} has no paragraphs: nothing to import")
    match = _ZPLN_NAME.match(path.name)
    if path.suffix == ".zpln":
        note_id = match.group("id") if match else _text(data.get("id"))
        name = match.group("name") if match else path.stem
        fmt = "zpln"
    else:
        note_id = _text(data.get("id")) or path.parent.name
        name = _text(data.get("name")).rsplit("/", 1)[-1] or f"Note {note_id}"
        fmt = "note.json"
    return Note(path, note_id or "", name, fmt, data)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def paragraphs(note: Note, warn: Callable[[str], None]) -> list[Paragraph]:
    """The note's paragraphs with their interpreter; those that cannot be imported are warned about and left out."""
    default = _text(note.data.get("defaultInterpreterGroup")) or None
    found = []
    for index, raw in enumerate(note.data["paragraphs"]):
        where = f"paragraph [{index}]"
        if not isinstance(raw, dict):
            warn(f"{where} is a JSON {type(raw).__name__}, not a paragraph object: skipped")
            continue
        pid = _text(raw.get("id"))
        where += f" ({pid})" if pid else ""
        text = raw.get("text")
        if text is not None and not isinstance(text, str):
            warn(f"{where} has a {type(text).__name__} as its text, not a string: skipped")
            continue
        if not text or not text.strip():
            warn(f"{where} has no text: skipped")
            continue
        title = raw.get("title")
        if title is not None and not isinstance(title, str):
            warn(f"{where} has a {type(title).__name__} as its title: imported as untitled")
            title = ""
        match = _BINDING.match(text)
        if match:
            interpreter, explicit = match.group("name"), True
            first_rest, _, rest = text[match.end():].partition("\n")
            body = (first_rest.strip() + "\n" + rest) if first_rest.strip() else rest
        else:
            interpreter, explicit, body = default, False, text
        found.append(Paragraph(index, pid, (title or "").strip(), interpreter, explicit, body.strip("\n"), text, raw))
    return found


# -- the Submarine interpreter's settings --------------------------------------------------------------
def interpreter_properties(path: str | Path) -> dict[str, str]:
    """The Submarine interpreter setting's properties from Zeppelin's `conf/interpreter.json` (0.8+ keeps each
    property as `{name, value, type}`, 0.7 as a plain value)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NoteError(f"interpreter settings {str(path)!r} do not exist: give Zeppelin's conf/interpreter.json") \
            from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NoteError(f"cannot read {str(path)!r} as Zeppelin's conf/interpreter.json: {exc}") from None
    settings = data.get("interpreterSettings") if isinstance(data, dict) else None
    if not isinstance(settings, dict):
        raise NoteError(f"{str(path)!r} has no 'interpreterSettings': give Zeppelin's conf/interpreter.json")
    submarine = [s for s in settings.values() if isinstance(s, dict) and s.get("group") == "submarine"]
    if len(submarine) > 1:
        named = [s for s in submarine if s.get("name") == "submarine"]
        if len(named) != 1:
            names = ", ".join(sorted(str(s.get("name")) for s in submarine))
            raise NoteError(f"{str(path)!r} has {len(submarine)} submarine interpreter settings ({names}): "
                            "give the one the note used with --property KEY=VALUE instead")
        submarine = named
    if not submarine:
        raise NoteError(f"{str(path)!r} has no interpreter setting of the submarine group")
    properties = submarine[0].get("properties")
    out = {}
    for key, value in (properties if isinstance(properties, dict) else {}).items():
        value = value.get("value") if isinstance(value, dict) else value
        if key in PROPERTIES or key in _DISTRIBUTED_KEYS:
            out[key] = "" if value is None else str(value).strip()
    return out


def parse_properties(items: list[str]) -> dict[str, str]:
    """`--property KEY=VALUE` items; an unknown key or a malformed item is refused."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise NoteError(f"--property {item!r} is not KEY=VALUE: write e.g. --property tf.worker.services.num=2")
        if key not in PROPERTIES and key not in _DISTRIBUTED_KEYS:
            raise NoteError(f"unknown Submarine interpreter property {key!r}: use one of {', '.join(PROPERTIES)}")
        out[key] = value.strip()
    return out


@dataclass
class JobSettings:
    """What one Zeppelin job ran with, gathered from the note and the interpreter's properties."""

    values: dict[str, str]  # NOTE_VALUES keys → the note's value
    properties: dict[str, str]
    dashboard: Paragraph | None
    user: str

    def prop(self, key: str) -> str:
        if key in _DISTRIBUTED_KEYS:
            return next((self.properties[k] for k in _DISTRIBUTED_KEYS if self.properties.get(k)), "")
        return self.properties.get(key, "")

    @property
    def distributed(self) -> bool:
        text = self.values.get("distributed") or self.prop("machinelearing.distributed.enable")
        return text.strip().lower() == "true"

    def path(self, text: str) -> str:
        """`${username}` as the interpreter replaced it in paths."""
        return text.replace("${username}", self.user) if self.user else text


def job_settings(note: Note, found: list[Paragraph], properties: Mapping[str, str]) -> JobSettings:
    """The dashboard paragraph's values (its angular objects, else its form params) over the properties."""
    dashboards = [p for p in found if p.interpreter == DASHBOARD]
    dashboard = dashboards[0] if dashboards else None
    sources: list[Mapping[str, Any]] = []
    angular = note.data.get("angularObjects")
    if isinstance(angular, dict):
        objects = [o for group in angular.values() if isinstance(group, list) for o in group if isinstance(o, dict)]
        mine = {o.get("name"): o.get("object") for o in objects if dashboard and o.get("paragraphId") == dashboard.id}
        anyone = {o.get("name"): o.get("object") for o in objects}
        sources += [mine, anyone]
    for paragraph in dashboards:
        form = paragraph.raw.get("settings")
        params = form.get("params") if isinstance(form, dict) else None
        if isinstance(params, dict):
            sources.append(params)
    values = {}
    for key, names in NOTE_VALUES.items():
        for source in sources:
            value = next((source[n] for n in names if source.get(n) not in (None, "")), None)
            if value is not None:
                values[key] = str(value).strip()
                break
    user = _text(dashboard.raw.get("user")) if dashboard else ""
    return JobSettings(values, dict(properties), dashboard, user)


def launch_command(command: str) -> str:
    """A Zeppelin launch command for `%submarine run`: Hadoop Submarine's `%input_path%` and `%checkpoint_path%`
    become the environment variables every replica gets."""
    for placeholder, variable in _COMMAND_PLACEHOLDERS.items():
        command = command.replace(placeholder, variable)
    return " ".join(command.split("\n")).strip()


def settings_cell(settings: JobSettings, note: Note, runtime: str,
                  warn: Callable[[str], None]) -> tuple[str, str | None] | None:
    """The `%submarine config` / `%submarine run` cell and, when the parameter servers ran another command than
    the workers, a launcher script choosing by role; None (with a warning) when no launch command is known."""
    from .command_template import placeholders

    values = settings.values
    worker_command = launch_command(values.get("worker_command", ""))
    ps_command = launch_command(values.get("ps_command", ""))
    distributed = settings.distributed
    if not worker_command:
        warn("the note gives no worker launch command (the %submarine dashboard's Worker Launch Cmd): no "
             "%submarine run cell was written; add one, e.g. %submarine run -- python train.py")
        return None
    workers = _count(settings.prop("tf.worker.services.num"), "tf.worker.services.num", warn) if distributed else 1
    ps = _count(settings.prop("tf.parameter.services.num"), "tf.parameter.services.num", warn) if distributed else 0
    workers = max(workers or 1, 1)
    lines = [f"# The Submarine settings of Zeppelin note {note.name!r} ({note.id})"
             + (f", from its %submarine paragraph [{settings.dashboard.index}]" if settings.dashboard else "")
             + (" and the interpreter's properties" if settings.properties else "")]
    image = settings.prop("tf.worker.services.docker.image")
    ps_image = settings.prop("tf.parameter.services.docker.image")
    config = [f"runtime={shlex.quote(runtime)}", "framework=tensorflow"] + ([f"image={shlex.quote(image)}"] if image
                                                                            else [])
    if ps and ps_image and ps_image != image:
        warn(f"the parameter servers ran image {ps_image!r} and the workers {image!r}: the notebook uses the "
             "workers' image for every replica")
    options = [f"--workers {workers}"] + ([f"--ps {ps}"] if ps else [])
    for role, prefix in (("worker", "tf.worker.services"), ("ps", "tf.parameter.services")):
        if role == "ps" and not ps:
            continue
        parts = [(name, settings.prop(f"{prefix}.{key}")) for name, key in
                 (("memory", "memory"), ("vcores", "cpu"), ("gpu", "gpu"))]
        text = ",".join(f"{name}={value}" for name, value in parts if value)
        if text:
            options.append(f"--{role}-resources {shlex.quote(text)}")
    if values.get("input_path"):
        options.append(f"--input {shlex.quote(settings.path(values['input_path']))}")
    checkpoint = values.get("checkpoint_path") or (
        settings.prop("tf.checkpoint.path").rstrip("/") + "/" + note.id if settings.prop("tf.checkpoint.path") else "")
    if checkpoint:
        options.append(f"--checkpoint {shlex.quote(settings.path(checkpoint))}")
    if "${username}" in " ".join(options):
        warn("a path holds ${username} and the note does not say which user ran it: replace it in the run cell")
    command, launcher = worker_command, None
    if ps and ps_command and ps_command != worker_command:
        launcher = f"case \"$SUBMARINE_ROLE\" in\n  ps) {ps_command} \"$@\" ;;\n  *) {worker_command} \"$@\" ;;\nesac"
        command = f"sh {LAUNCHER_TITLE}"
    if placeholders(command):
        warn("the launch command holds {name} placeholders: each needs a param (-p NAME VALUE), or write "
             "them as ${NAME} shell variables")
    if values.get("job_name"):
        lines.append(f"# Zeppelin named the job {values['job_name']!r}; each run here gets its own name "
                     "(--name NAME sets one)")
    lines.append("%submarine config " + " ".join(config))
    if values.get("clean_checkpoint", "").lower() == "true" and checkpoint:
        lines.append("# Zeppelin cleaned the checkpoint before each run; to do the same:")
        lines.append(f"# %submarine clean --checkpoint {shlex.quote(settings.path(checkpoint))}")
    lines.append("%submarine run " + " ".join(options) + " -- " + command)
    if settings.prop("tf.tensorboard.enable").lower() == "true" and checkpoint:
        lines.append("# Zeppelin started a TensorBoard on the checkpoint path: %submarine tensorboard run")
    return "\n".join(lines), launcher


def _count(text: str, key: str, warn: Callable[[str], None]) -> int:
    if not text:
        return 0
    try:
        return max(int(float(text)), 0)
    except ValueError:
        warn(f"the interpreter property {key}={text!r} is not a number: left out")
        return 0


# -- building the notebook -----------------------------------------------------------------------------
def convert(note: Note, runtime: str = "yarn", properties: Mapping[str, str] | None = None) -> Imported:
    """The notebook for `note`; `properties` are the Submarine interpreter setting's (the note lacks them)."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

    from .kernelspec import DISPLAY_NAME, KERNEL_NAME

    warnings: list[str] = []
    warn = warnings.append
    found = paragraphs(note, warn)
    settings = job_settings(note, found, properties or {})
    cells: list = []
    used_ids: set[str] = set()
    last_algorithm = -1

    def cell_id(paragraph: Paragraph | None, fallback: str) -> str:
        wanted = re.sub(r"[^A-Za-z0-9_-]", "-", paragraph.id)[:64] if paragraph and paragraph.id else fallback
        candidate, n = wanted or fallback, 1
        while candidate in used_ids:
            n += 1
            candidate = f"{wanted[:58]}-{n}"
        used_ids.add(candidate)
        return candidate

    def meta(paragraph: Paragraph) -> dict:
        return {"zeppelin": {"paragraph_id": paragraph.id, "interpreter": paragraph.interpreter,
                             **({"title": paragraph.title} if paragraph.title else {})}}

    dashboard_position = None
    for paragraph in found:
        where = f"paragraph [{paragraph.index}]" + (f" ({paragraph.id})" if paragraph.id else "")
        interpreter = paragraph.interpreter
        if interpreter in CELL_KINDS:
            kind = CELL_KINDS[interpreter]
            header = f"%%submarine.{kind}"
            if paragraph.title:
                try:
                    validate_title(paragraph.title)
                except TitleError as exc:
                    warn(f"{where}: {exc} (kept as written: the kernel refuses it until it is renamed)")
                header += " " + shlex.quote(paragraph.title)
            else:
                # Zeppelin's own words (HdfsClient.saveParagraphToFiles), then what the import did
                warn(f"The title of the [{paragraph.index}] paragraph is empty and was not submitted to HDFS: kept "
                     f"as an untitled %%submarine.{kind} cell, which the kernel does not collect either; give it "
                     f"a file name, e.g. %%submarine.{kind} train.py")
            cells.append(new_code_cell(header + "\n" + paragraph.body, id=cell_id(paragraph, f"cell-{len(cells)}"),
                                       metadata=meta(paragraph)))
            last_algorithm = len(cells)
        elif interpreter == MARKDOWN:
            cells.append(new_markdown_cell(paragraph.body, id=cell_id(paragraph, f"cell-{len(cells)}"),
                                           metadata=meta(paragraph)))
        elif interpreter == DASHBOARD:
            if dashboard_position is None:
                dashboard_position = len(cells)
        else:
            if interpreter is None:
                warn(f"{where} names no interpreter and the note gives no default (0.7/0.8 notes keep it in "
                     "the server's settings): kept as a raw cell")
            elif interpreter.startswith(DASHBOARD + "."):
                warn(f"{where} uses %{interpreter}, which the Submarine interpreter did not have (it had "
                     "%submarine, %submarine.python and %submarine.sh): kept as a raw cell")
            source = paragraph.text if paragraph.explicit or interpreter is None else f"%{interpreter}\n{paragraph.text}"
            cells.append(new_raw_cell(source.strip("\n"), id=cell_id(paragraph, f"cell-{len(cells)}"),
                                      metadata=meta(paragraph)))
    made = None
    if settings.dashboard is not None or last_algorithm >= 0:
        made = settings_cell(settings, note, runtime, warn)
    if made is not None:
        run_source, launcher = made
        # after every algorithm cell: Zeppelin submitted the whole note's files, a kernel the cells run so far
        position = max(len(cells) if dashboard_position is None else dashboard_position, last_algorithm)
        cells.insert(position, new_code_cell(run_source, id=cell_id(settings.dashboard, "submarine-settings"),
                                             metadata={"zeppelin": {"generated": "submarine settings"}}))
        if launcher:
            cells.insert(position, new_code_cell(
                f"%%submarine.sh {LAUNCHER_TITLE} --no-local\n# each role's launch command, as the note's "
                f"%submarine dashboard gave them\n{launcher}", id=cell_id(None, "zeppelin-launch"),
                metadata={"zeppelin": {"generated": "launch commands by role"}}))
    if not cells:
        raise NoteError(f"note {str(note.path)!r} has no paragraph that could be imported")
    notebook = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": KERNEL_NAME, "display_name": DISPLAY_NAME, "language": "python"},
        "language_info": {"name": "python"},
        "zeppelin": {"note_id": note.id, "name": note.name, "format": note.format, "source": note.path.name},
    })
    nbformat.validate(notebook)
    return Imported(notebook, warnings, note)


def default_output(note: Note) -> Path:
    """`<note name>.ipynb` in the current folder (the name's characters a file name cannot hold replaced)."""
    stem = re.sub(r"[\x00-\x1f/\\]", "_", note.name).strip().strip(".") or f"note-{note.id}"
    return Path(f"{stem}.ipynb")


def check_output(output: Path, force: bool = False) -> None:
    """Refuse a target that would lose data or cannot be written, before anything is done."""
    if output.suffix != ".ipynb":
        raise NoteError(f"--output {str(output)!r} does not end in .ipynb: give the notebook's file name")
    if output.is_dir():
        raise NoteError(f"{str(output)!r} is a folder: give the notebook's file name with --output")
    if output.exists() and not force:
        raise NoteError(f"{str(output)!r} exists: give another --output, or --force to replace it")
    if not output.parent.is_dir():
        raise NoteError(f"the folder {str(output.parent)!r} does not exist: create it or give another --output")


def write_atomically(notebook, output: Path) -> None:
    """Write the notebook next to `output` and rename it into place, so no reader sees half a file."""
    import nbformat

    handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=output.parent, prefix=f".{output.name}.",
                                         suffix=".tmp", delete=False)
    try:
        with handle:
            nbformat.write(notebook, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o644)
        os.replace(handle.name, output)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def import_note(note_path: str, output: str | None = None, *, runtime: str = "yarn", force: bool = False,
                interpreter_json: str | None = None, properties: list[str] | None = None,
                warn: Callable[[str], None] = print) -> tuple[Path, Imported]:
    """Read, convert and write one note; every warning goes through `warn` (one line each)."""
    from .runtimes.base import runtime_names

    if runtime not in runtime_names():
        raise NoteError(f"unknown runtime {runtime!r}: use one of {', '.join(runtime_names())}")
    merged = parse_properties(properties or [])
    if interpreter_json:
        merged = {**interpreter_properties(interpreter_json), **merged}
    note = read_note(note_path)
    target = Path(output) if output else default_output(note)
    check_output(target, force)
    imported = convert(note, runtime=runtime, properties=merged)
    for line in imported.warnings:
        warn(line)
    write_atomically(imported.notebook, target)
    return target, imported
