"""Open a sink from its URL (the feeds file's ``sink:`` or ``--db``)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .._exceptions import ConfigError, SinkError

if TYPE_CHECKING:  # the CLI's parser reads DEFAULT_SINK_URL: no sink module at import
    from .base import Sink
    from .postgres import PostgresOptions

__all__ = ["DEFAULT_SINK_URL", "open_sink"]

DEFAULT_SINK_URL = "sqlite:///supplyfeed.db"


def open_sink(url: str, *, lock: bool = True, **options: Any) -> Sink:
    """The sink for ``url``, not yet opened (``await sink.open()`` or ``async with``).

    ``sqlite:///relative.db``, ``sqlite:////abs/path.db``, ``sqlite:///:memory:``,
    ``memory://`` (the in-process fake) or ``postgresql://...``. ``lock=False`` is for
    read-only commands that must work while a run holds the database. ``options`` go to
    the sink's constructor: ``SqliteSink``'s keywords, or for PostgreSQL one
    ``options=PostgresOptions(...)``.
    """
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise ConfigError(f"not a sink URL: {url!r} (e.g. {DEFAULT_SINK_URL})", key="sink")
    if scheme == "sqlite":
        from .sqlite import SqliteSink

        return SqliteSink(url, lock=lock, **options)
    if scheme == "memory":
        from .memory import MemorySink

        return MemorySink(url, **options)
    if scheme in ("postgresql", "postgres"):
        return _postgres(url, lock=lock, **options)
    raise ConfigError(
        f"unknown sink scheme {scheme!r} in {url!r}: use sqlite:///, postgresql:// or memory://",
        key="sink",
    )


def open_run_sink(url: str) -> Sink:
    """The sink an ingestion run writes through.

    A SQLite file is written by a worker process (``sqlite_worker.py``): decoding and SQL
    then run on another core instead of competing with the event loop for the GIL. On the
    throughput benchmark (2,000 payloads, 100,000 rows, 2 cores) that took supplyfeed from
    2.02x to 1.62x of bare aiohttp (median of 3, interleaved). ``:memory:`` stays in a
    thread (a child could not share it).
    """
    if url.startswith("sqlite://"):
        from .sqlite import MEMORY, sqlite_path

        if (path := sqlite_path(url)) != MEMORY:
            _check_folder(Path(path))
        return open_sink(url, worker="process")
    return open_sink(url)


def _check_folder(db: Path) -> None:
    # SQLite creates the file, never its folder: a typo'd folder is the user's to fix.
    folder = db.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ConfigError(f"the folder of the SQLite database {folder}/ {what}", key="sink")


def _postgres(url: str, *, lock: bool, options: PostgresOptions | None = None) -> Sink:
    """``options``: a :class:`~supplyfeed._sink.postgres.PostgresOptions`, or the defaults."""
    # Imported lazily: the SQLite default must not pay for (or need) the PostgreSQL driver.
    try:
        module = importlib.import_module("supplyfeed._sink.postgres")
    except ModuleNotFoundError as exc:
        raise SinkError(
            f"PostgreSQL sink is not available in this build ({exc.name} is missing); "
            "use a sqlite:/// URL"
        ) from exc
    return cast("Sink", module.PostgresSink(url, options, lock=lock))
