"""Peak RSS and event-loop lag while ingesting one very large inventory payload.

The parent writes a canonical JSON inventory snapshot of ``--mb`` megabytes to a temp
file (streamed, never held), serves it from a child process (aiohttp ``FileResponse``),
and runs ``supplyfeed`` in another child that reports its own peak RSS (``ru_maxrss``),
the worst event-loop lag seen by a 10 ms ticker, the wall time and the rows loaded.
Usage: ``python -m bench big [--mb 500]`` (via ``python -m bench big``: defaults).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ITEM = '{{"sku":"SKU-{:09d}","on_hand":{},"available":{},"uom":"EA"}}'


def write_payload(path: Path, megabytes: int) -> int:
    """A canonical snapshot of about ``megabytes`` MB; returns the item count."""
    target = megabytes * 1024 * 1024
    n = 0
    with path.open("w", buffering=1 << 20) as f:
        f.write(
            '{"supplier_id":"BIG","warehouse_id":"W01","as_of":"2026-11-28T07:45:00Z","items":['
        )
        size = 0
        while size < target:
            chunk = ",".join(
                ITEM.format(n + i, (n + i) % 997, (n + i) % 500) for i in range(10_000)
            )
            f.write(("," if n else "") + chunk)
            size += len(chunk) + 1
            n += 10_000
        f.write("]}")
    return n


def serve(path: Path, port_file: Path) -> None:
    from aiohttp import web

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(path)

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/inventory.json", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(runner, sock)
        await site.start()
        port_file.write_text(str(sock.getsockname()[1]))  # noqa: ASYNC240 - once, at start-up
        await asyncio.Event().wait()

    asyncio.run(main())


def ingest(url: str, db: Path) -> None:
    from supplyfeed import FeedConfig, FeedSpec, Limits, SupplierSpec, Timeouts
    from supplyfeed._models import DocKind
    from supplyfeed._run.pipeline import Runner, RunOptions
    from supplyfeed._sink.factory import open_run_sink

    async def main() -> dict[str, float]:
        worst = 0.0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal worst
            while not stop.is_set():
                t = time.perf_counter()
                await asyncio.sleep(0.01)
                worst = max(worst, time.perf_counter() - t - 0.01)

        config = FeedConfig(
            timeout_seconds=3600,
            timeouts=Timeouts(read=60),
            limits=Limits(max_payload_bytes=4 << 30),
        )
        feed = FeedSpec(DocKind.INVENTORY_SNAPSHOT, "json", (url,))
        supplier = SupplierSpec(id="BIG", feeds=(feed,), config=config)
        sink = open_run_sink(f"sqlite:///{db}")
        await sink.open()
        tick = asyncio.create_task(ticker())
        t0 = time.monotonic()
        try:
            summary = await Runner([supplier], sink, config, RunOptions()).run()
        finally:
            stop.set()
            await tick
            await sink.close()
        return {"wall": time.monotonic() - t0, "lag": worst, "records": summary.records}

    out = asyncio.run(main())
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench big")
    p.add_argument("--mb", type=int, default=500)
    args = p.parse_args(argv or [])
    with tempfile.TemporaryDirectory() as tmp:
        payload, port_file, db = Path(tmp) / "inv.json", Path(tmp) / "port", Path(tmp) / "big.db"
        items = write_payload(payload, args.mb)
        size_mb = payload.stat().st_size / 2**20
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.big_payload", "--serve", str(payload), str(port_file)]
        )
        try:
            while not port_file.exists() or not port_file.read_text():
                time.sleep(0.05)
            url = f"http://127.0.0.1:{port_file.read_text()}/inventory.json"
            child = subprocess.run(
                [sys.executable, "-m", "bench.big_payload", "--ingest", url, str(db)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
        finally:
            server.terminate()
            server.wait()
        result = json.loads(child.stdout.strip().splitlines()[-1])
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT count(*) FROM inventory_positions").fetchone()[0]
        conn.close()
    print(f"payload {size_mb:,.0f} MB, {items:,} items, canonical JSON, one document")
    print("peak RSS MB | max loop lag ms | wall s | rows loaded | rows/s")
    print(
        f"{result['peak_rss_mb']:11.0f} | {result['lag'] * 1000:15.1f} | {result['wall']:6.1f} | "
        f"{rows:11,} | {rows / result['wall']:,.0f}"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]), Path(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--ingest":
        ingest(sys.argv[2], Path(sys.argv[3]))
    else:
        main(sys.argv[1:])
