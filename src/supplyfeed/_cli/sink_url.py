"""Which database a command opens: ``--db``, else the feeds file's sink, else the default.

Apart from ``commands.py`` so that a command that only reads the database (``reconcile``)
finds it without importing the run pipeline's modules.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .._exceptions import ConfigError
from .._feedsfile import DEFAULT_SINK, FeedsFile, load_feeds_file

__all__ = ["existing_sink_url", "sink_url"]


def sink_url(args: argparse.Namespace, feeds: FeedsFile | None = None) -> str:
    if getattr(args, "db", None):
        return str(args.db)
    if feeds is None and getattr(args, "feeds", None):
        feeds = load_feeds_file(args.feeds)
    return feeds.sink if feeds is not None else DEFAULT_SINK


def existing_sink_url(args: argparse.Namespace, feeds: FeedsFile | None = None) -> str:
    """The database a reading command opens. A SQLite file must exist already: opening a
    mistyped path would create an empty database and report "nothing found"."""
    url = sink_url(args, feeds)
    if url.startswith("sqlite:"):
        from .._sink.sqlite import sqlite_path  # here: the sink is imported only when used

        path = sqlite_path(url)
        if path != ":memory:" and not Path(path).exists():
            raise ConfigError(
                f"no database at {path} ({url}): run `supplyfeed run FEEDS.yaml` first, "
                "or name it with --db URL or --feeds FEEDS.yaml"
            )
    return url
