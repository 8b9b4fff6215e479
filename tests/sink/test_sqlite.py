"""What only the SQLite sink has: the file lock, the disk, the spool folder, the schema."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import textwrap
from contextlib import closing
from pathlib import Path
from typing import Literal

import pytest

from supplyfeed import RunLockedError, SinkError
from supplyfeed._models import Document, InventoryItem, InventorySnapshot
from supplyfeed._sink.base import Outcome
from supplyfeed._sink.feed_state import FeedStateStore, PageMark
from supplyfeed._sink.memory import MemorySink
from supplyfeed._sink.schema import SCHEMA_VERSION
from supplyfeed._sink.sqlite import SqliteSink

from .helpers import (
    RUN,
    T0,
    bad_payload,
    check_exactly,
    dump,
    endpoint,
    failing,
    forget_schema_mark,
    po_ack,
    run_record,
    ship_notice,
    snapshot,
    unit,
)


def url(path: Path) -> str:
    return f"sqlite:///{path}"


def sqlite_dump(path: Path) -> list[str]:
    """The SQL text of the canonical tables and the document ledger, for byte comparison."""
    keep = ("inventory_positions", "po_ack", "ship_notice", "sf_documents")
    with closing(sqlite3.connect(path)) as conn:
        return [line for line in conn.iterdump() if any(t in line for t in keep)]


async def test_second_sink_on_the_same_file_is_locked_out(tmp_path: Path) -> None:
    """One run at a time: the second open names the holder's pid; read-only opens work."""
    db = tmp_path / "a.db"
    async with SqliteSink(url(db)):
        second = SqliteSink(url(db))
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
            await second.open()
        async with SqliteSink(url(db), lock=False) as reader:
            assert await reader.get_run() is None
    async with SqliteSink(url(db)):  # released on close
        pass


async def test_lock_of_a_killed_process_is_free_again(tmp_path: Path) -> None:
    """SIGKILL of the holder releases the lock: no stale lock file to clean by hand."""
    db = tmp_path / "a.db"
    child = textwrap.dedent(
        f"""
        import asyncio, sys, time
        from supplyfeed._sink.sqlite import SqliteSink
        async def main():
            sink = SqliteSink({url(db)!r})
            await sink.open()
            print("locked", flush=True)
            time.sleep(60)
        asyncio.run(main())
        """
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", child, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        assert (await proc.stdout.readline()).strip() == b"locked"
        with pytest.raises(RunLockedError, match=f"pid {proc.pid}"):
            await SqliteSink(url(db)).open()
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    async with SqliteSink(url(db)) as sink:
        await sink.load([unit("e1", [snapshot()])])


async def test_full_database_raises_sink_error_and_keeps_data_intact(tmp_path: Path) -> None:
    """SQLITE_FULL becomes SinkError; the batch rolls back whole; with room, it loads."""
    db = tmp_path / "a.db"
    async with SqliteSink(url(db)) as sink:
        await sink.start_run(run_record(), [endpoint("e0"), endpoint("e1")])
        await sink.load([unit("e0", [snapshot("W00")])])
    before = sqlite_dump(db)
    with closing(sqlite3.connect(db)) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    big = [snapshot("W01", range(20_000))]
    async with SqliteSink(url(db), pragmas={"max_page_count": pages + 2}) as sink:
        with pytest.raises(SinkError, match="full"):
            await sink.load([unit("e1", big)])
        assert {e.endpoint.key: e.outcome for e in await sink.endpoints(RUN)}["e1"] is (
            Outcome.PENDING
        )
    assert sqlite_dump(db) == before
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    async with SqliteSink(url(db)) as sink:
        await sink.load([unit("e1", big)])
        rows = await sink.table_rows("inventory_positions")
    check_exactly(
        [r for r in rows if r["warehouse_id"] == "W01"], [f"SKU-{i}" for i in range(20_000)]
    )
    check_exactly([r for r in rows if r["warehouse_id"] == "W00"], ["SKU-0", "SKU-1", "SKU-2"])


async def test_large_dead_letter_is_spooled_beside_the_database(tmp_path: Path) -> None:
    """Over 1 MiB the bytes go to <stem>-dead-letters/, fsynced, and read back whole."""
    db = tmp_path / "feeds.db"
    payload = os.urandom(1500 * 1024)
    async with SqliteSink(url(db)) as sink:
        await sink.load([unit("e1", failing([], bad_payload()), body=payload)])
        await sink.load([unit("e2", failing([], bad_payload()), body=b"small")])
        big, small = await sink.dead_letters()
    assert big.body.spooled
    assert not small.body.spooled
    assert big.body.path is not None
    assert big.body.path.parent == tmp_path / "feeds-dead-letters"
    assert (big.body.read(), big.size) == (payload, len(payload))
    assert small.body.read() == b"small"


async def test_reload_is_byte_identical_on_disk(tmp_path: Path) -> None:
    """An identical reload writes nothing: the SQL dump is the same byte for byte."""
    db = tmp_path / "a.db"
    docs = [snapshot("W01"), snapshot("W02", range(50))]
    async with SqliteSink(url(db)) as sink:
        await sink.load([unit("e1", docs)])
    before = sqlite_dump(db)
    async with SqliteSink(url(db)) as sink:
        await sink.load([unit("e1", docs, run_id="run-2")])
    assert sqlite_dump(db) == before


async def test_schema_version_is_recorded_and_a_newer_one_refused(tmp_path: Path) -> None:
    """The schema is created on open with its version; a newer database is not touched."""
    db = tmp_path / "a.db"
    async with SqliteSink(url(db)):
        pass
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT version FROM sf_schema_version").fetchall() == [
            (SCHEMA_VERSION,)
        ]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        with conn:
            conn.execute("INSERT INTO sf_schema_version VALUES (?, 'later')", (SCHEMA_VERSION + 1,))
    await forget_schema_mark(url(db))  # a newer build leaves its own mark, not ours
    with pytest.raises(SinkError, match="upgrade supplyfeed"):
        await SqliteSink(url(db)).open()
    # The failed open released its lock: a second try fails the same way, not as locked.
    with pytest.raises(SinkError, match="upgrade supplyfeed"):
        await SqliteSink(url(db)).open()


async def test_in_memory_database_lives_in_the_worker_thread() -> None:
    """sqlite:///:memory: works for the life of the sink (one connection, one thread)."""
    async with SqliteSink("sqlite:///:memory:") as sink:
        await sink.load([unit("e1", [snapshot()])])
        await sink.load([unit("e2", failing([], bad_payload()), body=b"x" * (2 << 20))])
        assert len(await sink.table_rows("inventory_positions")) == 3
        [letter] = await sink.dead_letters()
        assert not letter.body.spooled  # no folder beside an in-memory database


async def test_methods_on_a_closed_sink_raise_sink_error(tmp_path: Path) -> None:
    """Using a sink that is not open is a clear error, not an AttributeError."""
    with pytest.raises(SinkError, match="not open"):
        await SqliteSink(url(tmp_path / "a.db")).get_run()


async def test_sqlite_stores_exactly_the_rows_the_memory_fake_holds(tmp_path: Path) -> None:
    """The SQLite bulk path (JSON arrays) stores the same values as rows_for: ints stay
    ints, floats floats, text (unicode too) and codes byte for byte."""
    items = [
        InventoryItem(sku='Ä-1 "q" 東', on_hand=12, available=12.5, codes={"z": "1", "a": "é"}),
        InventoryItem(sku="B", on_hand=0.1, available=None, uom="KG"),
        InventoryItem(sku="C", on_hand=-3, available=2**53),
    ]
    docs: list[Document] = [
        InventorySnapshot(supplier_id="S", warehouse_id="W", as_of=T0, items=items),
        InventorySnapshot(supplier_id="S", warehouse_id="W", as_of=T0, items=[items[0]]),
        po_ack(),
        ship_notice(),
    ]
    memory = MemorySink()
    await memory.load([unit("e1", docs[:1] + docs[2:])])
    async with SqliteSink(url(tmp_path / "a.db")) as sink:
        await sink.load([unit("e1", docs[:1] + docs[2:])])
        assert await dump(sink) == await dump(memory)
        for key, value in (await sink.table_rows("inventory_positions"))[0].items():
            assert type(value) is type((await memory.table_rows("inventory_positions"))[0][key])


@pytest.mark.parametrize("worker", ["thread", "process"])
async def test_page_marks_and_cursors_outlive_the_sink(
    tmp_path: Path, worker: Literal["thread", "process"]
) -> None:
    """sf_page_marks and sf_cursors are kept by the sink itself, across sink instances."""
    async with SqliteSink(url(tmp_path / "s.db"), worker=worker) as sink:
        assert isinstance(sink, FeedStateStore)
        await sink.put_page_marks("r1", {"f1": PageMark(3, "http://x/p3"), "f2": PageMark(2, None)})
        await sink.put_cursors({"f1": "2026-11-28T00:00:00Z"})
        await sink.put_cursors({"f1": "2026-11-29T00:00:00Z", "f2": "7"})
    async with SqliteSink(url(tmp_path / "s.db"), worker=worker) as sink:
        marks = await sink.get_page_marks("r1", ["f1", "f2", "f3"])
        other_run = await sink.get_page_marks("r2", ["f1"])
        cursors = await sink.get_cursors(["f1", "f2", "f3"])
    assert marks == {"f1": PageMark(3, "http://x/p3"), "f2": PageMark(2, None)}
    assert other_run == {}
    assert cursors == {"f1": "2026-11-29T00:00:00Z", "f2": "7"}


async def test_a_schema_1_database_is_refused_untouched(tmp_path: Path) -> None:
    """A file from a supplyfeed before snapshot parts: a clear refusal, and nothing of the
    new schema is created in it (the check comes before any CREATE)."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE sf_schema_version (version INTEGER NOT NULL, applied_at TEXT)")
    conn.execute("INSERT INTO sf_schema_version VALUES (1, '2026-11-01')")
    conn.commit()
    conn.close()
    with pytest.raises(SinkError, match=r"schema version 1.*re-create"):
        async with SqliteSink(f"sqlite:///{path}"):
            pass
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert tables == {"sf_schema_version"}


@pytest.mark.parametrize("worker", ["thread", "process"])
async def test_checkpoint_copies_the_wal_into_the_database(
    tmp_path: Path, worker: Literal["thread", "process"]
) -> None:
    """``checkpoint`` (run beside the run-end checks) folds the write-ahead log into the
    database file, so closing has little left to copy; the rows stay as they were."""
    db = tmp_path / "c.db"
    async with SqliteSink(url(db), worker=worker) as sink:
        await sink.start_run(run_record(), [endpoint(f"e{i:04}") for i in range(3000)])
        before = db.stat().st_size
        await sink.checkpoint()
        after = db.stat().st_size
        assert len(await sink.endpoints(RUN)) == 3000
    assert after > before * 4  # the ledger's pages moved from the WAL into the file
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT count(*) FROM sf_endpoints").fetchone()[0] == 3000
