"""Documents, units and checks shared by the sink tests."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from supplyfeed import PayloadError
from supplyfeed._formats.body import Body
from supplyfeed._models import (
    DocKind,
    Document,
    InventoryItem,
    InventorySnapshot,
    PoAck,
    PoAckLine,
    ShipNotice,
    ShipNoticeLine,
)
from supplyfeed._sink.base import Endpoint, EndpointRecord, LoadUnit, Outcome, RunRecord, Sink
from supplyfeed._sink.schema import CANONICAL_TABLES

T0 = dt.datetime(2026, 11, 28, 7, 45, tzinfo=dt.UTC)
RUN = "run-1"


def endpoint(key: str, kind: DocKind = DocKind.INVENTORY_SNAPSHOT, fmt: str = "json") -> Endpoint:
    return Endpoint(key, "SUP", kind, fmt, f"https://supplier.example/{key}")


def run_record(run_id: str = RUN) -> RunRecord:
    return RunRecord(run_id=run_id, started_at=T0, status="running", feeds="test")


def snapshot(
    warehouse: str = "W01",
    skus: Iterable[int] = range(3),
    *,
    on_hand: int = 5,
    as_of: dt.datetime = T0,
) -> InventorySnapshot:
    items = [InventoryItem(sku=f"SKU-{i}", on_hand=on_hand + i, available=i) for i in skus]
    return InventorySnapshot(supplier_id="SUP", warehouse_id=warehouse, as_of=as_of, items=items)


def po_ack(
    lines: Iterable[int] = (1, 2, 3), *, control: str = "1", qty: int = 10, issued: dt.datetime = T0
) -> PoAck:
    return PoAck(
        supplier_id="SUP",
        po_number="PO-1",
        ack_number="A-1",
        status="accepted",
        issued_at=issued,
        control_number=control,
        codes={"BAK02": "AC"},
        lines=[PoAckLine(line_number=str(n), sku=f"SKU-{n}", acked_qty=qty) for n in lines],
    )


def ship_notice(
    lines: Iterable[int] = (1, 2), *, control: str = "7", carrier: str = "UPS"
) -> ShipNotice:
    return ShipNotice(
        supplier_id="SUP",
        asn_number="ASN-1",
        carrier=carrier,
        issued_at=T0,
        control_number=control,
        lines=[ShipNoticeLine(line_seq=n, sku=f"SKU-{n}", shipped_qty=n) for n in lines],
    )


def unit(
    key: str,
    docs: Iterable[Document] | Callable[[], Iterator[Document]],
    *,
    run_id: str = RUN,
    body: bytes = b"payload",
    request_id: str | None = None,
    kind: DocKind = DocKind.INVENTORY_SNAPSHOT,
) -> LoadUnit:
    record = EndpointRecord(endpoint(key, kind), Outcome.PENDING, attempts=1)
    record.request_id = request_id or f"req-{key}-{run_id}"
    documents = docs if callable(docs) else _lister(list(docs))
    return LoadUnit(run_id, record, Body.from_bytes(body), documents)


def _lister(docs: list[Document]) -> Callable[[], Iterator[Document]]:
    return lambda: iter(docs)


def failing(docs: Iterable[Document], error: BaseException) -> Callable[[], Iterator[Document]]:
    """A decoder that yields ``docs`` and then raises ``error``."""

    def documents() -> Iterator[Document]:
        yield from docs
        raise error

    return documents


def bad_payload(where: str = "line 4") -> PayloadError:
    return PayloadError("unexpected end of data", where=where, kind="syntax")


async def dump(sink: Sink) -> dict[str, list[dict[str, Any]]]:
    """Every canonical table, rows in key order."""
    return {t.name: await sink.table_rows(t.name) for t in CANONICAL_TABLES}


def check_exactly(rows: list[dict[str, Any]], expected: Iterable[str], field: str = "sku") -> None:
    """Jepsen-style: no record lost, none duplicated, none unexpected."""
    want = Counter(expected)
    got = Counter(r[field] for r in rows)
    lost = want - got
    duplicated = {k: n for k, n in got.items() if n > 1}
    unexpected = got - want
    assert (dict(lost), duplicated, dict(unexpected)) == ({}, {}, {})


async def run_sql(url: str, statement: str, *args: object) -> object:
    """One statement on a SQLite or PostgreSQL database, behind the sink's back (the
    tests that fake a database made by another build of supplyfeed): the first value of
    its first row, None without one. Parameters are written ``$1``, ``$2`` ..."""
    if url.startswith("sqlite"):
        import re
        import sqlite3
        from contextlib import closing

        from supplyfeed._sink.sqlite import sqlite_path

        with closing(sqlite3.connect(sqlite_path(url))) as lite:
            row = lite.execute(re.sub(r"\$\d+", "?", statement), args).fetchone()
            return None if row is None else row[0]
    import asyncpg

    pg = await asyncpg.connect(url)
    try:
        return await pg.fetchval(statement, *args)
    finally:
        await pg.close()


async def forget_schema_mark(url: str) -> None:
    """Make a database look set up by another build of supplyfeed, as the tests that
    fake an older or newer database need: without this build's DDL mark
    (``schema.ddl_fingerprint``), its next open runs the DDL and its checks again."""
    if url.startswith("sqlite"):
        await run_sql(url, "PRAGMA user_version = 0")
    else:
        await run_sql(url, "COMMENT ON TABLE sf_schema_version IS NULL")
