"""`submarine-kernel`: install the kernelspec, run a notebook headless, list/status/logs/stop jobs."""

from __future__ import annotations

import argparse
import sys

from .argtypes import whole_number
from .errors import SubmarineError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="submarine-kernel",
                                     description="Notebook cells as distributed training jobs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    install = sub.add_parser("install", help='install the "Python 3 (Submarine)" kernelspec')
    where = install.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="for this user only")
    where.add_argument("--sys-prefix", action="store_true", help="into this Python environment")
    where.add_argument("--prefix", help="under this prefix (PREFIX/share/jupyter/kernels)")
    install.add_argument("--name", default="submarine", help="kernelspec name")

    uninstall = sub.add_parser("uninstall", help="remove the kernelspec")
    uninstall.add_argument("--name", default="submarine")

    run = sub.add_parser("run", help="execute a notebook headless and follow its jobs")
    run.add_argument("notebook")
    run.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                     help="parameter injected after the cell tagged 'parameters' (repeatable)")
    run.add_argument("--runtime", help="runtime for the notebook's jobs (local, kubernetes, yarn, ...)")
    run.add_argument("--output", help="write the executed notebook here")
    run.add_argument("--timeout", type=float, default=None, help="seconds a cell may run (default: no limit)")
    run.add_argument("--kernel", default="submarine", help="kernel to run it in")

    sub.add_parser("list", help="jobs known to the registry")
    for name, text in (("status", "a job's status"), ("stop", "stop a job")):
        p = sub.add_parser(name, help=text)
        p.add_argument("name")
    logs = sub.add_parser("logs", help="a replica's log")
    logs.add_argument("name")
    logs.add_argument("--replica")
    logs.add_argument("--tail", type=whole_number(0))
    logs.add_argument("--follow", action="store_true")
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

    from . import render
    from .session import Session

    session = Session()
    try:
        if args.command == "list":
            headers = ["name", "runtime", "state", "submitted", "elapsed", "notebook"]
            rows = [[r.ref.name, r.ref.runtime, r.status.state.value if r.status else r.state,
                     render.short_time(r.submitted), render.elapsed(r.status) if r.status else "", r.notebook or ""]
                    for r in session.records()]
            print(render.table_text(headers, rows) if rows else "no jobs yet")
        elif args.command == "status":
            job = session.job(args.name)
            print(render.status_text(job.name, job.status(), job.ref.runtime))
        elif args.command == "stop":
            job = session.job(args.name)
            print(f"{job.name}: {job.stop().state.value}")
        elif args.command == "logs":
            job = session.job(args.name)
            for line in job.runtime.logs(job.ref, replica=args.replica, tail=args.tail, follow=args.follow):
                print(line, flush=True)
        return 0
    finally:
        session.close()


if __name__ == "__main__":
    sys.exit(main())
