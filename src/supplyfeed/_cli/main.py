"""``supplyfeed``: run, demo, resume, report, dead-letters, trace, replay and decode.

Exit status: see ``exit_status.py`` (0 ok or within the tolerated error rate, 1 failures
above it, 2 bad usage, 3 the run could not finish, 75 the database is locked).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TypeAlias

from .. import __version__, _failpoints
from .._exceptions import ConfigError, RunLockedError, SinkError
from .._formats.registry import FORMATS
from .._models import DocKind
from .._scale.spec import ExecutorSpec, parse_executor
from .._sink.factory import DEFAULT_SINK_URL as DEFAULT_SINK
from .._sink.views import IN_TRANSIT_DAYS
from .exit_status import EPILOG, EXIT_LOCKED, EXIT_NOT_FINISHED, add_exit_options
from .help_format import plain, polish_help

# Only what the parser needs is imported here: ``supplyfeed --help`` starts in a blink.
# A command's own imports (the run pipeline, aiohttp, the sinks, rich) load when it runs,
# from ``commands.py``; tests/test_startup.py pins it.

__all__ = ["console", "main"]

Command = Callable[[argparse.Namespace], int]


def _command(name: str, module: str = "commands") -> Command:
    """The command ``name`` of ``module`` (``commands.py``), imported when it is called."""

    def call(args: argparse.Namespace) -> int:
        commands = importlib.import_module(f".{module}", __package__)
        result: int = getattr(commands, name)(args)
        return result

    call.__name__ = name
    return call


def _interval_arg(value: str) -> float:
    from .every import interval_arg

    return interval_arg(value)


def _metrics_default() -> str:
    from .._telemetry.metrics import METRICS_ADDRESS

    return METRICS_ADDRESS


def console() -> NoReturn:
    """The ``supplyfeed`` command and ``python -m supplyfeed``: :func:`main`, then out of
    the process without the interpreter's teardown (``leave.py``). A ``SystemExit`` from
    the parser (``--help``, a usage error) ends it the usual way."""
    from .leave import leave

    leave(main())


def main(argv: Sequence[str] | None = None) -> int:
    _failpoints.arm(os.environ.get(_failpoints.ENV, ""))  # the reliability tests' crashes
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        result: int = args.func(args)
        return result
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RunLockedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except SinkError as exc:  # the run stopped at its checkpoint: not a finished run
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NOT_FINISHED if args.command in _RUNS else 1
    except KeyboardInterrupt:  # Ctrl-C before a run put its own handler in place
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:
        if args.command not in _RUNS:
            raise
        traceback.print_exc()  # a bug outside any one endpoint: the report needs it
        print("error: the run could not finish; `supplyfeed resume` continues it", file=sys.stderr)
        return EXIT_NOT_FINISHED


_RUNS = ("run", "resume", "demo")
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process Ctrl-C ended


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="supplyfeed",
        description=plain(__doc__.splitlines()[0]),
        epilog=EPILOG,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for add in _COMMANDS:  # in the order --help lists them
        add(sub)
    polish_help(p)
    return p


_Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _run_parser(sub: _Subcommands) -> None:
    """``run``: one run of a feeds file, once or ``--every`` DURATION."""
    run = sub.add_parser("run", help="one ingestion run of a feeds file")
    run.add_argument("feeds", type=Path, help="the feeds file (YAML)")
    run.add_argument("--db", help="database URL, instead of the feeds file's sink")
    run.add_argument(
        "--every", type=_interval_arg, metavar="DURATION",
        help="run again at each slot of DURATION (30s, 15m, 1h; at least 1s) until SIGTERM; "
        "runs never overlap",
    )  # fmt: skip
    _output_options(run)
    _executor_option(run)
    add_exit_options(run)
    run.set_defaults(func=_command("_cmd_run"))


def _demo_parser(sub: _Subcommands) -> None:
    """``demo``: a run against a simulated fleet."""
    demo = sub.add_parser("demo", help="ingest a built-in simulated supplier fleet")
    demo.add_argument("--endpoints", type=int, default=500, help="simulated endpoints")
    demo.add_argument("--hosts", type=int, default=10, help="simulated hosts (ports)")
    demo.add_argument("--records", type=int, default=20, help="records per endpoint")
    demo.add_argument(
        "--fault-rate", type=float, default=0.1, help="share of endpoints given a fault"
    )
    demo.add_argument(
        "--latency-ms", type=float, default=60.0, help="median latency, in milliseconds"
    )
    demo.add_argument("--seed", type=int, default=7, help="seed of the fleet and its faults")
    demo.add_argument("--formats", default="", help="comma list (default: every format)")
    demo.add_argument("--db", default=DEFAULT_SINK, help="database URL")
    demo.add_argument(
        "--port-base",
        type=int,
        default=None,
        help="first of the demo's fixed ports (default $SUPPLYFEED_DEMO_PORT_BASE or 27500; "
        "0: ephemeral ports, so a rerun cannot recognise the endpoints)",
    )
    _output_options(demo)
    add_exit_options(demo)
    demo.set_defaults(func=_command("_cmd_demo"))


def _resume_parser(sub: _Subcommands) -> None:
    """``resume``: finish a run."""
    resume = sub.add_parser("resume", help="finish an interrupted or partly failed run")
    resume.add_argument("run_id", nargs="?", help="default: the latest run")
    _db_options(resume)
    _output_options(resume)
    _executor_option(resume)
    add_exit_options(resume)
    resume.set_defaults(func=_command("_cmd_resume"))


def _report_parser(sub: _Subcommands) -> None:
    """``report``: what a run did, as text, JSON or an HTML page."""
    report = sub.add_parser("report", help="the run report")
    report.add_argument("run_id", nargs="?", help="default: the latest run")
    shown = report.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="machine-readable output")
    shown.add_argument(
        "--html", type=Path, metavar="FILE",
        help="write a self-contained HTML report (waterfall, in flight, latency, failures)",
    )  # fmt: skip
    _db_options(report)
    report.set_defaults(func=_command("_cmd_report"))


def _failures_parser(sub: _Subcommands) -> None:
    """``failures``: a run's bad endpoints."""
    failures = sub.add_parser(
        "failures", help="a run's failed and quarantined endpoints, with their request ids"
    )
    failures.add_argument("run_id", nargs="?", help="default: the latest run")
    failures.add_argument("--json", action="store_true", help="machine-readable output")
    _db_options(failures)
    failures.set_defaults(func=_command("_cmd_failures"))


def _dead_letters_parser(sub: _Subcommands) -> None:
    """``dead-letters`` and its ``show ID``."""
    dead = sub.add_parser("dead-letters", help="list quarantined payloads")
    dead.add_argument("--all", action="store_true", help="include resolved ones")
    dead.add_argument("--json", action="store_true", help="machine-readable output")
    _db_options(dead)
    dead.set_defaults(func=_command("_cmd_dead_letters"), letter_id=None)
    show = dead.add_subparsers(dest="letter_command", metavar="show").add_parser(
        "show", help="one dead letter in full, or its payload bytes (--raw)"
    )
    show.add_argument("letter_id", type=int, metavar="ID", help="as dead-letters lists it")
    out = show.add_mutually_exclusive_group()
    out.add_argument("--json", dest="output", action="store_const", const="json",
                     default="text", help="machine-readable output")  # fmt: skip
    out.add_argument("--raw", dest="output", action="store_const", const="raw",
                     help="the payload's bytes on stdout, as stored")  # fmt: skip
    _db_options(show, keep_parent=True)


def _trace_parser(sub: _Subcommands) -> None:
    """``trace``: one request id, end to end."""
    trace = sub.add_parser(
        "trace", help="what one request id led to: ledger row, retries, dead letter, rows"
    )
    trace.add_argument("request_id", help="as printed in a log line (request_id=...)")
    trace.add_argument("--json", action="store_true", help="machine-readable output")
    _db_options(trace)
    trace.set_defaults(func=_command("_cmd_trace"))


def _replay_parser(sub: _Subcommands) -> None:
    """``replay``: decode quarantined payloads again."""
    replay = sub.add_parser("replay", help="re-decode quarantined payloads (no refetch)")
    replay.add_argument("ids", nargs="*", type=int, help="dead-letter ids (default: all open)")
    _db_options(replay)
    replay.set_defaults(func=_command("_cmd_replay"))


def _decode_parser(sub: _Subcommands) -> None:
    """``decode``: one local file to JSON lines."""
    dec = sub.add_parser("decode", help="decode one local file to canonical JSON lines")
    dec.add_argument("file", type=Path, help="the file to decode")
    dec.add_argument("--format", dest="fmt", choices=sorted(FORMATS),
                     help="the file's format (default: sniffed, or the feed's)")  # fmt: skip
    dec.add_argument("--kind", choices=[k.value for k in DocKind],
                     help="the documents' kind (default: from the envelope, the feed's, or "
                     "a guess)")  # fmt: skip
    dec.add_argument("--supplier", default="", help="supplier id for documents lacking one")
    dec.add_argument("--feeds", type=Path, help="decode as this feeds file's feed (--feed)")
    dec.add_argument(
        "--feed", metavar="SUPPLIER[/KIND|/N]|URL",
        help="the feed of --feeds: its format, kind, supplier and mapping (default: the "
        "file's only feed)",
    )  # fmt: skip
    dec.add_argument("--mapping", type=Path, metavar="M.yaml",
                     help="a field mapping file: records, fields, constants")  # fmt: skip
    dec.set_defaults(func=_command("_cmd_decode"))


def _validate_parser(sub: _Subcommands) -> None:
    """``validate``: a feeds file and its sink, nothing fetched."""
    val = sub.add_parser(
        "validate", help="check a feeds file and its sink without fetching anything"
    )
    val.add_argument("feeds", type=Path, help="the feeds file (YAML)")
    val.add_argument("--db", help="database URL to check instead of the feeds file's sink")
    val.set_defaults(func=_command("_cmd_validate"))


def _db_options(p: argparse.ArgumentParser, *, keep_parent: bool = False) -> None:
    """``keep_parent``: on a sub-subcommand, an unset option keeps its parent's value."""
    unset = argparse.SUPPRESS if keep_parent else None
    p.add_argument(
        "--feeds", type=Path, default=unset, help="find the database through this feeds file"
    )
    p.add_argument(
        "--db",
        default=unset,
        help=f"database URL (default: the feeds file's sink, else {DEFAULT_SINK})",
    )


def _output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "--debug", action="store_true", help="asyncio debug mode: log slow callbacks by name"
    )
    p.add_argument(
        "--log-format", choices=("text", "json"), default="text",
        help="log lines on stderr: text (warnings and up) or json (one object a line, "
        "one line a fetch)",
    )  # fmt: skip
    p.add_argument(
        "--metrics-port", type=_metrics_address, metavar="[ADDR:]PORT",
        help="serve Prometheus metrics on /metrics during the run, on 127.0.0.1 unless "
        "ADDR is given (0.0.0.0: every interface)",
    )  # fmt: skip
    p.add_argument(
        "--metrics-file", type=Path, help="write the run's metrics here (node_exporter textfile)"
    )
    p.add_argument(
        "-v", "--verbose", action="count", default=0,
        help="more log lines on stderr: -v info, -vv debug",
    )  # fmt: skip
    p.add_argument(
        "--log-level", type=str.lower, choices=_LOG_LEVELS,
        help="log lines from this level up (default: warning for text, info for json; "
        "-v lowers it)",
    )  # fmt: skip
    p.add_argument(
        "--timings", action="store_true",
        help="print on stderr where the process's time went: start, plan, fetch, drain, "
        "checks, report",
    )  # fmt: skip
    p.add_argument(
        "--profile-memory", action="store_true",
        help="tracemalloc: top allocation sites in the report (slows the run)",
    )  # fmt: skip


def _executor_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--executor", type=_executor_arg, metavar="EXECUTOR",
        help="local (this process, the default), processes:N (N worker processes) or "
        "dask://HOST:PORT (a Dask scheduler; needs a postgresql:// sink); default: the "
        "feeds file's executor:",
    )  # fmt: skip


def _executor_arg(value: str) -> ExecutorSpec:
    try:
        return parse_executor(value)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def _metrics_address(value: str) -> tuple[str, int]:
    addr, _, port = value.rpartition(":")
    try:
        return addr or _metrics_default(), int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not [ADDR:]PORT: {value!r}") from None


_LOG_LEVELS = ("debug", "info", "warning", "error")


def _reconcile_parser(sub: _Subcommands) -> None:
    """``reconcile``: stock, totals, in transit and exceptions, from the views."""
    rec = sub.add_parser(
        "reconcile", help="current stock, totals, in transit, acknowledgment exceptions"
    )
    rec.add_argument("--sku", help="only this SKU")
    rec.add_argument("--supplier", help="only this supplier")
    rec.add_argument(
        "--warehouse", help="only this warehouse's stock (ASNs and acknowledgments name none)"
    )
    rec.add_argument(
        "--in-transit-days",
        type=int,
        default=IN_TRANSIT_DAYS,
        metavar="N",
        help="count an ASN with no delivery date shipped within N days",
    )
    rec.add_argument(
        "--only",
        metavar="SECTIONS",
        help="only these sections, comma-separated: positions, totals, in_transit, "
        "ack_exceptions, stale_partitions, findings (--json and the tables)",
    )
    out = rec.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object")
    out.add_argument("--csv", action="store_true", help="the current positions as CSV")
    _db_options(rec)
    rec.set_defaults(func=_command("run_command", "reconcile"))


_COMMANDS: tuple[Callable[[_Subcommands], None], ...] = (
    _run_parser,
    _demo_parser,
    _resume_parser,
    _report_parser,
    _failures_parser,
    _dead_letters_parser,
    _trace_parser,
    _replay_parser,
    _reconcile_parser,
    _decode_parser,
    _validate_parser,
)

if __name__ == "__main__":
    console()
