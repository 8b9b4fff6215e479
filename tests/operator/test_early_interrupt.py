"""Ctrl-C before a run has its own handler (here: while the sink still connects) ends the
command with one line and exit 130, never a KeyboardInterrupt traceback."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

FEEDS = """\
suppliers:
  - id: S
    feeds:
      - kind: inventory_snapshot
        format: json
        urls: ["http://127.0.0.1:9/S/inv.json"]
"""


async def test_ctrl_c_while_the_sink_connects_exits_130_in_one_line(tmp_path: Path) -> None:
    """A PostgreSQL "server" that accepts and never answers holds the run in its setup;
    SIGINT then: exit 130, 'interrupted', no traceback, nothing fetched."""
    accepted = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # keep it open, answer nothing
        accepted.set()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(FEEDS)
    env = {k: v for k, v in os.environ.items() if k != "SUPPLYFEED_FAILPOINTS"}
    async with server:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "supplyfeed", "run", str(feeds), "--quiet",
            "--db", f"postgresql://postgres@127.0.0.1:{port}/none", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(60):
            await accepted.wait()
            proc.send_signal(signal.SIGINT)
            out, err = await proc.communicate()
        for writer in held:
            writer.close()
    text = err.decode()
    assert proc.returncode == 130, text
    assert text.strip() == "interrupted", text
    assert out == b""
