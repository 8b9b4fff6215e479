"""Bytes to stdout for commands whose output is piped (``decode``, ``dead-letters show
--raw``): written as they are, and a reader that closes early (``| head``) ends the
command quietly with exit 0."""

from __future__ import annotations

import os
import shutil
import sys
from typing import IO

__all__ = ["copy_to_stdout"]


def copy_to_stdout(source: IO[bytes]) -> None:
    try:
        shutil.copyfileobj(source, sys.stdout.buffer, 1 << 20)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader has what it wanted. Point stdout at /dev/null so the interpreter's
        # flush at exit does not fail again on the closed pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
