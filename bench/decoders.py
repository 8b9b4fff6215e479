"""Every decoder side by side: canonical inventory records/s, segments/s, MB/s, CPU seconds.

One generated inventory payload per format (the simulator's renderers, so each has the
shape the decoders meet in the demo fleet), decoded whole through the registered decoder
(parse and validate only; no sink). The cases run interleaved, round after round, so
that noise from other work on the machine spreads over all of them alike; each figure is
the median of the rounds. CPU seconds are ``time.process_time`` (this process only), so
a noisy neighbour shows as wall time above CPU time rather than as a slower decoder.

    .venv/bin/python -m bench decoders [-- ITEMS [ROUNDS]]     (default 200,000 items, 5)
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from supplyfeed._formats.base import DecodeContext
from supplyfeed._formats.body import Body
from supplyfeed._formats.edifact.tokenizer import SegmentReader
from supplyfeed._formats.registry import get_decoder
from supplyfeed._formats.x12 import tokenizer as x12_tokenizer
from supplyfeed._models import DocKind, Document, InventoryItem, InventorySnapshot
from supplyfeed.sim.render import get_mapping, get_renderer

ITEMS = 200_000
ROUNDS = 5
WAREHOUSES = 4  # the XML renderers' shape: several warehouses per payload
KIND = DocKind.INVENTORY_SNAPSHOT


@dataclass
class Case:
    name: str
    size: int
    run: Callable[[], int]  # returns records (or segments) processed
    unit: str = "records"
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    count: int = 0


def snapshots(items: int, warehouses: int) -> list[Document]:
    as_of = dt.datetime(2026, 3, 2, 6, tzinfo=dt.UTC)
    per = items // warehouses
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
        for w in range(warehouses)
    ]


def _records(docs: Iterator[Document]) -> int:
    return sum(len(d.items) for d in docs if isinstance(d, InventorySnapshot))


def _decode_case(name: str, fmt: str, data: bytes, body: Body) -> Case:
    decoder = get_decoder(fmt)
    mapping = get_mapping(fmt, KIND) if fmt == "xml" else None

    def run() -> int:
        ctx = DecodeContext(kind=KIND, supplier_id="BENCH", mapping=mapping)
        return _records(decoder(body, ctx))

    return Case(name, len(data), run)


def build_cases(items: int, tmp: Path) -> list[Case]:
    one = snapshots(items, 1)
    several = snapshots(items, WAREHOUSES)
    payloads = {
        "json": get_renderer("json")(one, KIND, seed=0),
        "csv": get_renderer("csv")(one, KIND, seed=0),
        "x12": get_renderer("x12")(one, KIND, seed=1),
        "edifact": get_renderer("edifact")(one, KIND, seed=0),
        "cxml": get_renderer("cxml")(several, KIND, seed=0),
        "xml": get_renderer("xml")(several, KIND, seed=0),
    }
    spooled: dict[str, Body] = {}
    for fmt in ("json", "x12", "cxml"):
        path = tmp / f"body.{fmt}"
        path.write_bytes(payloads[fmt])
        spooled[fmt] = Body(path=path)
    x12 = payloads["x12"]
    edifact = payloads["edifact"]
    return [
        _decode_case("canonical JSON", "json", payloads["json"], Body(data=payloads["json"])),
        _decode_case("canonical JSON, spooled (ijson)", "json", payloads["json"], spooled["json"]),
        _decode_case("CSV", "csv", payloads["csv"], Body(data=payloads["csv"])),
        Case(
            "X12 tokenizer",
            len(x12),
            lambda: sum(
                len(x12_tokenizer.segments_of(c)) for c in x12_tokenizer.iter_text_pieces(x12)[1]
            ),
            unit="segments",
        ),
        _decode_case("X12 846", "x12", x12, Body(data=x12)),
        _decode_case("X12 846, spooled", "x12", x12, spooled["x12"]),
        Case(
            "EDIFACT tokenizer",
            len(edifact),
            lambda: sum(1 for _ in SegmentReader(edifact)),
            unit="segments",
        ),
        _decode_case("EDIFACT INVRPT", "edifact", edifact, Body(data=edifact)),
        _decode_case(
            "cXML ProductActivityMessage", "cxml", payloads["cxml"], Body(data=payloads["cxml"])
        ),
        _decode_case("cXML PAM, spooled", "cxml", payloads["cxml"], spooled["cxml"]),
        _decode_case("generic XML (mapped)", "xml", payloads["xml"], Body(data=payloads["xml"])),
    ]


def measure(cases: list[Case], rounds: int) -> None:
    for _ in range(rounds):
        for case in cases:
            wall, cpu = time.perf_counter(), time.process_time()
            case.count = case.run()
            case.cpu.append(time.process_time() - cpu)
            case.wall.append(time.perf_counter() - wall)


def segments_of(cases: list[Case], name: str) -> int:
    return next(c.count for c in cases if c.name == name)


def report(cases: list[Case], items: int, rounds: int) -> None:
    x12_segments = segments_of(cases, "X12 tokenizer")
    edi_segments = segments_of(cases, "EDIFACT tokenizer")
    print(f"{items:,} inventory items per payload; median of {rounds} interleaved rounds")
    head = f"{'format':<34}{'MB':>6}{'records/s':>11}{'segments/s':>12}{'MB/s':>7}"
    print(head + f"{'wall s':>8}{'CPU s':>7}")
    for case in cases:
        wall, cpu = statistics.median(case.wall), statistics.median(case.cpu)
        mb = case.size / 1e6
        segments = x12_segments if case.name.startswith("X12") else 0
        segments = edi_segments if case.name.startswith("EDIFACT") else segments
        if case.unit == "segments":
            records, segments = "", case.count
        else:
            records = f"{case.count / wall:,.0f}"
        seg_rate = f"{segments / wall:,.0f}" if segments else ""
        print(
            f"{case.name:<34}{mb:>6.1f}{records:>11}{seg_rate:>12}{mb / wall:>7.1f}"
            f"{wall:>8.3f}{cpu:>7.3f}"
        )
    print("targets: X12 tokenizer >= 1,000,000 segments/s; JSON and X12 846 >= 200,000 records/s")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    items = int(args[0]) if args else ITEMS
    rounds = int(args[1]) if len(args) > 1 else ROUNDS
    with tempfile.TemporaryDirectory() as tmp:
        cases = build_cases(items, Path(tmp))
        measure(cases, rounds)
        report(cases, items, rounds)


if __name__ == "__main__":
    main()
