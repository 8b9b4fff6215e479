"""open_sink chooses the sink by the URL's scheme."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from supplyfeed import ConfigError, SinkError
from supplyfeed._sink.factory import open_sink
from supplyfeed._sink.memory import MemorySink
from supplyfeed._sink.sqlite import SqliteSink


def test_sqlite_urls_relative_and_absolute() -> None:
    """Three slashes: relative to the working directory; four: absolute."""
    relative, absolute = open_sink("sqlite:///data/feeds.db"), open_sink("sqlite:////srv/f.db")
    assert isinstance(relative, SqliteSink)
    assert relative.path == "data/feeds.db"
    assert isinstance(absolute, SqliteSink)
    assert absolute.path == "/srv/f.db"


def test_memory_url_gives_the_fake() -> None:
    """memory:// is the shipped in-process fake."""
    assert isinstance(open_sink("memory://"), MemorySink)


@pytest.mark.parametrize("url", ["mysql://db/x", "feeds.db", "sqlite://"])
def test_unknown_or_malformed_urls_are_config_errors(url: str) -> None:
    """A bad sink URL is a config error naming the key."""
    with pytest.raises(ConfigError) as info:
        open_sink(url)
    assert info.value.key == "sink"


@pytest.mark.skipif(
    importlib.util.find_spec("supplyfeed._sink.postgres") is not None,
    reason="the PostgreSQL sink exists",
)
def test_postgres_without_its_module_is_a_clear_sink_error() -> None:
    """Until the PostgreSQL sink ships, its URL fails with a message, not an ImportError."""
    with pytest.raises(SinkError, match="PostgreSQL sink is not available"):
        open_sink("postgresql://u@localhost/db")


async def test_read_only_open_passes_lock_false(tmp_path: Path) -> None:
    """lock=False reaches the SQLite sink, so a reader opens beside a running writer."""
    db = f"sqlite:///{tmp_path / 'x.db'}"
    writer, reader = open_sink(db), open_sink(db, lock=False)
    await writer.open()
    try:
        await reader.open()
        await reader.close()
    finally:
        await writer.close()
