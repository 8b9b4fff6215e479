"""The positions kept as JSON for ``reconcile --json`` (``sf_position_json``), on SQLite
and PostgreSQL: read where kept, dropped by any change to a part of the same supplier and
warehouse (the trigger on ``sf_documents``), so the answer follows the model of
docs/contract.md §6 step by step whether or not a run's end kept the chunks again."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable
from typing import Any

import msgspec

from supplyfeed._cli.reconcile import ReconcileOptions
from supplyfeed._models import DocKind
from supplyfeed._sink.base import Sink
from supplyfeed._sink.reconcile_json import refresh_position_json, refresh_positions, write_json
from supplyfeed._sink.reconcile_query import Filters, open_reader

from .helpers import deliver, part, view
from .test_views import STEPS, model

STALE = 5  # STEPS[4]: "a late older version: stale"
POSITIONS = ReconcileOptions(output="json", sections=frozenset({"positions"}))


async def positions(url: str, filters: Filters | None = None) -> list[dict[str, Any]]:
    out = io.BytesIO()
    await write_json(url, dataclasses.replace(POSITIONS, filters=filters or Filters()), out)
    found: list[dict[str, Any]] = msgspec.json.decode(out.getvalue())["positions"]
    return found


def current(rows: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[Any, str]]:
    keys = [(r["warehouse_id"], r["sku"]) for r in rows]
    assert len(keys) == len(set(keys)), "one row per (supplier, warehouse, sku)"
    return {(r["warehouse_id"], r["sku"]): (r["on_hand"], r["as_of"][:19]) for r in rows}


async def kept(url: str) -> dict[str, str]:
    """Each kept chunk's warehouse and as_of."""
    rows = await view(url, "sf_position_json")
    return {r["warehouse_id"]: str(r["as_of"])[:19].replace(" ", "T") for r in rows}


async def test_the_positions_follow_the_model_with_chunks_kept_after_every_delivery(
    sink: Sink, sink_url: Callable[[], str]
) -> None:
    """After every delivery (parts, a correction, a late older version, new as_of values),
    before the run's end keeps the chunks again and after it, the positions are the
    model's: a delivery drops the chunk of its warehouse and no other, unless it changes
    nothing."""
    url = sink_url()
    for n, (source, wh, as_of, issued, items) in enumerate(STEPS, 1):
        before = await kept(url)
        await deliver(sink, f"run-{n}", source, [part(wh, as_of, items, issued=issued)],
                      DocKind.INVENTORY_SNAPSHOT)  # fmt: skip
        after = await kept(url)
        others = {w: a for w, a in after.items() if w != wh}
        assert others == {w: a for w, a in before.items() if w != wh}, f"step {n}"
        # Step 5, the late older version, is stale: no part changes, nor does its chunk.
        assert (wh in after) == (n == STALE), f"step {n}"
        assert current(await positions(url)) == model(STEPS[:n]), f"after step {n}"
        assert await refresh_positions(url) == []  # no warning
        latest = {w: a for (w, _), (_, a) in model(STEPS[:n]).items()}
        assert await kept(url) == latest, f"kept after step {n}"
        assert current(await positions(url)) == model(STEPS[:n]), f"kept, after step {n}"
        by_warehouse = current(await positions(url, Filters(warehouse="W01")))
        assert by_warehouse == {k: v for k, v in model(STEPS[:n]).items() if k[0] == "W01"}


async def test_a_kept_chunk_is_what_reconcile_reads_and_a_sku_question_is_asked_live(
    sink: Sink, sink_url: Callable[[], str]
) -> None:
    """A chunk changed by hand (the one way round the trigger) is what the answer shows:
    the chunks are read, not spelled again. A --sku question reads the rows themselves."""
    url = sink_url()
    source, wh, as_of, issued, items = STEPS[0]
    await deliver(sink, "run-1", source, [part(wh, as_of, items, issued=issued)],
                  DocKind.INVENTORY_SNAPSHOT)  # fmt: skip
    reader = await open_reader(url, write=True)
    try:
        assert await refresh_position_json(reader) == 1
        json = '{"sku":"by hand"}'
        value = "?" if reader.dialect == "sqlite" else "convert_to(?, 'UTF8')"
        await reader.execute_many(f"UPDATE sf_position_json SET json = {value}", [[json]])
    finally:
        await reader.close()
    assert await positions(url) == [{"sku": "by hand"}]
    assert [r["on_hand"] for r in await positions(url, Filters(sku="A2"))] == [2]
