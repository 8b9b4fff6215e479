"""How the SQLite worker process starts (issue 17): forked while the process has one
thread, spawned otherwise; either way it stores and returns the same rows.

Each case runs in a fresh interpreter, so the test runner's own threads do not count.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

_PROBE = textwrap.dedent(
    """
    import asyncio, datetime as dt, json, sys, threading
    import psutil
    from supplyfeed._models import DocKind
    from supplyfeed._sink.base import Endpoint, RunRecord
    from supplyfeed._sink.sqlite import SqliteSink
    from supplyfeed._sink.worker_start import os_threads, worker_context

    def endpoint(i):
        url = f"http://127.0.0.1/e{i}"
        return Endpoint(url, "S1", DocKind.INVENTORY_SNAPSHOT, "json", url)

    async def main(path, threaded):
        if threaded:  # a thread that lives through the start, as a program's own would
            stop = threading.Event()
            threading.Thread(target=stop.wait, daemon=True).start()
        method, threads = worker_context().get_start_method(), os_threads()
        sink = SqliteSink(f"sqlite:///{path}", worker="process")
        await sink.open()
        try:
            me = psutil.Process()
            worker = [c.cmdline() for c in me.children()]
            run = RunRecord("r1", dt.datetime(2026, 12, 3, tzinfo=dt.UTC), "running")
            await sink.start_run(run, [endpoint(i) for i in range(50)])
            stored = len(await sink.endpoints("r1"))
        finally:
            await sink.close()
        print(json.dumps({"method": method, "threads": threads, "stored": stored,
                          "children": worker, "me": me.cmdline()}))

    asyncio.run(main(sys.argv[1], sys.argv[2] == "threaded"))
    """
)


def _probe(tmp_path: Path, mode: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(tmp_path / "w.db"), mode],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "DeprecationWarning" not in done.stderr  # Python 3.12+: no fork with threads
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.skipif(sys.platform != "linux", reason="fork is used on Linux only")
def test_a_single_threaded_process_forks_its_worker(tmp_path: Path) -> None:
    found = _probe(tmp_path, "plain")
    assert found["method"] == "fork"
    assert found["threads"] == 1
    # A forked worker is a copy of this interpreter: the same command line, and no
    # resource tracker (which only a spawned worker's semaphores need).
    assert found["children"] == [found["me"]]
    assert found["stored"] == 50


def test_a_process_with_another_thread_spawns_its_worker(tmp_path: Path) -> None:
    found = _probe(tmp_path, "threaded")
    assert found["method"] == "spawn"
    children = found["children"]
    assert isinstance(children, list)
    assert any("spawn_main" in " ".join(cmd) for cmd in children)
    assert found["children"] != [found["me"]]
    assert found["stored"] == 50
