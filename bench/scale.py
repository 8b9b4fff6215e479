"""``python -m bench scale``: one CPU-heavy feeds file, run three ways on this machine.

Workload (issue 16): 200 endpoints, each serving a 5 MB X12 846 of one warehouse (about
35,000 items of LIN with three product ids, PID, QTY 17/33/QH: decoding is the cost),
on 8 supplier hosts (one supplier each), into PostgreSQL. The payloads come from a
generator here (not from any sample file); each endpoint's warehouse differs, so every
run loads every row (a fresh database per run).

Modes, interleaved run by run so they share the machine's load:

- ``local``: ``supplyfeed run FEEDS`` as it always ran (one process; the PostgreSQL sink
  decodes in threads of it);
- ``processes:2``: ``--executor processes:2`` (two worker processes, started by the run:
  their start-up is in the time);
- ``dask``: ``--executor dask://…`` against a ``dask scheduler`` and two
  ``dask worker --nthreads 1`` processes started before the runs (a standing cluster,
  as in the README's "Scaling out").

Times are whole-process wall times of the ``supplyfeed`` command, as a user sees them;
rows/s is the run's ``records_loaded`` over that time. PostgreSQL runs on the same two
cores.

CPU is every CPU second the run cost, whoever spent it: the ``supplyfeed`` process and
the processes it waited for (its worker pool), this process (it serves the payloads),
the PostgreSQL server's processes and the Dask scheduler and workers (sampled every
0.2 s, so a backend that exits loses at most its last 0.2 s). Other work on the machine
is not in it. ``cores`` is CPU over wall: the cores the run kept busy. No executor can
finish the same work faster than CPU / (cores of the machine), so a mode whose ``cores``
is already ``c`` on an ``n``-core machine can be sped up at most ``n / c`` times: the
``bound`` line, from the local run.
Run: ``.venv/bin/python -m bench scale -- [--endpoints N] [--mb M] [--runs R]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import yaml
from aiohttp import web

from bench.sink_load_postgres import ADMIN_URL, admin

_BIN = Path(sys.executable).parent
_ITEM_BYTES = 141  # one item below, on average
_RELAYED = "relay:2"  # processes:2 with PostgreSQL written by the coordinator (--relay)


def items_block(count: int) -> bytes:
    """``count`` 846 items: LIN (SK, UP, VN), PID, QTY 17 (on hand), 33 (available), QH."""
    return "".join(
        f"LIN*{i + 1}*SK*SKU-{i:07d}*UP*0{i:011d}*VN*V-{i:07d}~"
        f"PID*F****Widget model {i % 977} stainless, pack of {i % 12 + 1}~"
        f"QTY*17*{i % 500}*EA~QTY*33*{i % 400}*EA~QTY*QH*{i % 7}*EA~"
        for i in range(count)
    ).encode()


def interchange(warehouse: str, control: int, items: bytes, count: int) -> bytes:
    """One 846 of ``warehouse`` around the shared item segments, counts and controls right."""
    head = (
        f"ISA*00*          *00*          *ZZ*SUPPLIER       *ZZ*BUYER          *261128*0745*"
        f"U*00401*{control:09d}*0*P*>~GS*IB*SUPPLIER*BUYER*20261128*0745*{control}*X*004010~"
        f"ST*846*0001~BIA*00*SI*SNAPSHOT*20261128*0745~DTM*007*20261128*0745*UT~"
        f"N1*WH*{warehouse}*92*{warehouse}~"
    )
    tail = f"CTT*{count}~SE*{6 + 5 * count}*0001~GE*1*{control}~IEA*1*{control:09d}~"
    return head.encode() + items + tail.encode()


@dataclass(slots=True)
class Fleet:
    """``hosts`` aiohttp servers on 127.0.0.1; endpoint ``n`` serves warehouse Wn."""

    endpoints: int
    hosts: int
    mb: float
    ports: list[int] = field(default_factory=list)
    items: bytes = b""
    count: int = 0

    def urls(self) -> dict[str, list[str]]:
        """Supplier id -> its URLs (one supplier per host)."""
        out: dict[str, list[str]] = {}
        for n in range(self.endpoints):
            host = n % self.hosts
            out.setdefault(f"SUP{host + 1:03d}", []).append(
                f"http://127.0.0.1:{self.ports[host]}/inv/{n:04d}.edi"
            )
        return out

    async def handle(self, request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        body = interchange(f"W{n:04d}", n + 1, self.items, self.count)
        return web.Response(body=body, content_type="application/edi-x12")

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[Fleet]:
        self.count = int(self.mb * 1e6 / _ITEM_BYTES)
        self.items = items_block(self.count)
        app = web.Application()
        app.router.add_get("/inv/{n}.edi", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            for _ in range(self.hosts):
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                self.ports.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
            yield self
        finally:
            await runner.cleanup()


def feeds_file(fleet: Fleet, folder: Path, sink: str) -> Path:
    doc = {
        "sink": sink,
        # No hedging: a 5 MB download is slow by its size, not by a slow host, and a
        # hedge would fetch it twice.
        "defaults": {"timeout_seconds": 600.0, "read_timeout": 300.0, "hedge": False},
        "suppliers": [
            {"id": sid, "feeds": [{"kind": "inventory_snapshot", "format": "x12", "urls": urls}]}
            for sid, urls in fleet.urls().items()
        ],
    }
    path = folder / "feeds.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@contextlib.asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    name = f"supplyfeed_bench_scale_{secrets.token_hex(4)}"
    await admin(f"CREATE DATABASE {name}")
    try:
        yield f"{ADMIN_URL.rpartition('/')[0]}/{name}"
    finally:
        await admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@dataclass(frozen=True, slots=True)
class Sample:
    wall: float
    rows: int
    cpu: float  # CPU seconds of the run, whoever spent them (the module's docstring)


def _servers() -> list[psutil.Process]:
    """The PostgreSQL server's processes and the Dask scheduler's and workers' (a ``dask
    worker`` is a nanny whose worker is a spawned child: children count too)."""
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or ())
        if proc.info["name"] == "postgres" or "dask " in cmdline:
            found[proc.pid] = proc
            with contextlib.suppress(psutil.Error):
                found.update((c.pid, c) for c in proc.children(recursive=True))
    return list(found.values())


class CpuMeter:
    """CPU seconds spent from :meth:`start` to :meth:`stop` by this process, the children
    it waited for, and the database and cluster processes (sampled: they come and go)."""

    def __init__(self) -> None:
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._own = 0.0

    @staticmethod
    def _rusage() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    def _poll(self, first: bool) -> None:
        for proc in _servers():
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            spent = times.user + times.system
            self._first.setdefault(proc.pid, spent if first else 0.0)
            self._last[proc.pid] = spent

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self._poll(first=False)

    def start(self) -> None:
        self._poll(first=True)
        self._own = self._rusage()
        self._thread.start()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self._poll(first=False)
        servers = sum(self._last[pid] - self._first[pid] for pid in self._last)
        return self._rusage() - self._own + servers


async def run_once(fleet: Fleet, folder: Path, executor: str) -> Sample:
    async with fresh_database() as db:
        feeds = feeds_file(fleet, folder, db)
        command = [str(_BIN / "supplyfeed"), "run", str(feeds), "--quiet", "--json"]
        if executor == _RELAYED:  # the same run, its rows sent to the coordinator
            command = [sys.executable, "-m", "bench.scale", "coordinate", str(feeds)]
        meter = CpuMeter()
        meter.start()
        t0 = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            *command, "--executor", executor, cwd=folder, env=_env(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
        wall = time.perf_counter() - t0
        cpu = meter.stop()
    if proc.returncode != 0:
        raise SystemExit(f"{executor}: exit {proc.returncode}\n{err.decode()[-2000:]}")
    summary = json.loads(out.decode().strip().splitlines()[-1])
    return Sample(wall, int(summary["records_loaded"]), cpu)


def _env() -> dict[str, str]:
    """This environment, with the repository on the path (``-m bench.scale coordinate``)."""
    root = str(Path(__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH", ""), root) if p)
    return {**os.environ, "PYTHONPATH": path}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def dask_cluster(workers: int) -> Iterator[str]:
    """``dask scheduler`` and ``workers`` × ``dask worker --nthreads 1``, as the README."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    dask = str(_BIN / "dask")
    commands = [[dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]]
    commands += [
        [dask, "worker", f"tcp://{address}", "--nthreads", "1", "--no-dashboard"]
    ] * workers
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for command in commands:
            procs.append(
                subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        asyncio.run(_wait_for_workers(address, workers))
        yield f"dask://{address}"
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


async def _wait_for_workers(address: str, workers: int) -> None:
    from distributed import Client

    async with Client(f"tcp://{address}", asynchronous=True, timeout=60) as client:  # type: ignore[no-untyped-call]
        await client.wait_for_workers(workers, timeout=120)


async def measure(
    fleet_args: tuple[int, int, float], modes: dict[str, str], runs: int
) -> dict[str, list[Sample]]:
    samples: dict[str, list[Sample]] = {name: [] for name in modes}
    fleet = Fleet(*fleet_args)
    async with fleet.serving():
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
            for r in range(runs):
                for name, executor in modes.items():
                    sample = await run_once(fleet, Path(tmp), executor)
                    samples[name].append(sample)
                    print(
                        f"  run {r + 1} {name:<12} {sample.wall:8.1f} s "
                        f"{sample.rows:>10,} rows  CPU {sample.cpu:7.1f} s "
                        f"({sample.cpu / sample.wall:.2f} cores)  load {os.getloadavg()[0]:.1f}",
                        flush=True,
                    )
    return samples


def table(samples: dict[str, list[Sample]], payload_mb: float, endpoints: int) -> None:
    base = statistics.median(s.wall for s in samples["local"])
    print(
        f"\n{endpoints} endpoints x {payload_mb:g} MB X12 846, PostgreSQL sink, "
        f"{os.cpu_count()} cores; medians of {len(samples['local'])} run(s)"
    )
    print(
        f"{'executor':<18}{'wall s':>8}{'rows':>11}{'rows/s':>9}{'vs local':>9}"
        f"{'CPU s':>8}{'cores':>7}  runs (s)"
    )
    for name, got in sorted(samples.items(), key=lambda kv: kv[0] != "local"):
        wall = statistics.median(s.wall for s in got)
        rows = statistics.median(s.rows for s in got)
        cpu = statistics.median(s.cpu for s in got)
        runs = " ".join(f"{s.wall:.1f}" for s in got)
        print(
            f"{name:<18}{wall:>8.1f}{rows:>11,.0f}{rows / wall:>9,.0f}{base / wall:>8.2f}x"
            f"{cpu:>8.1f}{cpu / wall:>7.2f}  {runs}"
        )
    local = samples["local"]
    busy = statistics.median(s.cpu / s.wall for s in local)
    cores = os.cpu_count() or 1
    print(
        f"bound: local keeps {busy:.2f} of {cores} cores busy, so no executor can beat it "
        f"by more than {cores / busy:.2f}x here"
    )
    print(f"target: >= 1.7x over local; load average now {os.getloadavg()[0]:.1f}")


async def coordinate(feeds_path: Path) -> None:
    """``processes:2`` whose workers send decoded rows to the coordinator (the SQLite path)
    although the sink is PostgreSQL: what writing directly from the workers saves."""
    from supplyfeed._feedsfile import load_feeds_file
    from supplyfeed._run.pipeline import Runner, RunOptions
    from supplyfeed._scale.coordinator import ScaledExecutor
    from supplyfeed._scale.executors import ProcessBackend
    from supplyfeed._sink.factory import open_run_sink

    feeds = load_feeds_file(feeds_path)
    sink = open_run_sink(feeds.sink)
    await sink.open()
    try:
        backend = ProcessBackend(2, relay=True)
        async with backend.session(sink) as session:
            options = RunOptions(label=str(feeds_path), executor=ScaledExecutor("relay", session))
            summary = await Runner(feeds.suppliers, sink, feeds.defaults, options).run()
    finally:
        await sink.close()
    print(json.dumps(summary.to_dict()))


def main(argv: Sequence[str] = ()) -> None:
    if argv[:1] == ["coordinate"]:
        asyncio.run(coordinate(Path(argv[1])))
        return
    p = argparse.ArgumentParser(prog="python -m bench scale")
    p.add_argument("--endpoints", type=int, default=200)
    p.add_argument("--mb", type=float, default=5.0, help="payload size per endpoint")
    p.add_argument("--hosts", type=int, default=8)
    p.add_argument("--runs", type=int, default=1, help="runs per mode (interleaved)")
    p.add_argument(
        "--modes", default="local,processes,dask",
        help="which modes, in this order: local, processes, dask, relay (processes:2 with "
        "the rows sent to the coordinator, which writes them)",
    )  # fmt: skip
    args = p.parse_args(list(argv))
    names = args.modes.split(",")
    if "local" not in names or not set(names) <= {"local", "processes", "dask", "relay"}:
        p.error("--modes: a comma list of local, processes, dask, relay, with local in it")
    print(f"load average before: {os.getloadavg()[0]:.1f} (other work on this machine counts)")
    with dask_cluster(2) as address:
        known = {
            "local": ("local", "local"),
            "processes": ("processes:2", "processes:2"),
            "dask": ("dask (2 workers)", address),
            "relay": ("processes:2, rows relayed", _RELAYED),
        }
        modes = dict(known[m] for m in names)  # run in this order
        samples = asyncio.run(measure((args.endpoints, args.hosts, args.mb), modes, args.runs))
    table(samples, args.mb, args.endpoints)


if __name__ == "__main__":
    main(sys.argv[1:])
