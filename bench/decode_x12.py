"""X12 decoding speed: tokenizer segments/s and canonical 846 inventory records/s.

Generates a large, valid 846 in memory (one LIN + QTY 17 + QTY 33 per item), then times
(median of several runs):

- tokenizing: bytes → segments (delimiters from the ISA, split, noise stripping);
- 846 records: the same bytes → validated ``InventoryItem`` records (tokenize, envelope
  checks, mapping; no sink), with every fast path and then with fewer
  (``DecodeContext.fast_paths``: the same documents, at the speed of the paths left).

Prints a table; targets are >= 1M segments/s and >= 200k records/s. Run:
``.venv/bin/python bench/decode_x12.py [items]``.
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable

from supplyfeed._formats.base import DecodeContext, FastPaths
from supplyfeed._formats.body import Body
from supplyfeed._formats.x12.documents import decode
from supplyfeed._formats.x12.tokenizer import iter_text_pieces, segments_of
from supplyfeed._models import DocKind, InventoryItem, InventorySnapshot
from supplyfeed.sim.render.x12 import render

RUNS = 5
_SLOWER: tuple[FastPaths, ...] = ("segments", "items", "none")


def make_846(items: int) -> bytes:
    """An 846 of one warehouse with ``items`` items (3 segments each)."""
    snapshot = InventorySnapshot(
        warehouse_id="W01",
        as_of=dt.datetime(2026, 11, 28, 7, 45, tzinfo=dt.UTC),
        supplier_id="SUP001",
        items=[
            InventoryItem(sku=f"SKU-{n:07d}", on_hand=n % 500, available=n % 400, uom="EA")
            for n in range(items)
        ],
    )
    return render([snapshot], DocKind.INVENTORY_SNAPSHOT, seed=1)


def median_seconds(fn: Callable[[], int]) -> tuple[float, int]:
    times, result = [], 0
    for _ in range(RUNS):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv  # python -m bench x12 -- ITEMS
    items = int(args[0]) if args else 333_334
    data = make_846(items)
    body = Body.from_bytes(data)

    def tokenize_all() -> int:
        return sum(len(segments_of(chunk)) for chunk in iter_text_pieces(data)[1])

    def decode_with(paths: FastPaths) -> Callable[[], int]:
        def decode_all() -> int:
            ctx = DecodeContext(
                kind=DocKind.INVENTORY_SNAPSHOT, supplier_id="SUP001", fast_paths=paths
            )
            return sum(
                len(doc.items) for doc in decode(body, ctx) if isinstance(doc, InventorySnapshot)
            )

        return decode_all

    tok_s, segments = median_seconds(tokenize_all)
    dec_s, records = median_seconds(decode_with("all"))
    slower = {paths: median_seconds(decode_with(paths))[0] for paths in _SLOWER}
    print(f"X12 846 payload: {len(data) / 1e6:.1f} MB, {segments:,} segments, {records:,} items")
    print(f"{'measure':<34}{'count':>12}{'median s':>10}{'per second':>14}{'target':>12}")
    print(f"{'tokenizer (segments)':<34}{segments:>12,}{tok_s:>10.3f}{segments / tok_s:>14,.0f}"
          f"{'1,000,000':>12}")  # fmt: skip
    print(f"{'846 decode (inventory records)':<34}{records:>12,}{dec_s:>10.3f}"
          f"{records / dec_s:>14,.0f}{'200,000':>12}")  # fmt: skip
    for paths, seconds in slower.items():  # what each fast path buys (same documents)
        label = f"  fast_paths={paths!r} (x{seconds / dec_s:.2f})"
        print(f"{label:<34}{records:>12,}{seconds:>10.3f}{records / seconds:>14,.0f}")


if __name__ == "__main__":
    main()
