"""Whole runs from Python: ``supplyfeed.run_feeds`` and ``supplyfeed.arun_feeds``.

One call is one ``supplyfeed run``: the same planning, fetching, decoding, loading and
ledger, the same :class:`~supplyfeed.RunSummary` that ``supplyfeed report --json``
prints for the run afterwards. Logging is left to the application (nothing is printed);
``supplyfeed resume`` and ``supplyfeed report`` work on the run like on any other.

>>> summary = supplyfeed.run_feeds("feeds.yaml")                 # doctest: +SKIP
>>> summary.ok, summary.records_loaded, summary.failures_by_reason  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:  # the run's modules load on the first call, not on `import supplyfeed`
    from ._feedsfile import FeedsFile
    from ._run.summary import RunSummary

__all__ = ["FeedsSource", "arun_feeds", "run_feeds"]

# A feeds file's path, a feeds document already parsed from YAML (a mapping), or a
# FeedsFile the application built.
FeedsSource: TypeAlias = "str | os.PathLike[str] | Mapping[str, Any] | FeedsFile"


def run_feeds(feeds: FeedsSource, *, sink: str | None = None) -> RunSummary:
    """Run ``feeds`` once and return its summary; ``sink`` (a database URL) replaces the
    file's ``sink:``. Not from inside a running event loop: use :func:`arun_feeds` there.

    Raises :class:`~supplyfeed.ConfigError` for a bad feeds file or sink URL,
    :class:`~supplyfeed.RunLockedError` while another run holds the database, and
    :class:`~supplyfeed.SinkError` when the database fails mid-run (``supplyfeed
    resume`` then continues from the checkpoint). Endpoints that fail do not raise: they
    are counted in the summary (``ok``, ``outcomes``, ``failures_by_reason``).
    """
    return asyncio.run(arun_feeds(feeds, sink=sink))


async def arun_feeds(feeds: FeedsSource, *, sink: str | None = None) -> RunSummary:
    """:func:`run_feeds` in the caller's event loop."""
    from ._formats.body import sweep_stale_spools
    from ._run.pipeline import Runner, RunOptions
    from ._sink.factory import open_run_sink
    from ._telemetry import Telemetry, TelemetryOptions

    loaded = _load(feeds)
    sweep_stale_spools()  # spool files of runs SIGKILLed mid-download, as the CLI does
    run_sink = open_run_sink(sink or loaded.sink)
    await run_sink.open()
    try:
        options = RunOptions(label=_label(loaded), telemetry=Telemetry(TelemetryOptions()))
        return await Runner(loaded.suppliers, run_sink, loaded.defaults, options).run()
    finally:
        await run_sink.close()


def _load(feeds: FeedsSource) -> FeedsFile:
    import yaml

    from ._feedsfile import FeedsFile, load_feeds_file, parse_feeds

    if isinstance(feeds, FeedsFile):
        return feeds
    if isinstance(feeds, Mapping):
        return parse_feeds(yaml.safe_dump(dict(feeds), sort_keys=False), "<mapping>", os.environ)
    return load_feeds_file(Path(feeds))


def _label(feeds: FeedsFile) -> str:
    """What ``resume`` finds the feeds file again by: its absolute path, when it is one."""
    path = Path(feeds.path)
    return str(path.resolve()) if path.is_file() else feeds.path
