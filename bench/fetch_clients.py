"""The peers of ``python -m bench fetch``, each run as its own process so that the
benchmark times what a user would see (interpreter start, imports, teardown included).

``python -m bench.fetch_clients {bare,guide,dlt} FLEET.json TIMEOUT`` prints one JSON
line: ``{"ok": endpoints fetched, "records": line records loaded (or null)}``.

- ``bare``: aiohttp, one GET per URL under the same connection limits, body read,
  nothing parsed or written. The floor.
- ``guide``: the guide's chunked-gather ``AsyncBatchIngestor``, exactly as written.
- ``dlt``: dlt (optional extra ``peers``) loading the fleet into DuckDB with merge on
  each table's natural key; 50 threads fetch through dlt's retrying requests client.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ATTEMPTS = 3  # the guide's retry_attempts, for every client that retries
KEYS: dict[str, tuple[str, ...]] = {
    "inventory_positions": ("supplier_id", "warehouse_id", "sku", "as_of"),
    "po_ack_lines": ("supplier_id", "po_number", "ack_number", "line_number"),
    "ship_notice_lines": ("supplier_id", "asn_number", "line_seq"),
}


def _urls(fleet: dict[str, Any]) -> list[str]:
    return [e["url"] for e in fleet["endpoints"]]


async def bare(fleet: dict[str, Any], per_request: float) -> dict[str, Any]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=50, limit_per_host=10)
    ok = 0

    async def one(session: aiohttp.ClientSession, url: str) -> None:
        nonlocal ok
        try:
            async with session.get(url) as resp:
                await resp.read()
                ok += resp.status == 200
        except (aiohttp.ClientError, TimeoutError):
            pass

    client_timeout = aiohttp.ClientTimeout(total=per_request)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:
        await asyncio.gather(*(one(session, u) for u in _urls(fleet)))
    return {"ok": ok, "records": None}


def _lines(payload: Any) -> int:
    docs = payload if isinstance(payload, list) else [payload]
    return sum(len(d.get("items") or d.get("lines") or []) for d in docs if isinstance(d, dict))


async def guide(fleet: dict[str, Any], per_request: float) -> dict[str, Any]:
    from bench.guide_baseline import AsyncBatchIngestor, FeedConfig

    async with AsyncBatchIngestor(FeedConfig(timeout_seconds=per_request)) as ingestor:
        payloads = await ingestor.fetch_feed_batch(_urls(fleet))
    return {"ok": len(payloads), "records": sum(_lines(p) for p in payloads)}


def rows_of(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The line records of one canonical JSON document, by table."""
    sid = doc.get("supplier_id")
    if "items" in doc:
        for item in doc["items"]:
            row = {"supplier_id": sid, "warehouse_id": doc.get("warehouse_id"), **item}
            yield "inventory_positions", {**row, "as_of": doc.get("as_of")}
    elif "asn_number" in doc:
        for line in doc.get("lines") or []:
            yield "ship_notice_lines", {"supplier_id": sid, "asn_number": doc["asn_number"], **line}
    elif "ack_number" in doc:
        for line in doc.get("lines") or []:
            keys = {"supplier_id": sid, "po_number": doc["po_number"]}
            yield "po_ack_lines", {**keys, "ack_number": doc["ack_number"], **line}


def dlt_load(fleet: dict[str, Any], timeout: float) -> dict[str, Any]:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")  # no call home from a bench
    import dlt
    from dlt.sources.helpers.requests import Client

    client = Client(request_timeout=timeout, request_max_attempts=ATTEMPTS)

    def fetch(url: str) -> Any:
        try:
            response = client.session.get(url)
            response.raise_for_status()
            return response.json()
        except Exception:  # a failed endpoint: dlt's own retries are spent
            return None

    with ThreadPoolExecutor(max_workers=50) as pool:
        payloads = [p for p in pool.map(fetch, _urls(fleet)) if p is not None]
    tables: dict[str, list[dict[str, Any]]] = {t: [] for t in KEYS}
    for payload in payloads:
        for doc in payload if isinstance(payload, list) else [payload]:
            if isinstance(doc, dict):
                for table, row in rows_of(doc):
                    tables[table].append(row)
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = dlt.pipeline(
            pipeline_name="bench_fetch",
            destination=dlt.destinations.duckdb(str(Path(tmp) / "bench.duckdb")),
            dataset_name="feeds",
            pipelines_dir=str(Path(tmp) / "pipelines"),
        )
        resources = [
            dlt.resource(rows, name=t, write_disposition="merge", primary_key=KEYS[t])
            for t, rows in tables.items()
            if rows
        ]
        pipeline.run(resources)
        with pipeline.sql_client() as sql:
            queried = [sql.execute_sql(f"SELECT count(*) FROM {t}") for t in tables if tables[t]]
            records = sum(_count(rows) for rows in queried)
    return {"ok": len(payloads), "records": records}


def _count(rows: Any) -> int:
    return int(rows[0][0])


def main(argv: list[str]) -> int:
    kind, fleet_path, timeout_s = argv
    fleet = json.loads(Path(fleet_path).read_text())
    timeout = float(timeout_s)
    if kind == "bare":
        result = asyncio.run(bare(fleet, timeout))
    elif kind == "guide":
        result = asyncio.run(guide(fleet, timeout))
    elif kind == "dlt":
        result = dlt_load(fleet, timeout)
    else:
        print(f"unknown client {kind!r}: bare, guide or dlt", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
