"""A dead letter keeps its feed's field mapping, so ``replay`` decodes a mapped XML, JSON
or CSV letter without the feeds file; ``replay`` of an unknown id is an error; a v2
database made before the ``mapping`` column stays readable and gains it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supplyfeed._cli.main import main
from supplyfeed._config import FieldMapping
from supplyfeed._formats.body import Body
from supplyfeed._models import Document
from supplyfeed._sink.base import DeadLetter, EndpointRecord, LoadUnit, Outcome, Sink
from supplyfeed._sink.factory import open_sink

from .conftest import reset_database, run_sync
from .helpers import (
    RUN,
    bad_payload,
    check_exactly,
    endpoint,
    forget_schema_mark,
    run_record,
    run_sql,
)

_XML = b"""<?xml version="1.0"?>
<Stock><Head><Site>W01</Site><At>2026-03-02T06:00:00Z</At></Head>
  <Line code="A-1"><Qty>12</Qty></Line><Line code="B-2"><Qty>3</Qty></Line>
  <Line code="C-3"><Qty>7</Qty></Line></Stock>"""
_JSON = (b'{"site": "W01", "at": "2026-03-02T06:00:00Z", "lines": [{"code": "A-1", "q": 12},'
         b' {"code": "B-2", "q": 3}, {"code": "C-3", "q": 7}]}')  # fmt: skip
_CSV = b"site,at,code,q\nW01,2026-03-02T06:00:00Z,A-1,12\nW01,2026-03-02T06:00:00Z,B-2,3\n" \
       b"W01,2026-03-02T06:00:00Z,C-3,7\n"  # fmt: skip
MAPPED = {
    "xml": (_XML, FieldMapping(records="Stock/Line", fields={
        "warehouse_id": "$.Head/Site", "as_of": "$.Head/At", "sku": "@code", "on_hand": "Qty"})),
    "json": (_JSON, FieldMapping(records="lines", fields={
        "warehouse_id": "$.site", "as_of": "$.at", "sku": "code", "on_hand": "q"})),
    "csv": (_CSV, FieldMapping(fields={
        "warehouse_id": "site", "as_of": "at", "sku": "code", "on_hand": "q"})),
}  # fmt: skip
SKUS = ["A-1", "B-2", "C-3"]


def _broken() -> Iterator[Document]:
    """The decoder of the run that quarantined the payload (a bug fixed since)."""
    raise bad_payload("line 2")
    yield


def _units(letters: list[tuple[str, bytes, FieldMapping | None]]) -> list[LoadUnit]:
    units = []
    for i, (fmt, body, mapping) in enumerate(letters):
        record = EndpointRecord(endpoint(f"{fmt}-{i}", fmt=fmt), Outcome.PENDING, attempts=1)
        record.request_id = f"req-{fmt}-{i}"
        units.append(LoadUnit(RUN, record, Body.from_bytes(body), _broken, mapping=mapping))
    return units


async def _quarantine(url: str, letters: list[tuple[str, bytes, FieldMapping | None]]) -> None:
    units = _units(letters)
    sink = open_sink(url)
    await sink.open()
    try:
        await sink.start_run(run_record(), [u.record.endpoint for u in units])
        await sink.load(units)
    finally:
        await sink.close()


async def _stored(url: str) -> tuple[list[DeadLetter], list[dict[str, Any]]]:
    """Every dead letter (open or resolved) and the inventory rows."""
    sink = open_sink(url, lock=False)
    await sink.open()
    try:
        letters = await sink.dead_letters(include_resolved=True)
        return letters, await sink.table_rows("inventory_positions")
    finally:
        await sink.close()


async def test_a_dead_letter_keeps_its_feeds_mapping(sink: Sink) -> None:
    """Every sink stores the mapping with the letter and gives it back (None without)."""
    body, mapping = MAPPED["xml"]
    units = _units([("xml", body, mapping), ("json", b"{", None)])
    await sink.start_run(run_record(), [u.record.endpoint for u in units])
    await sink.load(units)
    assert [d.mapping for d in await sink.dead_letters()] == [mapping, None]


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database that a CLI command can open again (not the in-memory sink)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'letters.db'}"
    pg = str(request.getfixturevalue("pg_database"))
    run_sync(reset_database(pg))
    request.getfixturevalue("monkeypatch").chdir(tmp_path)  # spooled letters stay here
    return pg


@pytest.mark.parametrize("fmt", sorted(MAPPED))
def test_replay_decodes_a_mapped_letter_with_its_stored_mapping(
    db_url: str, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """replay --db (no feeds file): the mapped letter loads every record once, through
    the mapping stored with it; a letter stored without one still fails, saying so."""
    url = db_url
    body, mapping = MAPPED[fmt]
    asyncio.run(_quarantine(url, [(fmt, body, mapping), (fmt, body + b"\n", None)]))
    assert main(["replay", "--db", url]) == 1  # the second letter has no mapping
    out, err = capsys.readouterr()
    assert "dead letter 1: loaded 3 records" in out
    assert "dead letter 2: still undecodable" in err
    if fmt == "xml":
        assert "needs a field mapping" in err
    letters, rows = asyncio.run(_stored(url))
    check_exactly(rows, SKUS)
    letters, _rows = asyncio.run(_stored(url))
    assert [d.resolved_at is not None for d in letters] == [True, False]


def test_replay_of_an_unknown_id_is_an_error(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """replay 999: exit 2, one line naming it, and the open letter named with it is not
    replayed either."""
    url = db_url
    body, mapping = MAPPED["json"]
    asyncio.run(_quarantine(url, [("json", body, mapping)]))
    assert main(["replay", "1", "999", "--db", url]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: no dead letter 999 in ")
    letters, _rows = asyncio.run(_stored(url))
    assert [d.resolved_at for d in letters] == [None]


async def _drop_mapping_column(url: str) -> None:
    """What a database made before the column looks like (schema version 2 as shipped)."""
    await run_sql(url, "ALTER TABLE sf_dead_letters DROP COLUMN mapping")
    await forget_schema_mark(url)  # the build before the column left no mark


def test_a_v2_database_without_the_mapping_column_stays_readable(db_url: str) -> None:
    """An older letter reads back with no mapping; the column is added on open, and a
    new letter keeps its mapping."""
    url = db_url
    body, mapping = MAPPED["csv"]
    asyncio.run(_quarantine(url, [("csv", body, None)]))
    asyncio.run(_drop_mapping_column(url))
    letters, _rows = asyncio.run(_stored(url))
    assert [(d.id, d.mapping) for d in letters] == [(1, None)]
    asyncio.run(_quarantine(url, [("csv", body + b"W01,2026-03-02T06:00:00Z,D-4,1\n", mapping)]))
    letters, _rows = asyncio.run(_stored(url))
    assert [d.mapping for d in letters] == [None, mapping]
