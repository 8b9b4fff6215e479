"""The commands of ``supplyfeed``: what each subcommand does once ``main.py`` has
parsed its arguments (imported only then, so ``--help`` loads none of this)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from .. import _failpoints
from .._config import FeedConfig, SupplierSpec
from .._exceptions import ConfigError
from .._feedsfile import FeedsFile, load_feeds_file
from .._formats.body import sweep_stale_spools
from .._gcpolicy import freeze_heap, in_batch_collection
from .._run.begin import begin_run
from .._run.summary import RunSummary
from .._run.timings import PhaseTimer, process_started
from .._scale.spec import LOCAL, ExecutorSpec, check_sink
from .._sink.base import RunRecord
from .._sink.factory import open_run_sink, open_sink
from .demo_resume import is_demo_label, read_demo_label, resume_args
from .every import run_every
from .exit_status import run_exit_status
from .sink_url import existing_sink_url as _existing_sink_url
from .sink_url import sink_url as _sink_url
from .validate import print_feeds_warnings, validate_feeds

if TYPE_CHECKING:  # imported by _execute_async, while the SQLite worker starts up
    from rich.console import Console

    from .._run.pipeline import Runner, RunOptions
    from .._run.progress import ProgressListener
    from .._scale.coordinator import ScaledExecutor
    from .._sink.base import Sink
    from .._telemetry import Telemetry

    Executing = AbstractAsyncContextManager[ScaledExecutor | None]
    OpenExecutor = Callable[[ExecutorSpec, Sink], Executing]

__all__: list[str] = []


def _log_level(args: argparse.Namespace) -> int | None:
    """--log-level, else -v (info) / -vv (debug), else the log format's default (None)."""
    if args.log_level:
        return int(getattr(logging, args.log_level.upper()))
    return {0: None, 1: logging.INFO}.get(args.verbose, logging.DEBUG)


def _telemetry(args: argparse.Namespace) -> Telemetry:
    from .._telemetry import Telemetry, TelemetryOptions
    from .._telemetry.metrics import METRICS_ADDRESS, created_series

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
            created_series=created_series(os.environ),
        )
    )


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


@in_batch_collection  # the collector set for a batch (_gcpolicy.py)
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
    """One run of the command line: ``run``, ``resume``, ``demo``, each run of ``--every``."""
    spec = _executor(args)
    check_sink(spec, sink_url)  # before a SQLite file is made for a run that cannot start
    sink = open_run_sink(sink_url)
    freeze_heap()  # before the fork: the worker's collections leave it out too
    opening = asyncio.create_task(sink.open())
    # The SQLite worker process starts first of all: while this process has one thread,
    # it is forked (worker_start.py), and ready in about 10 ms.
    await asyncio.sleep(0)
    console, progress = _display(args, config)
    timings = PhaseTimer(process_started()) if getattr(args, "timings", False) else None
    sweep_stale_spools()  # spool files of runs SIGKILLed mid-download
    # The run's own modules (aiohttp, the engine: about 0.09 s) import in a thread, from
    # before the worker has opened the database (10-15 ms of it) until after the run is
    # recorded: the run row is written as soon as the worker is up, not after the
    # imports (issue 13, the early window). The worker is forked already: the task
    # ``opening`` made it in its first step, during the sleep above.
    importing = asyncio.create_task(asyncio.to_thread(_run_modules))
    try:
        await opening  # a Ctrl-C until here ends the command: nothing is recorded yet
    except BaseException:
        await asyncio.gather(importing, return_exceptions=True)  # no thread left mid-import
        raise
    # From here the run is ours to stop: the handlers come before the run is recorded.
    signals = _RunSignals(on_signal)
    try:
        begun = None if run_id is not None else await begin_run(sink, suppliers, label)
        runner_type, options_type, scaled_executor = await importing
        freeze_heap()  # and the run's own modules
        async with scaled_executor(spec, sink) as executor:
            options = options_type(label=label, run_id=run_id, progress=progress)
            options.begun, options.executor = begun, executor
            options.telemetry = _telemetry(args)
            options.timings = timings
            runner = runner_type(suppliers, sink, config, options)
            signals.attach(runner)
            summary = await runner.run()
    except BaseException:
        await sink.close()
        raise
    # The sink lets go of the database while the result prints: the SQLite worker's
    # last checkpoint and the WAL's deletion (30 ms after 100,000 rows) beside the
    # summary table (about as long).
    closing = asyncio.create_task(sink.close())
    await asyncio.sleep(0)  # the close is on its way
    try:
        _print_run(console, summary, "" if getattr(args, "db", None) else label, sink_url)
    finally:
        await closing
    if timings is not None:
        timings.mark("report")
        timings.print()
    return run_exit_status(summary, args.fail_on_error_rate)


def _run_modules() -> tuple[type[Runner], type[RunOptions], OpenExecutor]:
    """The run's own modules, imported (in a thread: ``_execute_async``). Every module
    the loop's thread uses meanwhile is imported before (this module's imports, the
    display's and the spool sweep's), so the two threads never import the same module
    at once."""
    from .._fetch.tls_defaults import import_aiohttp

    import_aiohttp()  # its CA certificates load on the first HTTPS request (~65 ms)
    from .._run.pipeline import Runner, RunOptions
    from .._scale.coordinator import scaled_executor

    _failpoints.failpoint("run_modules")  # tests: the run must be recorded already
    return Runner, RunOptions, scaled_executor


def _executor(args: argparse.Namespace) -> ExecutorSpec:
    """``--executor``, else the feeds file's ``executor:``, else local (demo, --every)."""
    spec = getattr(args, "executor", None) or getattr(args, "feeds_executor", LOCAL)
    assert isinstance(spec, ExecutorSpec)
    return spec


class _RunSignals:
    """SIGINT/SIGTERM for one run. First: stop starting fetches, write what is in flight,
    record the checkpoint (and call ``also``: ``--every`` ends after this run). Second:
    exit at once (committed work is safe; ``resume`` finishes).

    The handlers are in place before the run is recorded as running, not only once its
    runner exists: a signal in between (while the imports finish) is kept and given to
    the runner when it is made, which then fetches nothing and records the run as
    interrupted. Before, such a signal met ``--every``'s "no run in progress" handler and
    the run went on to the end, or, for a single run, killed it (``resume`` finished it)."""

    def __init__(self, also: Callable[[], None] | None = None) -> None:
        self._also = also
        self._runner: Runner | None = None
        self._seen = 0
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal)

    def attach(self, runner: Runner) -> None:
        self._runner = runner
        if self._seen:
            runner.stop()

    def _on_signal(self) -> None:
        self._seen += 1
        if self._seen > 1:
            os._exit(130)
        print("\nstopping: finishing writes in flight (signal again to quit now)", file=sys.stderr)
        if self._runner is not None:
            self._runner.stop()
        if self._also is not None:
            self._also()


def _display(
    args: argparse.Namespace, config: FeedConfig
) -> tuple[Console | None, ProgressListener]:
    """The console and the live progress; none of them (and no import of rich, about
    55 ms) for ``--json``, which draws no progress and prints one JSON line."""
    if args.json:
        from .._run.progress import NullProgress

        return None, NullProgress()
    from .display import RichProgress, make_console

    console = make_console()
    progress = RichProgress(console, enabled=not args.quiet, timeout_seconds=config.timeout_seconds)
    return console, progress


def _print_run(console: Console | None, summary: RunSummary, feeds: str, sink_url: str) -> None:
    """The result (one JSON line for --json), and on a terminal the command that renders
    its HTML report (``feeds`` empty when the database was named with --db: the command
    names it instead)."""
    if console is None:  # --json
        sys.stdout.buffer.write(msgspec.json.encode(summary.to_dict()) + b"\n")
        return
    from .display import print_summary
    from .report_html import html_report_command

    print_summary(console, summary.to_dict())
    hint = html_report_command(summary.run_id, feeds, sink_url)
    console.print(f"HTML report: {hint}", markup=False, highlight=False, soft_wrap=True)


# -- report / dead letters / trace / replay -------------------------------------------------
def _cmd_report(args: argparse.Namespace) -> int:
    from .report import show_report

    if args.html is not None:
        from .report_html import write_html_report

        return asyncio.run(write_html_report(_existing_sink_url(args), args.run_id, args.html))
    return asyncio.run(show_report(_existing_sink_url(args), args.run_id, as_json=args.json))


def _cmd_decode(args: argparse.Namespace) -> int:
    from .decode_file import decode_file, decode_settings

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


def _cmd_validate(args: argparse.Namespace) -> int:
    return validate_feeds(args.feeds, args.db)
