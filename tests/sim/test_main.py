"""``python -m supplyfeed.sim serve`` in its own process."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from supplyfeed.sim import TABLES

pytestmark = pytest.mark.slow  # the simulator's CLI in a subprocess


def wait_for_fleet_file(proc: subprocess.Popen[str], out: Path) -> None:
    """Until ``serve`` wrote ``--out`` (once every port listens), or fail with its stderr."""
    deadline = time.monotonic() + 20
    while not out.exists():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "fleet file never written"
        time.sleep(0.05)


def free_port_pair() -> int:
    """A port whose next one is free too (as far as a probe can tell)."""
    while True:
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            base: int = a.getsockname()[1]
            if base >= 65535:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", base + 1))
                except OSError:
                    continue
        return base


def test_serve_writes_the_fleet_file_and_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    """The fleet file lists every URL with outcome and rows; SIGTERM exits 0."""
    out = tmp_path / "fleet.json"
    args = [
        sys.executable, "-W", "error", "-m", "supplyfeed.sim", "serve",
        "--endpoints", "12", "--hosts", "2", "--records", "4", "--fault-rate", "0.25",
        "--latency-ms", "1", "--seed", "3", "--out", str(out),
    ]  # fmt: skip
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_fleet_file(proc, out)
        fleet = json.loads(out.read_text())
        assert len(fleet["endpoints"]) == 12
        assert len(fleet["ports"]) == 2
        healthy = next(e for e in fleet["endpoints"] if e["fault"] is None)
        assert healthy["expected"] == "loaded"
        assert healthy["rows"] >= 4
        with urllib.request.urlopen(healthy["url"], timeout=5) as response:
            assert response.status == 200
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_rejects_bad_arguments_with_exit_2() -> None:
    """An unknown format is exit 2 with a one-line error, before any port opens."""
    result = subprocess.run(
        [sys.executable, "-m", "supplyfeed.sim", "serve", "--formats", "nope"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "nope" in result.stderr


def test_serve_writes_a_feeds_file_that_a_run_loads_completely(tmp_path: Path) -> None:
    """``--feeds`` names every endpoint the fleet serves, under ``--sink``; ``supplyfeed
    run`` on it loads every one, on the ports ``--port-base`` asked for."""
    feeds, out, db = tmp_path / "feeds.yaml", tmp_path / "fleet.json", tmp_path / "x.db"
    base = free_port_pair()
    args = [
        sys.executable, "-W", "error", "-m", "supplyfeed.sim", "serve",
        "--endpoints", "12", "--hosts", "2", "--records", "3", "--latency-ms", "1",
        "--port-base", str(base), "--feeds", str(feeds), "--sink", "sqlite:///x.db",
        "--out", str(out),
    ]  # fmt: skip
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_fleet_file(proc, out)
        doc = yaml.safe_load(feeds.read_text())
        listed = {u for s in doc["suppliers"] for f in s["feeds"] for u in f["urls"]}
        fleet = json.loads(out.read_text())
        assert doc["sink"] == "sqlite:///x.db"
        assert fleet["ports"] == [base, base + 1]
        assert listed == {e["url"] for e in fleet["endpoints"]}
        run = subprocess.run(
            [sys.executable, "-m", "supplyfeed", "run", str(feeds), "--quiet", "--json"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        summary = json.loads(run.stdout.splitlines()[-1])
        assert summary["outcomes"] == {"loaded": 12}
        with sqlite3.connect(db) as conn:  # the relative sink, beside the feeds file
            stored = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        assert stored == fleet["totals"]["rows"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)


def test_serve_refuses_a_port_base_past_the_last_port() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "supplyfeed.sim", "serve", "--hosts", "4", "--port-base", "65534"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--port-base 65534" in result.stderr
