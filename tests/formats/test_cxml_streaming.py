"""A huge spooled ProductActivityMessage decodes in bounded memory, every item accounted for."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from supplyfeed import DocKind, InventorySnapshot
from supplyfeed._formats.base import DecodeContext
from supplyfeed._formats.body import Body
from supplyfeed._formats.cxml import decode

HEAD = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE cXML SYSTEM "http://xml.cxml.org/schemas/cXML/1.2.050/cXML.dtd">
<cXML payloadID="big@test" timestamp="2026-03-02T06:00:00Z">
  <Header><From><Credential domain="NetworkID"><Identity>S</Identity></Credential></From>
  <To><Credential domain="NetworkID"><Identity>B</Identity></Credential></To>
  <Sender><Credential domain="NetworkID"><Identity>S</Identity></Credential>
  <UserAgent>t</UserAgent></Sender></Header>
  <Message><ProductActivityMessage>
    <ProductActivityHeader messageID="BIG" creationDate="2026-03-02T06:00:00Z"/>
"""
TAIL = b"  </ProductActivityMessage></Message>\n</cXML>\n"
DETAIL = b"""    <ProductActivityDetails>
      <ItemID><SupplierPartID>SKU-%08d</SupplierPartID></ItemID>
      <Contact role="locationFrom"><Name xml:lang="en">Warehouse %s</Name>
        <IdReference domain="NetworkId" identifier="%s"/></Contact>
      <Inventory>
        <StockOnHandQuantity quantity="%d"><UnitOfMeasure>EA</UnitOfMeasure></StockOnHandQuantity>
        <UnrestrictedUseQuantity quantity="%d"><UnitOfMeasure>EA</UnitOfMeasure>
        </UnrestrictedUseQuantity>
      </Inventory>
    </ProductActivityDetails>
"""
WAREHOUSES = (b"W01", b"W02", b"W03", b"W04")


def write_message(path: Path, per_warehouse: int) -> int:
    """Write a message with ``per_warehouse`` items at each warehouse, grouped by warehouse."""
    with path.open("wb") as f:
        f.write(HEAD)
        n = 0
        for warehouse in WAREHOUSES:
            block = bytearray()
            for _ in range(per_warehouse):
                block += DETAIL % (n, warehouse, warehouse, n % 500, n % 400)
                n += 1
                if len(block) > 1 << 20:
                    f.write(block)
                    block.clear()
            f.write(block)
        f.write(TAIL)
    return n


def _stream(path: Path, per_warehouse: int) -> tuple[int, dict[str, int], list[str], int]:
    """Write and decode a message; return (written, counts, warehouse order, peak bytes)."""
    expected = write_message(path, per_warehouse=per_warehouse)
    body = Body(path=path)
    assert body.spooled
    ctx = DecodeContext(kind=DocKind.INVENTORY_SNAPSHOT, max_items_per_part=500)
    counts: dict[str, int] = {}
    order: list[str] = []
    tracemalloc.start()
    try:
        for part in decode(body, ctx):
            assert isinstance(part, InventorySnapshot)
            assert len(part.items) <= 500
            counts[part.warehouse_id] = counts.get(part.warehouse_id, 0) + len(part.items)
            if not order or order[-1] != part.warehouse_id:
                order.append(part.warehouse_id)
            del part
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return expected, counts, order, peak


@pytest.mark.slow
def test_huge_spooled_message_streams_in_bounded_memory(tmp_path: Path) -> None:
    """Every item arrives, in parts, and peak memory does not grow with the file size.

    Two files, ~2 MB and ~7 MB: the larger one must not need noticeably more memory.
    (The 500 MB case is a benchmark, ``python -m bench big``: tracemalloc makes a large
    file here cost minutes.)
    """
    small = _stream(tmp_path / "small.xml", per_warehouse=1_000)
    large = _stream(tmp_path / "large.xml", per_warehouse=3_500)
    for expected, counts, order, _ in (small, large):
        assert sum(counts.values()) == expected
        assert order == ["W01", "W02", "W03", "W04"]  # each warehouse's parts are consecutive
    assert large[0] == 14_000
    assert large[3] < small[3] * 1.5, f"peak grew from {small[3]} to {large[3]} bytes"
