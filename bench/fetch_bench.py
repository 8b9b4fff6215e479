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
- (f) with ``--backoff-initial S`` only: (d) with that ``backoff_initial`` (default 1.0 s),
  to show how much of the tail is the backoff before a retry.

Beside each wall time, the CPU seconds (user + system) of that process and the children
it waited for (supplyfeed's SQLite worker, dlt's threads), and the simulator's while it
served it: on a machine of few cores, a wall time is bounded below by the CPU all of
them spend, and the notes give what that bound leaves (d) for a 1.3x target.

supplyfeed runs with ``--timings``; the notes give, besides the process wall minus the
run's own wall, its start-up (process birth to the run's first step), its run-end checks
and its teardown (closing and printing), medians.

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
import resource
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

from supplyfeed._run.timings import PHASES
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
F = "(f) supplyfeed, hedging, backoff_initial={}"
HAS_DLT = importlib.util.find_spec("dlt") is not None


@dataclass
class Result:
    wall: float  # the whole process
    cpu: float  # user + system CPU seconds of the process and the children it waited for
    ok: int
    records: int | None
    run_wall: float | None = None  # supplyfeed's own run, as its summary says
    requests: int = 0  # supplyfeed: requests sent, hedges included
    hedges: int = 0
    phases: dict[str, float] | None = None  # supplyfeed: run --timings
    last: str = ""  # supplyfeed: the endpoint that finished last, and why
    sim_cpu: float | None = None  # the simulator's CPU seconds while it served this one


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
        self.cpu_at_start = _process_cpu(self.proc.pid)
        return data

    def cpu_served(self) -> float | None:
        """The simulator's CPU seconds since it started serving (its start-up, building
        the fleet, left out); None where /proc cannot tell."""
        now = _process_cpu(self.proc.pid)
        return None if now is None or self.cpu_at_start is None else now - self.cpu_at_start

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.dir.cleanup()


def _process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a running process, all its threads (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(args: list[str]) -> tuple[float, float, str, str]:
    """Wall and CPU seconds of one process, with its stdout and stderr. The CPU is that
    of the process and every child it waited for (supplyfeed's SQLite worker, dlt's
    threads): the simulator, a child of this process too, is waited for only later."""
    cpu0, t0 = _children_cpu(), time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    wall, cpu = time.monotonic() - t0, _children_cpu() - cpu0
    if done.returncode not in (0, 1):  # 1: a run that finished with failed endpoints
        raise RuntimeError(f"{args[:3]} exited {done.returncode}: {done.stderr[-2000:]}")
    return wall, cpu, done.stdout, done.stderr


def _last_to_finish(histories: list[list[dict[str, Any]]]) -> str:
    """The endpoint whose last request ended last: when each of its requests began (s
    from the run's first request), what it got and how long it then waited."""
    if not any(histories):
        return "-"
    last = max((h for h in histories if h), key=lambda h: h[-1]["start"] + h[-1]["elapsed"])
    steps = [
        f"{a['start']:.2f}s {a.get('status') or a.get('outcome')}"
        + (f" wait {a['wait']:.2f}s" if a.get("wait") else "")
        for a in last
    ]
    return f"ends {last[-1]['start'] + last[-1]['elapsed']:.2f}s: " + ", ".join(steps)


def _phases(stderr: str) -> dict[str, float]:
    """The table ``run --timings`` prints on stderr: phase -> seconds."""
    rows = (line.split() for line in stderr.splitlines())
    return {r[0]: float(r[1]) for r in rows if len(r) == 3 and r[0] in PHASES}


def peer(kind: str, fleet_file: Path, w: Workload) -> Result:
    wall, cpu, out, _ = _timed(
        [sys.executable, "-m", "bench.fetch_clients", kind, str(fleet_file), str(w.timeout)]
    )
    data = json.loads(out.strip().splitlines()[-1])
    return Result(wall, cpu, data["ok"], data["records"])


def supplyfeed_run(
    fleet: dict[str, Any], w: Workload, *, hedge: bool, backoff_initial: float | None = None
) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        doc = dict(fleet["feeds"])
        doc["sink"] = f"sqlite:///{db}"
        doc["defaults"] = {"timeout_seconds": w.timeout, "read_timeout": w.timeout, "hedge": hedge}
        if backoff_initial is not None:
            doc["defaults"]["backoff_initial"] = backoff_initial
        feeds = Path(tmp) / "feeds.yaml"
        feeds.write_text(yaml.safe_dump(doc))
        exe = str(Path(sys.executable).with_name("supplyfeed"))
        wall, cpu, out, err = _timed([exe, "run", str(feeds), "--quiet", "--json", "--timings"])
        summary = json.loads(out.strip().splitlines()[-1])
        with sqlite3.connect(db) as conn:
            records = sum(
                conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in LINE_TABLES
            )
            histories = [
                json.loads(h) for (h,) in conn.execute("SELECT retry_history FROM sf_endpoints")
            ]
        conn.close()
    attempts = [a for history in histories for a in history]
    on_wire = [a for a in attempts if a.get("elapsed", 0) > 0]  # requests really sent
    return Result(
        wall,
        cpu,
        summary["outcomes"].get("loaded", 0),
        records,
        run_wall=summary["wall_seconds"],
        phases=_phases(err),
        last=_last_to_finish(histories),
        requests=len(on_wire),
        hedges=sum(1 for a in on_wire if a.get("hedge") is True),
    )


def _impls(w: Workload, backoff_initial: float | None) -> dict[str, Any]:
    impls: dict[str, Any] = {
        A: lambda fleet, path: peer("bare", path, w),
        B: lambda fleet, path: peer("guide", path, w),
        C: lambda fleet, path: supplyfeed_run(fleet, w, hedge=False),
        D: lambda fleet, path: supplyfeed_run(fleet, w, hedge=True),
    }
    if HAS_DLT:
        impls[E] = lambda fleet, path: peer("dlt", path, w)
    if backoff_initial is not None:
        impls[F.format(backoff_initial)] = lambda fleet, path: supplyfeed_run(
            fleet, w, hedge=True, backoff_initial=backoff_initial
        )
    return impls


def run_workload(
    w: Workload, repeat: int, backoff_initial: float | None = None
) -> tuple[list[list[str]], list[str]]:
    impls = _impls(w, backoff_initial)
    results: dict[str, list[Result]] = {name: [] for name in impls}
    recoverable = 0
    for r in range(repeat):
        for name, impl in impls.items():
            served = Fleet(w, seed=100 + r)
            with served as fleet:
                recoverable = sum(fleet["totals"]["rows"][t] for t in LINE_TABLES)
                results[name].append(impl(fleet, served.path))
                results[name][-1].sim_cpu = served.cpu_served()
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
        if hedged and (name == D or name.startswith("(f)"))
        else "-"
    )
    return [
        w.name, name, f"{medians[name]:.2f}", " ".join(f"{x.wall:.2f}" for x in rs),
        f"{statistics.median(x.cpu for x in rs):.2f}", _sim_cpu(rs),
        f"{statistics.median(x.ok for x in rs):.0f}/{w.endpoints}",
        f"{statistics.median(rec):,.0f}" if rec else "-", f"{recoverable:,}", share,
        f"{medians[B] / medians[name]:.1f}x", f"{medians[name] / medians[A]:.2f}",
    ]  # fmt: skip


def _sim_cpu(rs: list[Result]) -> str:
    known = [x.sim_cpu for x in rs if x.sim_cpu is not None]
    return f"{statistics.median(known):.2f}" if known else "-"


def _notes(w: Workload, results: dict[str, list[Result]], medians: dict[str, float]) -> list[str]:
    notes = []
    for name in (C, D):
        outside = [x.wall - x.run_wall for x in results[name] if x.run_wall is not None]
        notes.append(
            f"{w.name}: {name}: process wall minus the run's own wall: median "
            f"{statistics.median(outside):.2f} s; " + _phase_medians(results[name])
        )
        notes += [f"{w.name}: {name[:3]} round {i + 1}: last endpoint {x.last}"
                  for i, x in enumerate(results[name])]  # fmt: skip
    if w.name == "throughput":  # the workload the 1.3x target is for
        notes.append(_cpu_note(w, results, medians))
    if E in medians:
        for name in [n for n in medians if n == D or n.startswith("(f)")]:
            notes.append(
                f"{w.name}: {name[:3]} is {medians[E] / medians[name]:.1f}x faster than (e) dlt"
            )
    else:
        notes.append(f"{w.name}: (e) dlt skipped: not installed (pip install -e '.[peers]')")
    return notes


def _cpu_note(w: Workload, results: dict[str, list[Result]], medians: dict[str, float]) -> str:
    """What (d) would have to spend to be within 1.3x of (a): on ``os.cpu_count()`` cores,
    at most cores x 1.3 x (a)'s wall CPU seconds can run, the simulator's included."""
    cores = os.cpu_count() or 1
    budget = cores * 1.3 * medians[A]
    cpu = statistics.median(x.cpu for x in results[D])
    sim = statistics.median(x.sim_cpu or 0.0 for x in results[D])
    return (
        f"{w.name}: CPU: (d) spends {cpu:.2f} s and the simulator {sim:.2f} s; within 1.3x of "
        f"(a)'s wall ({1.3 * medians[A]:.2f} s) {cores} cores run at most {budget:.2f} CPU s, "
        f"so (d) would need at most {budget - sim:.2f} s, with every core busy throughout"
    )


def _phase_medians(rs: list[Result]) -> str:
    """Start-up, the run-end checks and teardown (``run --timings``), medians. Teardown
    is the ``report`` phase and what the process took after it printed its phases (the
    interpreter's exit): the process wall minus the phases' sum."""
    timed = [(x.phases, x.wall) for x in rs if x.phases]
    if not timed:
        return "no --timings"
    start = [p.get("start", 0.0) for p, _ in timed]
    checks = [p.get("checks", 0.0) for p, _ in timed]
    ends = [p.get("report", 0.0) + max(0.0, wall - sum(p.values())) for p, wall in timed]
    both = [s + e for s, e in zip(start, ends, strict=True)]
    return (
        f"start-up {statistics.median(start):.2f} s, checks {statistics.median(checks):.2f} s, "
        f"teardown {statistics.median(ends):.2f} s; start-up + teardown "
        f"{statistics.median(both):.3f} s"
    )


def print_table(rows: list[list[str]]) -> None:
    head = ["workload", "implementation", "median s", "runs s", "cpu s", "sim cpu s",
            "endpoints ok",
            "records loaded", "recoverable", "hedges", "(b)/this", "this/(a)"]  # fmt: skip
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=False)]
    for row in [head, ["-" * w for w in widths], *rows]:
        print(" | ".join(str(c).ljust(wd) for c, wd in zip(row, widths, strict=False)))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench fetch")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workload", choices=[*WORKLOADS, "all"], default="all")
    p.add_argument(
        "--backoff-initial", type=float, default=None, metavar="S",
        help="also run (d) with this backoff_initial (row (f))",
    )  # fmt: skip
    args = p.parse_args(argv)
    names = list(WORKLOADS) if args.workload == "all" else [args.workload]
    load = os.getloadavg()[0]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {load:.1f} at start")
    results = [run_workload(WORKLOADS[n], args.repeat, args.backoff_initial) for n in names]
    print_table([row for rows, _ in results for row in rows])
    for _, notes in results:
        print("\n".join(notes))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
