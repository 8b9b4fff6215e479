"""``supplyfeed``: run, demo, resume, report, dead-letters, trace, replay and decode.

Exit status: see ``exit_status.py`` (0 ok or within the tolerated error rate, 1 failures
above it, 2 bad usage, 3 the run could not finish, 75 the database is locked).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec
from rich.console import Console

from .. import __version__
from .._config import FeedConfig, SupplierSpec
from .._exceptions import ConfigError, RunLockedError, SinkError
from .._feedsfile import DEFAULT_SINK, FeedsFile, load_feeds_file
from .._formats.body import sweep_stale_spools
from .._formats.registry import FORMATS
from .._models import DocKind
from .._run.pipeline import Runner, RunOptions
from .._run.summary import RunSummary
from .._scale.coordinator import scaled_executor
from .._scale.spec import LOCAL, ExecutorSpec, check_sink, parse_executor
from .._sink.base import RunRecord
from .._sink.factory import open_run_sink, open_sink
from .._sink.views import IN_TRANSIT_DAYS
from .._telemetry import Telemetry, TelemetryOptions
from .._telemetry.metrics import METRICS_ADDRESS
from .decode_file import decode_file, decode_settings
from .demo_resume import is_demo_label, read_demo_label, resume_args
from .display import RichProgress, make_console, print_summary
from .every import interval_arg, run_every
from .exit_status import EPILOG, EXIT_LOCKED, EXIT_NOT_FINISHED, add_exit_options, run_exit_status
from .help_format import plain, polish_help
from .validate import print_feeds_warnings, validate_feeds

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
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
    except Exception:
        if args.command not in _RUNS:
            raise
        traceback.print_exc()  # a bug outside any one endpoint: the report needs it
        print("error: the run could not finish; `supplyfeed resume` continues it", file=sys.stderr)
        return EXIT_NOT_FINISHED


_RUNS = ("run", "resume", "demo")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="supplyfeed",
        description=plain(__doc__.splitlines()[0]),
        epilog=EPILOG,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="one ingestion run of a feeds file")
    run.add_argument("feeds", type=Path, help="the feeds file (YAML)")
    run.add_argument("--db", help="database URL, instead of the feeds file's sink")
    run.add_argument(
        "--every", type=interval_arg, metavar="DURATION",
        help="run again at each slot of DURATION (30s, 15m, 1h; at least 1s) until SIGTERM; "
        "runs never overlap",
    )  # fmt: skip
    _output_options(run)
    _executor_option(run)
    add_exit_options(run)
    run.set_defaults(func=_cmd_run)

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
    demo.set_defaults(func=_cmd_demo)

    resume = sub.add_parser("resume", help="finish an interrupted or partly failed run")
    resume.add_argument("run_id", nargs="?", help="default: the latest run")
    _db_options(resume)
    _output_options(resume)
    _executor_option(resume)
    add_exit_options(resume)
    resume.set_defaults(func=_cmd_resume)

    report = sub.add_parser("report", help="the run report")
    report.add_argument("run_id", nargs="?", help="default: the latest run")
    shown = report.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="machine-readable output")
    shown.add_argument(
        "--html", type=Path, metavar="FILE",
        help="write a self-contained HTML report (waterfall, in flight, latency, failures)",
    )  # fmt: skip
    _db_options(report)
    report.set_defaults(func=_cmd_report)

    failures = sub.add_parser(
        "failures", help="a run's failed and quarantined endpoints, with their request ids"
    )
    failures.add_argument("run_id", nargs="?", help="default: the latest run")
    failures.add_argument("--json", action="store_true", help="machine-readable output")
    _db_options(failures)
    failures.set_defaults(func=_cmd_failures)

    dead = sub.add_parser("dead-letters", help="list quarantined payloads")
    dead.add_argument("--all", action="store_true", help="include resolved ones")
    dead.add_argument("--json", action="store_true", help="machine-readable output")
    _db_options(dead)
    dead.set_defaults(func=_cmd_dead_letters, letter_id=None)
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

    trace = sub.add_parser(
        "trace", help="what one request id led to: ledger row, retries, dead letter, rows"
    )
    trace.add_argument("request_id", help="as printed in a log line (request_id=...)")
    trace.add_argument("--json", action="store_true", help="machine-readable output")
    _db_options(trace)
    trace.set_defaults(func=_cmd_trace)

    replay = sub.add_parser("replay", help="re-decode quarantined payloads (no refetch)")
    replay.add_argument("ids", nargs="*", type=int, help="dead-letter ids (default: all open)")
    _db_options(replay)
    replay.set_defaults(func=_cmd_replay)

    _reconcile_parser(sub)

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
    dec.set_defaults(func=_cmd_decode)

    val = sub.add_parser(
        "validate", help="check a feeds file and its sink without fetching anything"
    )
    val.add_argument("feeds", type=Path, help="the feeds file (YAML)")
    val.add_argument("--db", help="database URL to check instead of the feeds file's sink")
    val.set_defaults(func=lambda a: validate_feeds(a.feeds, a.db))
    polish_help(p)
    return p


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
        return addr or METRICS_ADDRESS, int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not [ADDR:]PORT: {value!r}") from None


_LOG_LEVELS = ("debug", "info", "warning", "error")


def _log_level(args: argparse.Namespace) -> int | None:
    """--log-level, else -v (info) / -vv (debug), else the log format's default (None)."""
    if args.log_level:
        return int(getattr(logging, args.log_level.upper()))
    return {0: None, 1: logging.INFO}.get(args.verbose, logging.DEBUG)


def _telemetry(args: argparse.Namespace) -> Telemetry:
    addr, port = args.metrics_port or (METRICS_ADDRESS, None)
    return Telemetry(
        TelemetryOptions(
            log_format=args.log_format,
            log_level=_log_level(args),
            metrics_port=port,
            metrics_addr=addr,
            metrics_file=args.metrics_file,
            profile_memory=args.profile_memory,
            debug=args.debug,
        )
    )


def _sink_url(args: argparse.Namespace, feeds: FeedsFile | None = None) -> str:
    if getattr(args, "db", None):
        return str(args.db)
    if feeds is None and getattr(args, "feeds", None):
        feeds = load_feeds_file(args.feeds)
    return feeds.sink if feeds is not None else DEFAULT_SINK


def _existing_sink_url(args: argparse.Namespace, feeds: FeedsFile | None = None) -> str:
    """The database a reading command opens. A SQLite file must exist already: opening a
    mistyped path would create an empty database and report "nothing found"."""
    url = _sink_url(args, feeds)
    if url.startswith("sqlite:"):
        from .._sink.sqlite import sqlite_path  # here: the sink is imported only when used

        path = sqlite_path(url)
        if path != ":memory:" and not Path(path).exists():
            raise ConfigError(
                f"no database at {path} ({url}): run `supplyfeed run FEEDS.yaml` first, "
                "or name it with --db URL or --feeds FEEDS.yaml"
            )
    return url


# -- run / resume / demo ---------------------------------------------------------------
def _cmd_run(args: argparse.Namespace) -> int:
    if args.every is not None:
        return run_every(args, _execute_async)
    feeds = load_feeds_file(args.feeds)
    print_feeds_warnings(feeds)
    label = str(args.feeds.resolve())  # resume finds the feeds file again through it
    sink = args.db or feeds.sink
    args.feeds_executor = feeds.executor
    return asyncio.run(_execute_async(feeds.suppliers, feeds.defaults, sink, label, None, args))


def _cmd_resume(args: argparse.Namespace) -> int:
    async def find() -> RunRecord | None:
        sink = open_sink(url, lock=False)
        await sink.open()
        try:
            return await sink.get_run(args.run_id)
        finally:
            await sink.close()

    feeds = load_feeds_file(args.feeds) if args.feeds else None
    if feeds is not None and args.run_id is None:
        return _resume_feeds(args, feeds)
    url = _existing_sink_url(args, feeds)
    run = asyncio.run(find())
    if run is None:
        raise ConfigError(f"no run {args.run_id or ''} in {url}".replace("  ", " "))
    run_id, label = run.run_id, run.feeds
    if feeds is None and is_demo_label(label):
        return _resume_demo(args, url, run_id, label)
    if feeds is None:
        if label in ("", "demo") or not Path(label).is_file():
            raise ConfigError(
                f"run {run_id} was started from {label or 'an unknown source'}: "
                "pass --feeds FEEDS.yaml to resume it"
            )
        feeds = load_feeds_file(label)
    args.feeds_executor = feeds.executor
    return asyncio.run(_execute_async(feeds.suppliers, feeds.defaults, url, label, run_id, args))


def _resume_demo(args: argparse.Namespace, url: str, run_id: str, label: str) -> int:
    """A demo's run: serve its fleet again (same options, ports and round), continue it."""
    from .demo import demo_fleet

    state = read_demo_label(label, run_id)
    demo_args = resume_args(args, state, url)
    return asyncio.run(demo_fleet(demo_args, _execute_async, resume=(run_id, state)))


def _resume_feeds(args: argparse.Namespace, feeds: FeedsFile) -> int:
    """``resume --feeds F``: the latest run, if it is F's and has work left; else a new
    run of F. A run SIGKILLed before it was recorded left no row: the latest row is then
    an older run (of F, finished, or of another file), and resuming that would report
    success while this delivery was never loaded."""
    label = str(args.feeds.resolve())
    url = _sink_url(args, feeds)
    args.feeds_executor = feeds.executor
    run = asyncio.run(_latest_run(url)) if _database_exists(url) else None
    if run is not None and run.feeds == label and not _finished_ok(run):
        return asyncio.run(
            _execute_async(feeds.suppliers, feeds.defaults, url, label, run.run_id, args)
        )
    print(f"no unfinished run of {args.feeds} recorded in {url}: starting one", file=sys.stderr)
    return asyncio.run(_execute_async(feeds.suppliers, feeds.defaults, url, label, None, args))


def _database_exists(url: str) -> bool:
    """False for a SQLite file not made yet (the run was killed before it made it)."""
    if not url.startswith("sqlite:"):
        return True
    from .._sink.sqlite import sqlite_path

    path = sqlite_path(url)
    return path == ":memory:" or Path(path).exists()


async def _latest_run(url: str) -> RunRecord | None:
    sink = open_sink(url, lock=False)
    await sink.open()
    try:
        return await sink.get_run(None)
    finally:
        await sink.close()


def _finished_ok(run: RunRecord) -> bool:
    return run.status == "finished" and bool(run.summary.get("ok"))


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import demo_fleet

    return asyncio.run(demo_fleet(args, _execute_async))


async def _execute_async(
    suppliers: Sequence[SupplierSpec],
    config: FeedConfig,
    sink_url: str,
    label: str,
    run_id: str | None,
    args: argparse.Namespace,
    *,
    on_signal: Callable[[], None] | None = None,
) -> int:
    console = make_console()
    progress = RichProgress(
        console,
        enabled=not args.quiet and not args.json,
        timeout_seconds=config.timeout_seconds,
    )
    sweep_stale_spools()  # spool files of runs SIGKILLed mid-download
    spec = _executor(args)
    check_sink(spec, sink_url)  # before a SQLite file is made for a run that cannot start
    sink = open_run_sink(sink_url)
    await sink.open()
    try:
        async with scaled_executor(spec, sink) as executor:
            options = RunOptions(label=label, run_id=run_id, progress=progress, executor=executor)
            options.telemetry = _telemetry(args)
            runner = Runner(suppliers, sink, config, options)
            _install_signal_handlers(runner, on_signal)
            summary = await runner.run()
    finally:
        await sink.close()
    _print_result(console, summary, args.json)
    if not args.json:
        from .report_html import html_report_command

        feeds = "" if getattr(args, "db", None) else label  # --db X: name X, not the file
        hint = html_report_command(summary.run_id, feeds, sink_url)
        console.print(f"HTML report: {hint}", markup=False, highlight=False, soft_wrap=True)
    return run_exit_status(summary, args.fail_on_error_rate)


def _executor(args: argparse.Namespace) -> ExecutorSpec:
    """``--executor``, else the feeds file's ``executor:``, else local (demo, --every)."""
    spec = getattr(args, "executor", None) or getattr(args, "feeds_executor", LOCAL)
    assert isinstance(spec, ExecutorSpec)
    return spec


def _install_signal_handlers(runner: Runner, also: Callable[[], None] | None = None) -> None:
    """First SIGINT/SIGTERM: stop starting fetches, write what is in flight, record the
    checkpoint (and call ``also``: ``--every`` ends after this run). Second: exit at once
    (committed work is safe; ``resume`` finishes)."""
    loop = asyncio.get_running_loop()
    signals_seen = 0

    def on_signal() -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen > 1:
            os._exit(130)
        print("\nstopping: finishing writes in flight (signal again to quit now)", file=sys.stderr)
        runner.stop()
        if also is not None:
            also()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)


def _print_result(console: Console, summary: RunSummary, as_json: bool) -> None:
    if as_json:
        sys.stdout.buffer.write(msgspec.json.encode(summary.to_dict()) + b"\n")
        return
    print_summary(console, summary.to_dict())


# -- report / dead letters / trace / replay -------------------------------------------------
def _cmd_report(args: argparse.Namespace) -> int:
    from .report import show_report

    if args.html is not None:
        from .report_html import write_html_report

        return asyncio.run(write_html_report(_existing_sink_url(args), args.run_id, args.html))
    return asyncio.run(show_report(_existing_sink_url(args), args.run_id, as_json=args.json))


def _cmd_decode(args: argparse.Namespace) -> int:
    settings = decode_settings(
        args.fmt, args.kind, args.supplier, feeds=args.feeds, feed=args.feed, mapping=args.mapping
    )
    return decode_file(args.file, settings)


def _cmd_failures(args: argparse.Namespace) -> int:
    from .failures import show_failures

    return asyncio.run(show_failures(_existing_sink_url(args), args.run_id, as_json=args.json))


def _cmd_dead_letters(args: argparse.Namespace) -> int:
    from .dead_letters import list_dead_letters, show_dead_letter

    if args.letter_id is not None:
        url = _existing_sink_url(args)
        return asyncio.run(show_dead_letter(url, args.letter_id, output=args.output))
    return asyncio.run(
        list_dead_letters(_existing_sink_url(args), include_resolved=args.all, as_json=args.json)
    )


def _cmd_trace(args: argparse.Namespace) -> int:
    from .trace import show_trace

    return asyncio.run(show_trace(_existing_sink_url(args), args.request_id, as_json=args.json))


def _cmd_replay(args: argparse.Namespace) -> int:
    from .dead_letters import replay_dead_letters

    feeds = load_feeds_file(args.feeds) if args.feeds else None
    return asyncio.run(replay_dead_letters(_existing_sink_url(args, feeds), args.ids, feeds))


def _reconcile_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    out = rec.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object")
    out.add_argument("--csv", action="store_true", help="the current positions as CSV")
    _db_options(rec)
    rec.set_defaults(func=_cmd_reconcile)


def _cmd_reconcile(args: argparse.Namespace) -> int:
    from .._sink.reconcile_query import Filters
    from .reconcile import ReconcileOptions, reconcile

    if args.in_transit_days < 0:
        raise ConfigError(f"--in-transit-days must be 0 or more, not {args.in_transit_days}")
    feeds = load_feeds_file(args.feeds) if args.feeds else None
    options = ReconcileOptions(
        filters=Filters(sku=args.sku, warehouse=args.warehouse, supplier=args.supplier),
        units=feeds.units if feeds is not None else (),
        sla_seconds=feeds.defaults.sla_seconds if feeds is not None else 900.0,
        in_transit_days=args.in_transit_days,
        output="json" if args.json else "csv" if args.csv else "table",
    )
    return asyncio.run(reconcile(_existing_sink_url(args, feeds), options))


if __name__ == "__main__":
    raise SystemExit(main())
