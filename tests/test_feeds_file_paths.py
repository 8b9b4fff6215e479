"""A relative SQLite sink in a feeds file is relative to the feeds file's folder, not to
the directory the command runs in (a cron job and an interactive run hit one database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from supplyfeed._feedsfile import load_feeds_file

_FEEDS = """\
sink: "{sink}"
suppliers:
  - id: ACME
    feeds:
      - kind: po_ack
        format: json
        urls: [http://127.0.0.1:9/acks.json]
"""


def test_a_relative_sqlite_sink_resolves_against_the_feeds_file(tmp_path: Path) -> None:
    """``sqlite:///data/x.db`` in /dir/feeds.yaml is /dir/data/x.db, wherever we run."""
    feeds = tmp_path / "conf" / "feeds.yaml"
    feeds.parent.mkdir()
    feeds.write_text(_FEEDS.format(sink="sqlite:///data/x.db"))
    assert load_feeds_file(feeds).sink == f"sqlite:///{tmp_path / 'conf' / 'data' / 'x.db'}"


@pytest.mark.parametrize("sink", ["sqlite:////abs/x.db", "sqlite:///:memory:", "memory://"])
def test_absolute_and_non_file_sinks_are_kept(tmp_path: Path, sink: str) -> None:
    """An absolute path, SQLite's :memory: and other sinks are left as written."""
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(_FEEDS.format(sink=sink))
    assert load_feeds_file(feeds).sink == sink
