"""Ctrl-C in ``supplyfeed demo``, then ``supplyfeed resume``: the demo's simulator is
served again (same options, ports and round) and the run finishes, every record once."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from supplyfeed._cli.demo import PORT_BASE_ENV, demo_plan
from supplyfeed.sim import TABLES
from tests.test_demo import HOSTS, _free_port_base, _table_keys, _truth

pytestmark = pytest.mark.slow

DEMO = {"endpoints": 60, "hosts": HOSTS, "records": 4, "fault_rate": 0.0, "seed": 3,
        "latency_ms": 150.0, "formats": ""}  # fmt: skip


def _argv(db: str) -> list[str]:
    argv = [sys.executable, "-m", "supplyfeed", "demo", "--db", db, "--quiet"]
    for name, value in DEMO.items():
        if value != "":
            argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv


def _runs(db: Path) -> list[tuple[str, str, str]]:
    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
        try:
            return conn.execute("SELECT run_id, status, feeds FROM sf_runs").fetchall()
        except sqlite3.OperationalError:  # schema not made yet
            return []


def _loaded(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
        return int(
            conn.execute("SELECT count(*) FROM sf_endpoints WHERE outcome = 'loaded'").fetchone()[0]
        )


def _wait_for_loads(db: Path) -> None:
    deadline = time.monotonic() + 90  # a generous limit for a loaded machine, not a target
    while time.monotonic() < deadline:
        if _runs(db) and _loaded(db) >= 5:
            return
        time.sleep(0.05)
    pytest.fail("the demo recorded no loaded endpoint in 90 s")


def test_resume_after_ctrl_c_in_the_demo_restarts_the_simulator_and_finishes(
    tmp_path: Path,
) -> None:
    base = _free_port_base(10 + HOSTS)
    env = {**os.environ, PORT_BASE_ENV: str(base)}
    env.pop("SUPPLYFEED_FAILPOINTS", None)
    path = tmp_path / "demo.db"
    db = f"sqlite:///{path}"
    demo = subprocess.Popen(
        _argv(db), env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _wait_for_loads(path)
    demo.send_signal(signal.SIGINT)
    out, err = demo.communicate(timeout=120)
    shown = (out + err).decode()
    [(run_id, status, label)] = _runs(path)
    assert status == "interrupted", shown
    assert label.startswith("demo?"), label
    assert f"demo: to finish run {run_id}: supplyfeed resume --db {db}" in shown, shown
    planned = len(demo_plan(argparse.Namespace(**DEMO), base).fleet.endpoints)
    assert _loaded(path) < planned  # stopped part-way: resume has work to do

    done = subprocess.run(
        [sys.executable, "-m", "supplyfeed", "resume", "--db", db, "--quiet", "--json"],
        env=env, cwd=tmp_path, capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    assert _runs(path) == [(run_id, "finished", label)]  # the same run, finished
    expected = _truth(demo_plan(argparse.Namespace(**DEMO), base), range(1))
    tables = _table_keys(db)
    for table in TABLES:
        rows = tables[table]
        duplicated = [k for k, n in Counter(rows).items() if n > 1]
        assert not duplicated, (table, duplicated[:3])
        assert set(rows) == expected[table], table  # nothing lost, nothing unexpected


def test_resume_of_a_demo_on_ephemeral_ports_says_why_it_cannot_in_one_line(
    tmp_path: Path,
) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    env = {k: v for k, v in os.environ.items() if k != "SUPPLYFEED_FAILPOINTS"}
    small = [sys.executable, "-m", "supplyfeed", "demo", "--db", db, "--quiet",
             "--endpoints", "6", "--hosts", "1", "--records", "2", "--latency-ms", "1",
             "--fault-rate", "0", "--port-base", "0"]  # fmt: skip
    subprocess.run(small, env=env, cwd=tmp_path, capture_output=True, timeout=120, check=True)
    done = subprocess.run(
        [sys.executable, "-m", "supplyfeed", "resume", "--db", db],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "ephemeral ports" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
