"""A property of docs/contract.md §6: for any deliveries, in any order across sources, with a crash
(the transaction of a batch is lost before it commits) and a resume anywhere, the final
inventory table equals a model of §6 written here, independently of the planner.

The model: each source's part is its latest accepted delivery (a later fetch replaces
the part unless its version is lower); a SKU reported by several parts takes the value
of the copy with the highest (version, line hash).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supplyfeed._models import InventoryItem, InventorySnapshot
from supplyfeed._sink.base import LoadUnit, Sink
from supplyfeed._sink.factory import open_sink
from supplyfeed._sink.schema import item_line_hash, version_key, version_of

from .conftest import reset_database
from .helpers import T0, run_record, unit

pytestmark = pytest.mark.slow  # hypothesis, rounds of loads on every sink

SOURCES = ("a", "b", "c")
VERSIONS = [(None, None), (T0, None), (T0, "000000002"), (T0 + dt.timedelta(hours=1), None)]


class Crash(BaseException):
    """Stands for a SIGKILL inside the sink's transaction: nothing of it commits. Not an
    Exception, so the sink's decoder guard does not turn it into a quarantine."""


@dataclass(frozen=True)
class Delivery:
    source: str
    version: int  # index into VERSIONS
    items: tuple[tuple[str, int], ...]

    def doc(self) -> InventorySnapshot:
        issued, control = VERSIONS[self.version]
        return InventorySnapshot(
            supplier_id="SUP",
            warehouse_id="W01",
            as_of=T0,
            issued_at=issued,
            control_number=control,
            items=[InventoryItem(sku=s, on_hand=q) for s, q in self.items],
        )


deliveries = st.builds(
    Delivery,
    st.sampled_from(SOURCES),
    st.integers(0, len(VERSIONS) - 1),
    st.dictionaries(st.sampled_from("ABCDE"), st.integers(1, 3), max_size=4).map(
        lambda d: tuple(sorted(d.items()))
    ),
)


def model(sequence: list[Delivery]) -> dict[str, Any]:
    parts: dict[str, InventorySnapshot] = {}
    for d in sequence:
        doc, held = d.doc(), parts.get(d.source)
        if held is None or version_key(version_of(doc)) >= version_key(version_of(held)):
            parts[d.source] = doc
    best: dict[str, tuple[Any, ...]] = {}
    for doc in parts.values():
        for item in doc.items:
            rank = (version_key(version_of(doc)), item_line_hash(item), item.on_hand)
            if item.sku not in best or rank[:2] > best[item.sku][:2]:
                best[item.sku] = rank
    return {sku: rank[2] for sku, rank in best.items()}


async def replay(sink: Sink, sequence: list[Delivery], batch: int, crash_at: int) -> None:
    """Load the deliveries ``batch`` at a time, one run per batch; the batch holding
    delivery ``crash_at`` crashes once and is loaded again by its run's resume."""
    for start in range(0, len(sequence), batch):
        run_id = f"run-{start}"
        units = [
            unit(d.source, [d.doc()], run_id=run_id, request_id=f"r{start + i}")
            for i, d in enumerate(sequence[start : start + batch])
        ]
        await sink.start_run(run_record(run_id), [u.record.endpoint for u in units])
        if start <= crash_at < start + batch:
            with pytest.raises(Crash):
                await sink.load([*units[: crash_at - start], _crashing(units[0])])
        await sink.load(units)


def _crashing(like: LoadUnit) -> LoadUnit:
    def documents() -> Any:
        raise Crash
        yield  # pragma: no cover

    return LoadUnit(like.run_id, like.record, like.body, documents)


async def final_stock(url: str, sequence: list[Delivery], batch: int, crash_at: int) -> Any:
    sink = open_sink(url)
    await sink.open()
    try:
        await replay(sink, sequence, batch, crash_at)
        rows = await sink.table_rows("inventory_positions")
    finally:
        await sink.close()
    assert len({r["sku"] for r in rows}) == len(rows)  # nothing duplicated
    return {r["sku"]: r["on_hand"] for r in rows}


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sequence=st.lists(deliveries, min_size=1, max_size=7),
    batch=st.integers(1, 3),
    crash=st.integers(0, 6),
)
def test_final_table_equals_the_model_of_section_6(
    kind: str,
    sequence: list[Delivery],
    batch: int,
    crash: int,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """Any deliveries, batched and crashed anywhere: nothing lost, nothing duplicated,
    nothing unexpected, every value the model's."""
    db = tmp_path / f"{uuid.uuid4().hex}.db"  # a fresh database per example
    url = "memory://" if kind == "memory" else f"sqlite:///{db}"
    if kind == "postgres":
        url = request.getfixturevalue("pg_database")
        asyncio.run(reset_database(url))  # emptied per example
    got = asyncio.run(final_stock(url, sequence, batch, crash % len(sequence)))
    assert got == model(sequence)
