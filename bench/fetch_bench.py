"""Issues 2 and 17: one workload through every implementation, side by side, each timed
as a whole process (interpreter start, imports and teardown included: what a user or a
cron job sees).

- (a) bare aiohttp: one GET per URL under the same connection limits, body read, nothing
  parsed or written. The floor.
- (b) the guide's chunked-gather ``AsyncBatchIngestor``, exactly as written.
- (c) ``supplyfeed run`` end to end (fetch, decode, load into a fresh SQLite file, ledger
  included), hedging off (``hedge: false``), and (d) the same with hedging on.
- (e) dlt (optional extra ``peers``) loading the same fleet into DuckDB with merge on
  the natural key, 50 threads; skipped with a message when dlt is not installed.

Workloads: ``faults`` (500 x 20, 20% of the usual fault mix), ``hang_once`` (500 x 20,
20% faults of which 3 points hang on their first request only, and none hang for good)
and ``throughput`` (2,000 x 50, no faults). 100 ms median latency (20 ms for
throughput), 5 s timeout. The simulated fleet runs in its own process, restarted for
every measurement, so each implementation meets the same faults. Implementations are
interleaved; the table shows the median of ``--repeat`` rounds.
Usage: ``python -m bench fetch [--repeat 3] [--workload hang_once]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from supplyfeed.sim.faults import DEFAULT_FAULT_MIX


@dataclass(frozen=True)
class Workload:
    name: str
    endpoints: int
    records: int
    fault_rate: float
    latency_ms: float
    timeout: float
    fault_mix: str = ""  # --fault-mix of the simulator; empty: the usual mix


def _hang_once_mix(rate: float = 0.20, hang_once: float = 0.03) -> str:
    """``hang_once`` for ``hang_once / rate`` of the faults, the usual transient and
    permanent faults for the rest, and no endpoint that hangs on every request."""
    rest = {k: v for k, v in DEFAULT_FAULT_MIX.items() if k != "hang"}
    scale = (rate - hang_once) / sum(rest.values())
    mix = {"hang_once": hang_once, **{k: v * scale for k, v in rest.items()}}
    return ",".join(f"{k}={v:.4f}" for k, v in mix.items())


WORKLOADS = {
    "faults": Workload("faults", 500, 20, 0.2, 100.0, 5.0),
    "hang_once": Workload("hang_once", 500, 20, 0.2, 100.0, 5.0, _hang_once_mix()),
    "throughput": Workload("throughput", 2000, 50, 0.0, 20.0, 5.0),
}
LINE_TABLES = ("inventory_positions", "po_ack_lines", "ship_notice_lines")
ATTEMPTS = 3  # retry_attempts, the guide's default, for every implementation
A, B, C, D, E = (
    "(a) bare aiohttp",
    "(b) guide chunked gather",
    "(c) supplyfeed, no hedging",
    "(d) supplyfeed, hedging",
    "(e) dlt -> DuckDB",
)
HAS_DLT = importlib.util.find_spec("dlt") is not None


@dataclass
class Result:
    wall: float  # the whole process
    ok: int
    records: int | None
    run_wall: float | None = None  # supplyfeed's own run, as its summary says
    requests: int = 0  # supplyfeed: requests sent, hedges included
    hedges: int = 0


class Fleet:
    """The simulator in a child process, for one measurement."""

    def __init__(self, w: Workload, seed: int) -> None:
        self.w, self.seed = w, seed

    def __enter__(self) -> dict[str, Any]:
        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name) / "fleet.json"
        args = [
            sys.executable, "-m", "supplyfeed.sim", "serve",
            "--endpoints", str(self.w.endpoints), "--hosts", "10",
            "--records", str(self.w.records), "--fault-rate", str(self.w.fault_rate),
            "--latency-ms", str(self.w.latency_ms), "--formats", "json",
            "--seed", str(self.seed), "--timeout", str(self.w.timeout), "--out", str(self.path),
        ]  # fmt: skip
        if self.w.fault_mix:
            args += ["--fault-mix", self.w.fault_mix, "--exact-mix"]
        self.proc = subprocess.Popen(args)
        deadline = time.monotonic() + 60
        while not self.path.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start")
            time.sleep(0.05)
        data: dict[str, Any] = json.loads(self.path.read_text())
        return data

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.dir.cleanup()


def _timed(args: list[str]) -> tuple[float, str]:
    t0 = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    wall = time.monotonic() - t0
    if done.returncode not in (0, 1):  # 1: a run that finished with failed endpoints
        raise RuntimeError(f"{args[:3]} exited {done.returncode}: {done.stderr[-2000:]}")
    return wall, done.stdout


def peer(kind: str, fleet_file: Path, w: Workload) -> Result:
    wall, out = _timed(
        [sys.executable, "-m", "bench.fetch_clients", kind, str(fleet_file), str(w.timeout)]
    )
    data = json.loads(out.strip().splitlines()[-1])
    return Result(wall, data["ok"], data["records"])


def supplyfeed_run(fleet: dict[str, Any], w: Workload, *, hedge: bool) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        doc = dict(fleet["feeds"])
        doc["sink"] = f"sqlite:///{db}"
        doc["defaults"] = {"timeout_seconds": w.timeout, "read_timeout": w.timeout, "hedge": hedge}
        feeds = Path(tmp) / "feeds.yaml"
        feeds.write_text(yaml.safe_dump(doc))
        exe = str(Path(sys.executable).with_name("supplyfeed"))
        wall, out = _timed([exe, "run", str(feeds), "--quiet", "--json"])
        summary = json.loads(out.strip().splitlines()[-1])
        with sqlite3.connect(db) as conn:
            records = sum(
                conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in LINE_TABLES
            )
            attempts = [
                a
                for (history,) in conn.execute("SELECT retry_history FROM sf_endpoints")
                for a in json.loads(history)
            ]
        conn.close()
    on_wire = [a for a in attempts if a.get("elapsed", 0) > 0]  # requests really sent
    return Result(
        wall,
        summary["outcomes"].get("loaded", 0),
        records,
        run_wall=summary["wall_seconds"],
        requests=len(on_wire),
        hedges=sum(1 for a in on_wire if a.get("hedge") is True),
    )


def _impls(w: Workload) -> dict[str, Any]:
    impls: dict[str, Any] = {
        A: lambda fleet, path: peer("bare", path, w),
        B: lambda fleet, path: peer("guide", path, w),
        C: lambda fleet, path: supplyfeed_run(fleet, w, hedge=False),
        D: lambda fleet, path: supplyfeed_run(fleet, w, hedge=True),
    }
    if HAS_DLT:
        impls[E] = lambda fleet, path: peer("dlt", path, w)
    return impls


def run_workload(w: Workload, repeat: int) -> tuple[list[list[str]], list[str]]:
    impls = _impls(w)
    results: dict[str, list[Result]] = {name: [] for name in impls}
    recoverable = 0
    for r in range(repeat):
        for name, impl in impls.items():
            served = Fleet(w, seed=100 + r)
            with served as fleet:
                recoverable = sum(fleet["totals"]["rows"][t] for t in LINE_TABLES)
                results[name].append(impl(fleet, served.path))
            print(f"  {w.name} round {r + 1}: {name}: {results[name][-1].wall:.2f}s",
                  file=sys.stderr)  # fmt: skip
    medians = {n: statistics.median(x.wall for x in rs) for n, rs in results.items()}
    rows = [_row(w, name, rs, medians, recoverable) for name, rs in results.items()]
    return rows, _notes(w, results, medians)


def _row(
    w: Workload, name: str, rs: list[Result], medians: dict[str, float], recoverable: int
) -> list[str]:
    rec = [x.records for x in rs if x.records is not None]
    hedged = [x for x in rs if x.requests]
    share = (
        f"{statistics.median(100 * x.hedges / x.requests for x in hedged):.1f}%"
        if hedged and name == D
        else "-"
    )
    return [
        w.name, name, f"{medians[name]:.2f}", " ".join(f"{x.wall:.2f}" for x in rs),
        f"{statistics.median(x.ok for x in rs):.0f}/{w.endpoints}",
        f"{statistics.median(rec):,.0f}" if rec else "-", f"{recoverable:,}", share,
        f"{medians[B] / medians[name]:.1f}x", f"{medians[name] / medians[A]:.2f}",
    ]  # fmt: skip


def _notes(w: Workload, results: dict[str, list[Result]], medians: dict[str, float]) -> list[str]:
    notes = []
    for name in (C, D):
        outside = [x.wall - x.run_wall for x in results[name] if x.run_wall is not None]
        notes.append(
            f"{w.name}: {name}: process wall minus the run's own wall (start-up and "
            f"teardown): median {statistics.median(outside):.2f} s"
        )
    if E in medians:
        notes.append(f"{w.name}: (d) is {medians[E] / medians[D]:.1f}x faster than (e) dlt")
    else:
        notes.append(f"{w.name}: (e) dlt skipped: not installed (pip install -e '.[peers]')")
    return notes


def print_table(rows: list[list[str]]) -> None:
    head = ["workload", "implementation", "median s", "runs s", "endpoints ok",
            "records loaded", "recoverable", "hedges", "(b)/this", "this/(a)"]  # fmt: skip
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=False)]
    for row in [head, ["-" * w for w in widths], *rows]:
        print(" | ".join(str(c).ljust(wd) for c, wd in zip(row, widths, strict=False)))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench fetch")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workload", choices=[*WORKLOADS, "all"], default="all")
    args = p.parse_args(argv)
    names = list(WORKLOADS) if args.workload == "all" else [args.workload]
    load = os.getloadavg()[0]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {load:.1f} at start")
    results = [run_workload(WORKLOADS[n], args.repeat) for n in names]
    print_table([row for rows, _ in results for row in rows])
    for _, notes in results:
        print("\n".join(notes))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
