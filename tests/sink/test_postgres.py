"""PostgreSQL-only behaviour: the run lock, the schema version, spooled dead letters and
values no column takes. The shared semantics are in the contract suite."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from supplyfeed import RunLockedError, SinkError
from supplyfeed._fetch.conditional import Validators, ValidatorStore
from supplyfeed._models import InventoryItem, InventorySnapshot
from supplyfeed._sink.base import Outcome
from supplyfeed._sink.feed_state import FeedStateStore, PageMark
from supplyfeed._sink.postgres import PostgresOptions, PostgresSink
from supplyfeed._sink.schema import SCHEMA_VERSION
from supplyfeed._sink.semantics import DEAD_LETTER_INLINE_MAX

from ..supplier.helpers import run
from ..supplier.test_incremental import ChangesServer
from ..supplier.test_incremental import _stamp as stamp
from ..supplier.test_incremental import feeds as incremental_feeds
from .conftest import reset_database
from .helpers import T0, bad_payload, failing, forget_schema_mark, unit

pytestmark = pytest.mark.postgres


@pytest.fixture
async def url(pg_database: str) -> str:
    await reset_database(pg_database)
    return pg_database


async def test_a_second_run_on_the_same_database_is_refused(url: str) -> None:
    """The advisory lock lets one run write; a read-only open still works."""
    first = PostgresSink(url)
    await first.open()
    try:
        second = PostgresSink(url)
        with pytest.raises(RunLockedError, match="another supplyfeed run"):
            await second.open()
        reader = PostgresSink(url, lock=False)
        await reader.open()
        assert await reader.table_rows("inventory_positions") == []
        await reader.close()
    finally:
        await first.close()
    again = PostgresSink(url)
    await again.open()  # released on close
    await again.close()


async def test_the_lock_dies_with_its_session(url: str) -> None:
    """A run killed without closing (its session ended by the server) leaves no stale lock."""
    holder = PostgresSink(url)
    await holder.open()
    try:
        admin = await asyncpg.connect(url)
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = 'supplyfeed run lock'"
            )
            # pg_terminate_backend only signals: wait until the server has let go of the lock.
            for _ in range(500):  # up to 10 s
                if not await admin.fetchval(
                    "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                    "WHERE l.locktype = 'advisory' AND d.datname = current_database()"
                ):
                    break
                await asyncio.sleep(0.02)
        finally:
            await admin.close()
        other = PostgresSink(url, PostgresOptions(relock_wait=0))
        await other.open()
        await other.close()
    finally:
        await holder.close()


async def test_schema_version_is_recorded_and_a_newer_one_refused(url: str) -> None:
    """Open records the schema version once; a database from a newer supplyfeed is refused."""
    async with PostgresSink(url):
        pass
    async with PostgresSink(url):
        pass
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT array_agg(version) FROM sf_schema_version") == [
            SCHEMA_VERSION
        ]
        await conn.execute("INSERT INTO sf_schema_version VALUES ($1, 'later')", 999)
        await forget_schema_mark(url)  # a newer build leaves its own mark, not ours
        with pytest.raises(SinkError, match="upgrade supplyfeed"):
            await PostgresSink(url).open()
        await conn.execute("DELETE FROM sf_schema_version WHERE version = 999")
    finally:
        await conn.close()


async def test_a_schema_1_database_is_refused_untouched(url: str) -> None:
    """A database from before snapshot parts and conflicts (schema version 1) is refused
    with a message saying to re-create it, before any table is created in it."""
    async with PostgresSink(url):
        pass
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("UPDATE sf_schema_version SET version = 1")
        await conn.execute("DROP TABLE sf_conflicts")
        await forget_schema_mark(url)  # an older build left no mark
        with pytest.raises(SinkError, match=r"schema version 1.*re-create it"):
            await PostgresSink(url).open()
        assert await conn.fetchval("SELECT to_regclass('sf_conflicts')") is None
        await conn.execute("UPDATE sf_schema_version SET version = $1", SCHEMA_VERSION)
    finally:
        await conn.close()
    async with PostgresSink(url):  # the current schema again, for the tests that follow
        pass


async def test_large_dead_letter_is_spooled_to_the_folder(url: str, tmp_path: Path) -> None:
    """A dead letter past the inline limit lives in the spool folder, read back whole."""
    body = b"x" * (DEAD_LETTER_INLINE_MAX + 1)
    async with PostgresSink(url, PostgresOptions(dead_letter_dir=tmp_path / "dl")) as sink:
        [final] = await sink.load([unit("e1", failing([], bad_payload()), body=body)])
        [letter] = await sink.dead_letters()
    assert final.outcome is Outcome.QUARANTINED
    assert letter.body.spooled
    assert letter.body.read() == body
    assert [p.name for p in (tmp_path / "dl").iterdir()] == [f"{letter.sha256}.bin"]


async def test_a_spooled_dead_letter_is_found_from_another_directory(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run spools to a folder relative to its directory; `dead-letters` and `replay`
    started elsewhere (another cwd, the default folder) still read the bytes: the row
    keeps the absolute path."""
    body = b"y" * (DEAD_LETTER_INLINE_MAX + 7)
    (tmp_path / "run").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "run")
    async with PostgresSink(url, PostgresOptions(dead_letter_dir="dl")) as sink:
        await sink.load([unit("e1", failing([], bad_payload()), body=body)])
    monkeypatch.chdir(tmp_path / "elsewhere")
    async with PostgresSink(url, lock=False) as sink:
        [letter] = await sink.dead_letters()
    assert letter.body.read() == body


async def test_a_value_no_column_takes_quarantines_the_unit(url: str) -> None:
    """A decoder yielding an unstorable quantity is a decoder bug: quarantine, and the
    session stays usable for the next unit."""
    item = InventoryItem(sku="S1", on_hand=5)
    item.on_hand = "five"  # type: ignore[assignment]
    bad = InventorySnapshot(supplier_id="SUP", warehouse_id="W1", as_of=T0, items=[item])
    good = InventorySnapshot(
        supplier_id="SUP", warehouse_id="W2", as_of=T0, items=[InventoryItem(sku="S", on_hand=1)]
    )
    async with PostgresSink(url) as sink:
        finals = await sink.load([unit("e1", [bad]), unit("e2", [good])])
        rows = await sink.table_rows("inventory_positions")
    assert [(f.outcome, f.error_kind) for f in finals] == [
        (Outcome.QUARANTINED, "decoder_bug"),
        (Outcome.LOADED, None),
    ]
    assert [r["warehouse_id"] for r in rows] == ["W2"]


async def test_state_between_runs_outlives_the_sink(url: str) -> None:
    """Validators, page marks and cursors are kept in the database, across sink instances
    (so conditional requests, paged resume and incremental feeds work on PostgreSQL)."""
    async with PostgresSink(url) as sink:
        assert isinstance(sink, ValidatorStore)
        assert isinstance(sink, FeedStateStore)
        await sink.put_validators({"k": Validators('"e"', "Mon", "ab")})
        await sink.put_validators({"k": Validators('"f"', None, "cd"), "k2": Validators()})
        await sink.put_page_marks("r1", {"f1": PageMark(3, "http://x/p3"), "f2": PageMark(2, None)})
        await sink.put_page_marks("r1", {"f1": PageMark(4, "http://x/p4")})
        await sink.put_cursors({"f1": "2026-11-28T00:00:00Z"})
        await sink.put_cursors({"f1": "2026-11-29T00:00:00Z", "f2": "7"})
    async with PostgresSink(url) as sink:
        validators = await sink.get_validators(["k", "k2", "missing"])
        marks = await sink.get_page_marks("r1", ["f1", "f2", "f3"])
        other_run = await sink.get_page_marks("r2", ["f1"])
        cursors = await sink.get_cursors(["f1", "f2", "f3"])
    assert validators == {"k": Validators('"f"', None, "cd"), "k2": Validators()}
    assert marks == {"f1": PageMark(4, "http://x/p4"), "f2": PageMark(2, None)}
    assert other_run == {}
    assert cursors == {"f1": "2026-11-29T00:00:00Z", "f2": "7"}


async def test_incremental_feed_on_postgres_asks_only_for_newer_data(url: str) -> None:
    """Two runs, each with its own sink and session: the second asks from the first's
    cursor and sees its unchanged page as unchanged; nothing lost or duplicated."""
    async with ChangesServer() as server:
        server.add(7)
        suppliers = incremental_feeds(server)
        async with PostgresSink(url) as sink:
            first = await run(suppliers, sink, suppliers[0].config)
        server.add(2)
        async with PostgresSink(url) as sink:
            second = await run(suppliers, sink, suppliers[0].config)
            rows = [r["warehouse_id"] for r in await sink.table_rows("inventory_positions")]
    assert first.outcomes == {"loaded": 3}  # 7 documents, 3 a page
    assert server.since == [None, stamp(6)]
    assert second.outcomes == {"loaded": 1}  # W6 (at the cursor), W7, W8
    assert sorted(rows) == sorted(f"W{i}" for i in range(9))
