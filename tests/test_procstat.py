"""``_procstat``: the process's figures from ``/proc``, as psutil gives them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from supplyfeed._procstat import fd_count, pid_alive, rss_bytes

linux_only = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="no /proc here")


@linux_only
def test_the_descriptor_count_follows_what_is_opened(tmp_path: Path) -> None:
    before = fd_count()
    assert before == psutil.Process().num_fds()
    with (tmp_path / "a").open("w"), (tmp_path / "b").open("w"):
        assert fd_count() == before + 2 == psutil.Process().num_fds()
    assert fd_count() == before


@linux_only
def test_the_resident_size_is_psutils_and_grows_with_what_is_touched() -> None:
    ours, theirs = rss_bytes(), psutil.Process().memory_info().rss
    assert abs(ours - theirs) < 4 << 20  # read a moment apart: the same to a few pages
    block = bytearray(64 << 20)  # zero-filled: every page is written, so resident
    assert rss_bytes() > ours + (48 << 20)
    del block


def test_a_pid_is_alive_until_its_process_is_reaped() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert pid_alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not pid_alive(child.pid)  # (reused only after the kernel's pid range wraps)
    assert pid_alive(os.getpid())
    assert not pid_alive(0)
    assert not pid_alive(-1)
