"""A PostgreSQL sink nobody listens for: one line at once, exit 2, no retry loop."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from supplyfeed._cli.main import main


def _closed_port() -> int:
    with socket.socket() as s:  # bound then released: nothing listens there now
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_refused_postgresql_exits_2_within_3_seconds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """'cannot connect to 127.0.0.1:PORT: connection refused; is the server running?'"""
    port = _closed_port()
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        f"sink: postgresql://postgres@127.0.0.1:{port}/supplyfeed\n"
        "suppliers:\n  - id: acme\n    feeds:\n"
        "      - {kind: inventory_snapshot, format: json, urls: ['http://127.0.0.1:9/x']}\n",
        encoding="utf-8",
    )
    started = time.monotonic()
    code = main(["run", str(feeds)])
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == (
        f"error: cannot connect to 127.0.0.1:{port}: connection refused; is the server running?"
    )
    assert elapsed < 3.0
