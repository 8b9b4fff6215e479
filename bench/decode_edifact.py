"""Benchmark: EDIFACT tokenizing and INVRPT decoding on a generated large interchange.

Prints a table (no pass/fail): segments/s through the tokenizer and canonical inventory
records/s through the whole decoder, medians of several runs, for an interchange without
release characters (fast path) and one where every SKU holds an escaped ``+`` (slow path),
from memory and streamed from a spooled file.

    .venv/bin/python bench/decode_edifact.py [items] [runs]
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from supplyfeed._formats.base import DecodeContext
from supplyfeed._formats.body import Body
from supplyfeed._formats.edifact.documents import decode
from supplyfeed._formats.edifact.tokenizer import SegmentReader
from supplyfeed._models import DocKind, InventoryItem, InventorySnapshot
from supplyfeed.sim.render.edifact import render


def _interchange(items: int, *, released: bool) -> bytes:
    mark = "+" if released else "-"
    snapshot = InventorySnapshot(
        warehouse_id="W01",
        as_of=dt.datetime(2026, 1, 1, 6, tzinfo=dt.UTC),
        items=[
            InventoryItem(sku=f"SKU{mark}{n:08d}", on_hand=n % 500, available=n % 300)
            for n in range(items)
        ],
    )
    return render([snapshot], DocKind.INVENTORY_SNAPSHOT, seed=0)


def _median_rate(work: Callable[[], int], runs: int) -> float:
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        count = work()
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates)


def _tokenize(data: bytes) -> int:
    return sum(1 for _ in SegmentReader(data))


def _records(body: Body) -> int:
    ctx = DecodeContext(kind=DocKind.INVENTORY_SNAPSHOT)
    return sum(len(doc.items) for doc in decode(body, ctx) if isinstance(doc, InventorySnapshot))


def main() -> None:
    items = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    print(f"EDIFACT INVRPT, {items:,} items, median of {runs} runs")
    print(f"{'case':<28}{'MB':>8}{'segments/s':>14}{'records/s':>14}{'spooled rec/s':>15}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, released in (("no release char", False), ("release char in every SKU", True)):
            data = _interchange(items, released=released)
            path = Path(tmp) / "body.edi"
            path.write_bytes(data)
            segs = _median_rate(lambda d=data: _tokenize(d), runs)  # type: ignore[misc]
            recs = _median_rate(lambda d=data: _records(Body.from_bytes(d)), runs)  # type: ignore[misc]
            spooled = _median_rate(lambda p=path: _records(Body(path=p)), runs)  # type: ignore[misc]
            mb = len(data) / 1e6
            print(f"{name:<28}{mb:>8.1f}{segs:>14,.0f}{recs:>14,.0f}{spooled:>15,.0f}")


if __name__ == "__main__":
    main()
