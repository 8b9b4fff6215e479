"""``supplyfeed run FEEDS --every 15m``: the CLI side of the poller (``_run/schedule.py``).

Each slot re-reads the feeds file (an edit applies from the next run) and runs it as
``supplyfeed run`` would. A run that fails, or finds the database locked by another
run, does not end the poller: it says so and waits for the next slot. A bad feeds file
ends it only at the first run (a typo should fail at once, exit 2). SIGTERM or Ctrl-C
between runs ends it at once; during a run, that run stops as a single run does and the
poller ends after it. The exit status is the last run's.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from .._config import FeedConfig, SupplierSpec
from .._exceptions import ConfigError, RunLockedError, SinkError
from .._feedsfile import load_feeds_file
from .._run.schedule import Poller, parse_interval
from .exit_status import EXIT_LOCKED, EXIT_NOT_FINISHED, EXIT_USAGE

__all__ = ["interval_arg", "run_every"]


class Execute(Protocol):
    def __call__(
        self,
        suppliers: Sequence[SupplierSpec],
        config: FeedConfig,
        sink_url: str,
        label: str,
        run_id: str | None,
        args: argparse.Namespace,
        *,
        on_signal: Callable[[], None] | None = None,
    ) -> Awaitable[int]: ...


def interval_arg(value: str) -> float:
    """argparse ``type=`` for ``--every``: a bad duration is a usage error (exit 2)."""
    try:
        return parse_interval(value)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run_every(args: argparse.Namespace, execute: Execute) -> int:
    return asyncio.run(_poll(args, execute))


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def _poll(args: argparse.Namespace, execute: Execute) -> int:
    label = str(args.feeds.resolve())  # resume finds the feeds file again through it

    async def once() -> int:
        try:
            return await _run_once(args, execute, label, poller)
        finally:
            _stop_on_signal(poller)  # the run's own handlers are gone with its runner

    poller = Poller(args.every, once, say=_say)
    _stop_on_signal(poller)
    return await poller.run()


async def _run_once(args: argparse.Namespace, execute: Execute, label: str, poller: Poller) -> int:
    try:
        feeds = load_feeds_file(args.feeds)
    except ConfigError as exc:
        if poller.runs == 0:
            raise
        _say(f"error: {exc} (every: the next slot reads the file again)")
        return EXIT_USAGE
    try:
        return await execute(
            feeds.suppliers,
            feeds.defaults,
            args.db or feeds.sink,
            label,
            None,
            args,
            on_signal=poller.stop,
        )
    except RunLockedError as exc:  # another run holds the database: this slot is skipped
        _say(f"error: {exc} (every: skipped this slot)")
        return EXIT_LOCKED
    except SinkError as exc:  # the run stopped at its checkpoint; the next slot runs anew
        _say(f"error: {exc} (every: `supplyfeed resume` finishes that run)")
        return EXIT_NOT_FINISHED


def _stop_on_signal(poller: Poller) -> None:
    loop = asyncio.get_running_loop()

    def stop() -> None:
        _say("\nevery: stopping (no run in progress)")
        poller.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
