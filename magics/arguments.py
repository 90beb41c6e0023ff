"""The `%submarine` subcommands' arguments: one argparse parser per subcommand (IPython's magic_arguments,
so `%submarine?` prints real usage), the usage text, and the reading of what the parsers hand back
(`-p NAME VALUE` pairs, `KEY=VALUE` options, the `--` before a launch command).

Parsing only: the magics in `submarine.py` act on what these return. User errors raise UsageError.
"""

from __future__ import annotations

import re
from typing import Callable

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.utils.process import arg_split

from submarine_kernel.argtypes import whole_number
from submarine_kernel.spec import FRAMEWORKS

OPTIONS_END = re.compile(r"(?:^|\s)--(?:\s|$)")


def typed_params(pairs: list[list[str]] | None) -> dict[str, str]:
    """`-p NAME VALUE` pairs as typed (`1.10` stays `1.10`: only declared params convert, in Session.build);
    a name given twice is refused rather than silently resolved."""
    params: dict[str, str] = {}
    for name, value in pairs or []:
        if name in params:
            raise UsageError(f"-p {name} is given twice ({params[name]!r} and {value!r}): keep one")
        params[name] = value
    return params


#: the longest `%submarine` line taken: IPython's arg_split slows down sharply with length (0.6 s at 64 KiB,
#: 12 s at 256 KiB, minutes at 10 MiB on this machine), and a value this big belongs in a file anyway
MAX_MAGIC_LINE = 64 * 1024


def parse_argstring(parser_func: Callable, text: str):
    """Like IPython's parse_argstring, but splitting POSIX-style so quotes are removed ('a b' is one word)."""
    if len(text) > MAX_MAGIC_LINE:
        raise UsageError(f"the line is {len(text) / 1024:,.0f} KiB with its $variables: at most "
                         f"{MAX_MAGIC_LINE // 1024} KiB is taken; pass big values in a file (a cell) or with "
                         "sk.submit(params=...)")
    try:
        words = arg_split(text, posix=True)
    except ValueError as exc:
        raise UsageError(f"{exc}: close the quotes") from None
    return parser_func.parser.parse_args(words)


def key_values(items: list[str] | None, what: str) -> dict[str, str]:
    """`--env K=V` / `--label K=V` items as a dict; a malformed item or a key given twice differently is refused."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} {item!r} is not KEY=VALUE: write e.g. --{what} NAME=value")
        if key in out and out[key] != value:
            raise UsageError(f"--{what} {key} is given twice ({key}={out[key]} and {item}): keep one")
        out[key] = value
    return out


# -- argument parsers: one per subcommand, each a real argparse parser -----------------------------------
@magic_arguments()
@argument("--name", help="job name (default: <user>-<notebook>-<unique suffix>)")
@argument("--framework", choices=FRAMEWORKS, help="training framework")
@argument("--workers", type=int, default=None, help="training replicas in all (PyTorch: 1 master + N-1 workers)")
@argument("--ps", type=int, default=0, help="TensorFlow parameter servers")
@argument("--chief", action="store_true", help="TensorFlow: run an explicit chief instead of worker 0")
@argument("--resources", help="resources of every replica: memory=8G,vcores=2,gpu=1 or cpu=2,memory=1024M")
@argument("--worker-resources", help="resources of every training replica --workers counts: the workers and "
                                     "the PyTorch/XGBoost master or TensorFlow chief (unless --master-/"
                                     "--chief-resources says otherwise)")
@argument("--ps-resources", help="resources of parameter servers")
@argument("--master-resources", help="resources of the PyTorch/XGBoost master (default: --worker-resources)")
@argument("--chief-resources", help="resources of the TensorFlow chief (default: --worker-resources)")
@argument("--evaluator-resources", help="resources of evaluators")
@argument("--image", help="container image (cluster runtimes)")
@argument("--input", help="input data path, given to replicas as SUBMARINE_INPUT_PATH")
@argument("--checkpoint", help="checkpoint path, given to replicas as SUBMARINE_CHECKPOINT_PATH")
@argument("--env", action="append", metavar="K=V", help="environment variable for every replica (repeatable)")
@argument("--label", action="append", metavar="K=V", help="label of the job (repeatable)")
@argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
          help="job parameter: fills {NAME} in the command, else appended as --NAME VALUE (repeatable)")
@argument("--runtime", help="local, kubernetes, yarn, or a plugin runtime")
@argument("--notebook", help="collect algorithm cells from this saved .ipynb instead of this kernel's cells")
@argument("--wait", action="store_true", help="block until the job ends")
@argument("--dry-run", action="store_true", help="print what the runtime would receive; submit nothing")
@argument("--plain", action="store_true", help="show the status as HTML/text instead of the live widget")
def _run_args(line):
    """run [options] -- LAUNCH COMMAND: submit the collected cells as a distributed job."""


@magic_arguments()
@argument("name", nargs="?", help="job name (default: the last job of this kernel)")
def _status_args(line):
    """status [NAME]: the job's state, replicas and links."""


@magic_arguments()
@argument("--all", action="store_true", help="every notebook's jobs, not only this one's")
@argument("--limit", type=whole_number(1), default=20, help="at most this many jobs")
def _list_args(line):
    """list: jobs known to the registry, newest first."""


@magic_arguments()
@argument("name", nargs="?", help="job name (default: the last job)")
@argument("--replica", help="replica such as worker-1 (default: the deciding replica)")
@argument("--all", action="store_true", help="every replica's log, one after the other")
@argument("--tail", type=whole_number(0), help="only the last N lines shown")
@argument("--follow", action="store_true", help="keep printing until the job ends (one replica)")
@argument("--metrics", action="store_true",
          help="also print the SUBMARINE_METRIC lines that report() writes (hidden by default)")
def _logs_args(line):
    """logs [NAME] [--replica R | --all] [--tail N] [--follow] [--metrics]: a replica's log, under a header
    naming it; at most 2000 lines reach the notebook (the rest: --tail N, or submarine-kernel logs)."""


@magic_arguments()
@argument("name", nargs="?", help="job name (default: the last job)")
def _stop_args(line):
    """stop [NAME]: stop every replica of the job."""


@magic_arguments()
@argument("--cells", action="store_true", help="forget the collected algorithm cells (the default)")
@argument("--checkpoint", nargs="?", const="", default=None, metavar="PATH",
          help="delete a checkpoint folder (default: the last job's --checkpoint)")
@argument("--jobs", action="store_true", help="delete what this notebook's finished jobs left on their runtimes")
def _clean_args(line):
    """clean [--cells] [--checkpoint [PATH]] [--jobs]: Zeppelin's clean runtime cache and clean checkpoint."""


@magic_arguments()
@argument("action", choices=["run", "stop"], help="start or stop TensorBoard")
@argument("--logdir", help="folder to read (default: the last job's checkpoint path)")
@argument("--runtime", help="runtime that hosts it (default: the session's)")
def _tensorboard_args(line):
    """tensorboard run|stop [--logdir PATH]: a TensorBoard on the checkpoint path."""


@magic_arguments()
@argument("settings", nargs="*", metavar="KEY=VALUE", help="set session defaults, e.g. runtime=yarn workers=2")
def _config_args(line):
    """config [KEY=VALUE ...]: show the session defaults, or set some."""


@magic_arguments()
@argument("--from", dest="from_job", metavar="NAME", help="start from this job's values (default: the newest run)")
@argument("--concurrency", type=whole_number(1), default=2, help="sweeps: at most this many jobs at once")
def _form_args(line):
    """form [--from NAME] [-- LAUNCH COMMAND]: a parameter form for re-runs and sweeps."""


@magic_arguments()
@argument("assignment", metavar="NAME=DEFAULT", help="the parameter and its default, e.g. lr=0.1")
@argument("--choices", help="allowed values, comma-separated (a dropdown in the form)")
@argument("--min", dest="minimum", help="smallest allowed value")
@argument("--max", dest="maximum", help="largest allowed value")
def _param_args(line):
    """param NAME=DEFAULT [--choices a,b | --min X --max Y]: declare a hyperparameter; the form shows it and
    every run passes its current value (as -p NAME VALUE would)."""


@magic_arguments()
@argument("--all", action="store_true", help="every notebook's runs, not only this one's")
@argument("--limit", type=whole_number(1), default=500, help="at most this many runs (newest first)")
@argument("--export", choices=["mlflow"], help="log the runs to an MLflow tracking server instead of showing them")
@argument("--tracking-uri", help="the MLflow tracking server or store (default: MLFLOW_TRACKING_URI)")
@argument("--experiment", default="submarine-kernel", help="the MLflow experiment to log into")
@argument("--diff", nargs=2, metavar=("RUN_A", "RUN_B"),
          help="what two runs were made from and how they differ (git commit and dirty files, params, image, "
               "bundle, Python and packages) instead of the table")
def _history_args(line):
    """history [--all] [--limit N] [--export mlflow [--tracking-uri URI] [--experiment NAME]] [--diff A B]: runs
    with params, state, duration and metrics; compare, plot and re-run them, export them to MLflow, or show what
    two runs were made from."""


SUBCOMMANDS: dict[str, Callable] = {
    "run": _run_args, "status": _status_args, "list": _list_args, "logs": _logs_args, "stop": _stop_args,
    "clean": _clean_args, "tensorboard": _tensorboard_args, "config": _config_args,
    "form": _form_args, "param": _param_args, "history": _history_args,
}


def usage() -> str:
    """Every subcommand's usage, as `%submarine?` and `%submarine usage` show it."""
    parts = ["%submarine SUBCOMMAND [options]\n"]
    for name, func in SUBCOMMANDS.items():
        parser = func.parser
        parser.prog = f"submarine {name}"  # the help formatter adds the leading %
        parts.append(parser.format_help())
    parts.append("%submarine usage: this text.\n"
                 "%%submarine.python TITLE [--no-local] / %%submarine.sh TITLE [--no-local]: collect the cell "
                 "into algorithm file TITLE (joined with other cells of the same title), then run it here.")
    return "\n".join(parts)


def split_command(rest: str) -> tuple[str, str | None]:
    """`options -- command` → (options, command); no `--` → (rest, None)."""
    match = OPTIONS_END.search(rest)
    return (rest[:match.start()], rest[match.end():].strip() or None) if match else (rest, None)
