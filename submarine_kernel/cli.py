"""`submarine-kernel`: install the kernelspec, run a notebook headless, list/status/logs/stop jobs.

The job commands mirror the magics (`%submarine status` ↔ `submarine-kernel status`): status and logs
default to the newest job, and every message names what a shell user types.
"""

from __future__ import annotations

import argparse
import sys

from . import hints
from .argtypes import whole_number
from .errors import JobNotFound, SubmarineError

LIST_LIMIT = 20

EXAMPLES = """\
examples:
  submarine-kernel run notebooks/quickstart.ipynb -p epochs 3 --output out.ipynb
  submarine-kernel list
  submarine-kernel status                  # the newest job
  submarine-kernel logs NAME --replica worker-0 --tail 50
  submarine-kernel stop NAME
  submarine-kernel import-zeppelin "notebook/Train_2EYDJKFFY.zpln" --output train.ipynb
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="submarine-kernel", description="Notebook cells as distributed training jobs.",
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    install = sub.add_parser("install", help='install the "Python 3 (Submarine)" kernelspec')
    where = install.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="for this user only")
    where.add_argument("--sys-prefix", action="store_true", help="into this Python environment")
    where.add_argument("--prefix", help="under this prefix (PREFIX/share/jupyter/kernels)")
    install.add_argument("--name", default="submarine", help="kernelspec name (default: submarine)")

    uninstall = sub.add_parser("uninstall", help="remove the kernelspec")
    uninstall.add_argument("--name", default="submarine", help="kernelspec name (default: submarine)")

    run = sub.add_parser("run", help="execute a notebook headless and follow its jobs")
    run.add_argument("notebook", help="the .ipynb to execute")
    run.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                     help="parameter injected after the cell tagged 'parameters' (repeatable)")
    run.add_argument("--runtime", help="runtime for the notebook's jobs (local, kubernetes, yarn, ...)")
    run.add_argument("--output", help="write the executed notebook here")
    run.add_argument("--timeout", type=float, default=None, help="seconds a cell may run (default: no limit)")
    run.add_argument("--kernel", default="submarine", help="kernel to run it in (default: submarine)")

    jobs = sub.add_parser("list", help="jobs known to the registry, newest first")
    jobs.add_argument("--notebook", metavar="PATH", help="only the jobs of this notebook")
    jobs.add_argument("--limit", type=whole_number(0), default=LIST_LIMIT,
                      help=f"at most this many jobs (default: {LIST_LIMIT}; 0 shows every job)")

    status = sub.add_parser("status", help="a job's state, replicas and links")
    status.add_argument("name", nargs="?", help="job name (default: the newest job)")
    status.add_argument("--runtime", help="the job's runtime, when two runtimes have a job of that name")

    logs = sub.add_parser("logs", help="a replica's log, under a header naming the replica")
    logs.add_argument("name", nargs="?", help="job name (default: the newest job)")
    which = logs.add_mutually_exclusive_group()
    which.add_argument("--replica", help="replica such as worker-1 (default: the deciding replica, e.g. master-0)")
    which.add_argument("--all", action="store_true", help="every replica's log, one after the other")
    logs.add_argument("--tail", type=whole_number(0), metavar="N", help="only the last N lines of each log")
    logs.add_argument("--follow", action="store_true", help="keep printing until the job ends (one replica)")
    logs.add_argument("--metrics", action="store_true",
                      help="also print the SUBMARINE_METRIC lines that report() writes (hidden by default)")
    logs.add_argument("--runtime", help="the job's runtime, when two runtimes have a job of that name")

    stop = sub.add_parser("stop", help="stop every replica of a job")
    stop.add_argument("name", nargs="?", help="job name (required: stop never guesses)")
    stop.add_argument("--runtime", help="the job's runtime, when two runtimes have a job of that name")

    recover = sub.add_parser("recover", help="rebuild the registry's rows from the runtimes' own lists: local job "
                                             "folders, Kubernetes job objects, YARN services (after a damaged "
                                             "registry was moved aside)")
    recover.add_argument("--runtime", action="append", metavar="NAME",
                         help="a runtime to rebuild from (repeatable; default: local and the configured runtime)")
    forget = sub.add_parser("forget", help="remove a job's registry row (a damaged one included)")
    forget.add_argument("name", help="job name")

    zeppelin = sub.add_parser("import-zeppelin", help="a Zeppelin note (.zpln of 0.9+, note.json of 0.7/0.8) as "
                                                      "a notebook for this kernel")
    zeppelin.add_argument("note", help="the note's .zpln file, or note.json (or its folder)")
    zeppelin.add_argument("--output", help="the .ipynb to write (default: <note name>.ipynb here)")
    zeppelin.add_argument("--force", action="store_true", help="replace --output if it exists")
    zeppelin.add_argument("--runtime", default="yarn",
                          help="runtime the notebook's jobs use (default: yarn, where Zeppelin ran them)")
    zeppelin.add_argument("--interpreter-json", metavar="PATH",
                          help="Zeppelin's conf/interpreter.json: its submarine setting's workers, PS, resources, "
                               "images and checkpoint root (a note does not hold them)")
    zeppelin.add_argument("--property", action="append", default=[], metavar="KEY=VALUE",
                          help="one Submarine interpreter property, e.g. tf.worker.services.num=2 (repeatable; "
                               "wins over --interpreter-json)")

    diff = sub.add_parser("diff", help="what two runs were made from, and how they differ: git commit and dirty "
                                       "files, params, image, bundle, Python and packages")
    diff.add_argument("names", nargs=2, metavar="NAME", help="the two jobs to compare")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except SubmarineError as exc:
        print(f"submarine-kernel: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `submarine-kernel logs NAME | head`
        sys.stderr.close()
        return 0


def _dispatch(args) -> int:
    if args.command == "install":
        from . import kernelspec

        prefix = sys.prefix if args.sys_prefix else args.prefix
        path = kernelspec.install(user=args.user, prefix=prefix, name=args.name)
        print(f"installed kernelspec {args.name} in {path}")
        return 0
    if args.command == "uninstall":
        from jupyter_client.kernelspec import NoSuchKernel

        from . import kernelspec

        try:
            print(f"removed {kernelspec.uninstall(args.name)}")
        except NoSuchKernel:
            raise SubmarineError(f"no kernelspec named {args.name!r} is installed") from None
        return 0
    if args.command == "run":
        from .headless import run_notebook

        params = dict(args.param)  # as typed: the notebook's parameters cell decides their types
        return run_notebook(args.notebook, params, runtime=args.runtime, output=args.output,
                            timeout=args.timeout, kernel_name=args.kernel)
    if args.command == "import-zeppelin":
        from .zeppelin import import_note

        target, imported = import_note(args.note, args.output, runtime=args.runtime, force=args.force,
                                       interpreter_json=args.interpreter_json, properties=args.property,
                                       warn=lambda line: print(f"submarine-kernel: warning: {line}", file=sys.stderr))
        print(f"wrote {target}: {imported.summary()}")
        return 0
    if args.command == "stop" and not args.name:
        raise SubmarineError("stop needs the job's name (it never guesses which job to stop): "
                             f"{hints.SHELL} list shows the jobs")

    from .session import Session

    session = Session()
    session.notify = lambda message: print(f"submarine-kernel: warning: {message}", file=sys.stderr)
    try:
        if args.command == "list":
            _list(session, args)
        elif args.command == "status":
            _status(session, args)
        elif args.command == "stop":
            job = _job(session, args.name, args.runtime)
            status = job.stop()  # a replica still in its stop grace shows "stopping (grace 30 s)"
            print(f"{job.name}: {status.state.value}" + ("" if status.terminal or not status.message
                                                          else f" ({status.message})"))
        elif args.command == "recover":
            return _recover(session, args.runtime or ["local", session.settings.runtime])
        elif args.command == "forget":
            count = session.registry.forget(args.name)
            if not count:
                raise SubmarineError(f"no job named {args.name!r} in the registry")
            print(f"forgot {count} row(s) of {args.name}")
        elif args.command == "logs":
            _logs(session, args)
        elif args.command == "diff":
            from .provenance import compare

            print(compare(session.registry, *(_job(session, name) for name in args.names)))
        return 0
    finally:
        session.close()


def _recover(session, runtimes: list[str]) -> int:
    """One line per runtime: the rows rebuilt from its own list, or why it could not be listed (exit 1)."""
    from .recovery import rebuild

    failed = False
    for name in dict.fromkeys(runtimes):
        try:
            added = rebuild(session.registry, session.runtime(name))
        except NotImplementedError:
            print(f"submarine-kernel: warning: the {name} runtime keeps no job list to rebuild from", file=sys.stderr)
            continue
        except SubmarineError as exc:
            print(f"submarine-kernel: error: cannot list the {name} runtime's jobs: {exc}", file=sys.stderr)
            failed = True
            continue
        print(f"{name}: rebuilt {len(added)} job(s)" + (f": {', '.join(added)}" if added else ""))
    return 1 if failed else 0


def _job(session, name: str | None, runtime: str | None = None):
    """The named job, or the newest one in the registry."""
    if not name:
        newest = session.records(limit=1)
        if not newest:
            raise SubmarineError("no jobs in the registry yet: submit one from a notebook, "
                                 f"or run one with {hints.SHELL} run NOTEBOOK.ipynb")
        name, runtime = newest[0].ref.name, newest[0].ref.runtime
    try:
        return session.job(name, runtime)
    except JobNotFound:
        where = f" on runtime {runtime!r}" if runtime else ""
        raise SubmarineError(f"no job named {name!r}{where} in the registry: {hints.SHELL} list shows the known jobs") \
            from None


def _list(session, args) -> None:
    from pathlib import Path

    from . import render

    records = session.records()
    if args.notebook:
        wanted = {args.notebook, str(Path(args.notebook).resolve())}
        records = [r for r in records if r.notebook in wanted]
    shown = records[:args.limit] if args.limit else records
    if not shown:
        print("no jobs yet" + (f" from {args.notebook} (drop --notebook to see every notebook's)" if args.notebook else ""))
        return
    headers = ["name", "runtime", "state", "submitted", "elapsed", "params", "notebook"]
    rows = [[r.ref.name, r.ref.runtime, r.status.state.value if r.status else r.state, render.short_time(r.submitted),
             render.elapsed(r.status) if r.status else "", render.params_text(r.params), r.notebook or ""]
            for r in shown]
    print(render.table_text(headers, rows))
    if len(records) > len(shown):
        print(f"({len(records) - len(shown)} older job(s) not shown: --limit 0 shows every job)")


def _status(session, args) -> None:
    from . import render

    job = _job(session, args.name, args.runtime)
    status = job.status()
    from .progress import of_job
    from .usage import peaks_text

    print(render.status_text(job.name, status, job.ref.runtime, job.last_metrics(),
                             None if status.terminal else of_job(job), peaks_text(job.usage())))
    if status.terminal and status.state.value != "SUCCEEDED":
        print(f"  see: {hints.logs_command(job.name, status, hints.SHELL)}")


def _logs(session, args) -> None:
    from .log_view import log_lines

    job = _job(session, args.name, args.runtime)
    for line in log_lines(job, args.replica, every=args.all, tail=args.tail, follow=args.follow,
                          metrics=args.metrics, prefix=hints.SHELL):
        print(line.text, file=sys.stderr if line.note else sys.stdout, flush=True)

if __name__ == "__main__":
    sys.exit(main())
