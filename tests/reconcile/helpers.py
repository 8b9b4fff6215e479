"""Loading documents through a real sink and reading the views back."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from supplyfeed._models import DocKind, Document, InventoryItem, InventorySnapshot
from supplyfeed._sink.base import Outcome, Sink
from supplyfeed._sink.reconcile_query import open_reader

from ..sink.helpers import run_record, unit

T1 = dt.datetime(2026, 11, 28, 6, 0, tzinfo=dt.UTC)
T2 = dt.datetime(2026, 11, 28, 7, 0, tzinfo=dt.UTC)


def part(
    warehouse: str,
    as_of: dt.datetime,
    items: dict[str, int],
    *,
    issued: dt.datetime | None = None,
    uom: str = "EA",
) -> InventorySnapshot:
    return InventorySnapshot(
        supplier_id="SUP",
        warehouse_id=warehouse,
        as_of=as_of,
        issued_at=issued,
        items=[InventoryItem(sku=s, on_hand=q, available=q, uom=uom) for s, q in items.items()],
    )


async def deliver(
    sink: Sink,
    run_id: str,
    source: str,
    docs: Sequence[Document],
    kind: DocKind,
    started: dt.datetime | None = None,
) -> None:
    """One delivery of ``source`` in a run of its own (started at ``started``, if given:
    "the latest run" is the one started last)."""
    u = unit(source, docs, run_id=run_id, kind=kind)
    record = run_record(run_id)
    if started is not None:
        record = dataclasses.replace(record, started_at=started)
    await sink.start_run(record, [u.record.endpoint])
    [final] = await sink.load([u])
    assert final.outcome is Outcome.LOADED, final.error_message


async def view(url: str, name: str) -> list[dict[str, Any]]:
    reader = await open_reader(url)
    try:
        return await reader.fetch(f"SELECT * FROM {name}", [])
    finally:
        await reader.close()
