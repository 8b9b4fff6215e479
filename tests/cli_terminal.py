"""Run the CLI in a child process with stdout on a real pseudo-terminal of a given size,
as an operator's window shows it (rich then lays tables out for that width)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import re
import struct
import sys
import termios
from typing import IO

__all__ = ["on_terminal"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def _drain(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


async def on_terminal(
    *args: str, columns: int = 120, limit: float = 60.0, stderr: IO[bytes] | None = None
) -> tuple[int, str]:
    """``python -m supplyfeed ARGS`` on a ``columns``-wide terminal: (exit code, screen).
    ``stderr``: a file instead of the terminal (``2>err.log``)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("SUPPLYFEED_FAILPOINTS", "COLUMNS")}
    env["TERM"] = "xterm-256color"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "supplyfeed", *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=slave, stderr=stderr or slave, env=env,
    )  # fmt: skip
    os.close(slave)
    try:
        screen = asyncio.get_running_loop().run_in_executor(None, _drain, master)
        async with asyncio.timeout(limit):
            code = await proc.wait()
            shown = await screen
    finally:
        os.close(master)
    text = shown.decode(errors="replace").replace("\r\n", "\n")
    return code, _ANSI.sub("", text)  # colours and styles: what the operator reads
