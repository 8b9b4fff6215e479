"""Throughput of the XML decoders, in canonical records (inventory items) per second.

Run with ``.venv/bin/python -m bench.decode_xml``. Prints a table of medians over several
runs; there is no pass/fail. Payloads come from the simulator's renderers, so they have
the shape the decoders meet in the demo fleet. The spooled row reads the payload from a
file as a large download would be, which costs a second parse (see ``parts_by_key``).
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from supplyfeed import DocKind, Document, InventoryItem, InventorySnapshot
from supplyfeed._formats import cxml, xml_mapped
from supplyfeed._formats.base import DecodeContext
from supplyfeed._formats.body import Body
from supplyfeed.sim.render import cxml as render_cxml
from supplyfeed.sim.render import xml as render_xml

ITEMS = 20_000
WAREHOUSES = 4
RUNS = 5
KIND = DocKind.INVENTORY_SNAPSHOT


def snapshots(items: int = ITEMS) -> list[Document]:
    as_of = dt.datetime(2026, 3, 2, 6, tzinfo=dt.UTC)
    per = items // WAREHOUSES
    return [
        InventorySnapshot(
            warehouse_id=f"W{w:02d}",
            as_of=as_of,
            supplier_id="BENCH",
            items=[
                InventoryItem(sku=f"SKU-{w}-{n:07d}", on_hand=n % 500, available=n % 400)
                for n in range(per)
            ],
        )
        for w in range(WAREHOUSES)
    ]


def count(docs: Iterator[Document]) -> int:
    return sum(len(d.items) for d in docs if isinstance(d, InventorySnapshot))


def median_rate(run: Callable[[], int]) -> tuple[float, int]:
    """Median records/s over RUNS runs, and the record count of the last run."""
    rates, records = [], 0
    for _ in range(RUNS):
        started = time.perf_counter()
        records = run()
        rates.append(records / (time.perf_counter() - started))
    return statistics.median(rates), records


def main() -> None:
    docs = snapshots()
    cxml_bytes = render_cxml.render(docs, KIND)
    xml_bytes = render_xml.render(docs, KIND)
    cxml_ctx = DecodeContext(kind=KIND, supplier_id="BENCH")
    xml_ctx = DecodeContext(kind=KIND, supplier_id="BENCH", mapping=render_xml.MAPPINGS[KIND])
    with tempfile.TemporaryDirectory() as tmp:
        spool = Path(tmp) / "pam.xml"
        spool.write_bytes(cxml_bytes)
        cases: list[tuple[str, int, Callable[[], int]]] = [
            (
                "cXML ProductActivityMessage",
                len(cxml_bytes),
                lambda: count(cxml.decode(Body.from_bytes(cxml_bytes), cxml_ctx)),
            ),
            (
                "cXML ProductActivityMessage, spooled",
                len(cxml_bytes),
                lambda: count(cxml.decode(Body(path=spool), cxml_ctx)),
            ),
            (
                "generic XML inventory (mapped)",
                len(xml_bytes),
                lambda: count(xml_mapped.decode(Body.from_bytes(xml_bytes), xml_ctx)),
            ),
        ]
        print(f"{'payload':<40} {'MB':>7} {'records':>9} {'records/s':>11} {'MB/s':>7}")
        for name, size, run in cases:
            rate, records = median_rate(run)
            mb = size / 1e6
            seconds = records / rate
            print(f"{name:<40} {mb:>7.1f} {records:>9,} {rate:>11,.0f} {mb / seconds:>7.1f}")
    print(f"(median of {RUNS} runs each)")


if __name__ == "__main__":
    main()
