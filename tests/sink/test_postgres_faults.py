"""Connection faults against a real PostgreSQL, injected by a TCP proxy in this file.

The proxy (127.0.0.1 only) forwards to the server and can drop every connection at a
chosen moment: in the middle of a batch, or right after it forwarded a COMMIT (so the
server commits but the client never hears it). After each fault the records are counted
Jepsen-style: lost, duplicated and unexpected must all be empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from urllib.parse import urlsplit

import asyncpg
import pytest

from supplyfeed import SinkError
from supplyfeed._models import Document
from supplyfeed._sink.base import Outcome
from supplyfeed._sink.postgres import PostgresOptions, PostgresSink

from .conftest import reset_database
from .helpers import bad_payload, check_exactly, failing, snapshot, unit

pytestmark = pytest.mark.postgres


class Proxy:
    """Forwards TCP to ``upstream``; ``drop_all`` aborts every connection both ways;
    ``arm_commit_drop`` aborts the connection that sends the next COMMIT, after the server
    has had time to run it but before its reply reaches the client."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._server: asyncio.Server | None = None
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.commit_armed = False
        self._frozen: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self.drops = 0
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self.drop_all()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def drop_all(self) -> None:
        self.drops += 1
        for client, upstream in list(self._links):
            client.transport.abort()
            upstream.transport.abort()
        self._links.clear()

    def arm_commit_drop(self) -> None:
        self.commit_armed = True

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        link = (writer, up_writer)
        self._links.add(link)
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer, link, to_server=True)),
            asyncio.create_task(self._pump(up_reader, writer, link, to_server=False)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            self._tasks.difference_update(pumps)
            self._links.discard(link)
            for w in link:
                w.transport.abort()

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        link: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
        *,
        to_server: bool,
    ) -> None:
        while data := await reader.read(65536):
            if link in self._frozen:
                return  # the reply to the COMMIT never reaches the client
            writer.write(data)
            await writer.drain()
            if to_server and self.commit_armed and b"COMMIT" in data:
                self.commit_armed = False
                self._links.discard(link)
                self._frozen.add(link)
                await asyncio.sleep(0.3)  # the server runs the COMMIT, then loses us
                self.drops += 1
                for w in link:
                    w.transport.abort()
                return
        writer.close()  # EOF one way: pass it on, so both peers see the end


@pytest.fixture
async def proxy(pg_database: str) -> AsyncIterator[Proxy]:
    await reset_database(pg_database)
    parts = urlsplit(pg_database)
    p = Proxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


def proxied_url(pg_database: str, proxy: Proxy) -> str:
    parts = urlsplit(pg_database)
    user = f"{parts.username}@" if parts.username else ""
    return f"postgresql://{user}127.0.0.1:{proxy.port}{parts.path}"


async def no_wait(seconds: float) -> None:
    await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def opened(url: str) -> AsyncIterator[PostgresSink]:
    sink = PostgresSink(url, PostgresOptions(max_attempts=8), sleep=no_wait)
    await sink.open()
    try:
        yield sink
    finally:
        await sink.close()


def warehouses(n: int) -> list[str]:
    return [f"W{i:03d}" for i in range(n)]


def expected_records(names: list[str], skus: int) -> list[str]:
    return [f"{w}/SKU-{i}" for w in names for i in range(skus)]


def record_ids(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{"id": f"{r['warehouse_id']}/{r['sku']}"} for r in rows]


class Trigger:
    """A decoder that, on its first run only, fires ``action`` (from the decoder's worker
    thread, hence call_soon_threadsafe) after yielding half of ``docs``, and then waits
    for ``until`` (when given) before yielding the rest; counts its runs."""

    def __init__(
        self,
        docs: list[Document],
        action: Callable[[], None],
        until: threading.Event | None = None,
    ) -> None:
        self.docs = docs
        self.runs = 0
        self._action = action
        self._until = until
        self._loop = asyncio.get_running_loop()

    def __call__(self) -> Iterator[Document]:
        self.runs += 1
        first = self.runs == 1
        for i, doc in enumerate(self.docs):
            yield doc
            if first and i == len(self.docs) // 2:
                self._fire()

    def _fire(self) -> None:
        done = threading.Event()

        def fire() -> None:
            self._action()
            done.set()

        self._loop.call_soon_threadsafe(fire)
        done.wait(5)
        if self._until is not None:
            self._until.wait(10)


async def test_connection_drop_mid_batch_retries_the_batch_exactly_once(
    pg_database: str, proxy: Proxy
) -> None:
    """Every connection dropped while a batch is half written: the batch rolls back, is
    retried on a new connection, and every record is stored exactly once."""
    names = warehouses(30)
    docs: list[Document] = [snapshot(w, range(50)) for w in names[10:20]]
    async with opened(proxied_url(pg_database, proxy)) as sink:
        await sink.load([unit("e0", [snapshot(w, range(50)) for w in names[:10]])])
        trigger = Trigger(docs, proxy.drop_all)
        batch = [
            unit("e1", trigger),
            unit("e2", [snapshot(w, range(50)) for w in names[20:]]),
            unit("e3", failing([], bad_payload()), body=b"broken"),
        ]
        finals = await sink.load(batch)
        rows = await sink.table_rows("inventory_positions")
        letters = await sink.dead_letters()
    assert proxy.drops == 1
    assert trigger.runs == 2  # decoded again on the retry
    assert [f.outcome for f in finals] == [Outcome.LOADED, Outcome.LOADED, Outcome.QUARANTINED]
    check_exactly(record_ids(rows), expected_records(names, 50), field="id")
    assert [d.endpoint_key for d in letters] == ["e3"]


async def test_connection_lost_during_commit_lets_the_ledger_decide(
    pg_database: str, proxy: Proxy
) -> None:
    """The server commits but the reply is lost: the retry finds the batch's token in the
    ledger and does not apply it again (no second dead letter, no second decode)."""
    names = warehouses(12)
    async with opened(proxied_url(pg_database, proxy)) as sink:
        runs = 0

        def documents() -> Iterator[Document]:
            nonlocal runs
            runs += 1
            return iter([snapshot(w, range(40)) for w in names])

        proxy.arm_commit_drop()
        finals = await sink.load(
            [unit("e1", documents), unit("e2", failing([], bad_payload()), body=b"x")]
        )
        rows = await sink.table_rows("inventory_positions")
        letters = await sink.dead_letters()
    assert proxy.drops == 1
    assert runs == 1  # the ledger said "committed": nothing was re-applied
    assert [f.outcome for f in finals] == [Outcome.LOADED, Outcome.QUARANTINED]
    assert (finals[0].records, finals[0].documents) == (480, 12)
    check_exactly(record_ids(rows), expected_records(names, 40), field="id")
    assert len(letters) == 1


async def test_server_side_termination_mid_batch_is_retried(pg_database: str) -> None:
    """The server ends our sessions (as on a restart: 57P01 admin shutdown) mid-batch:
    the lock is taken again, the batch retried, every record stored once."""
    names = warehouses(20)
    await reset_database(pg_database)

    ended = threading.Event()  # the decoder goes on once our sessions are gone

    async def terminate() -> None:
        conn = await asyncpg.connect(pg_database)
        ours = "datname = current_database() AND application_name LIKE 'supplyfeed%'"
        try:
            await conn.execute(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {ours}"
            )
            # pg_terminate_backend only signals: wait until the sessions have ended.
            for _ in range(500):  # up to 10 s
                if not await conn.fetchval(f"SELECT count(*) FROM pg_stat_activity WHERE {ours}"):
                    break
                await asyncio.sleep(0.02)
        finally:
            await conn.close()
            ended.set()

    tasks: list[asyncio.Task[None]] = []
    async with opened(pg_database) as sink:
        trigger = Trigger(
            [snapshot(w, range(30)) for w in names],
            lambda: tasks.append(asyncio.ensure_future(terminate())),
            until=ended,
        )
        [final] = await sink.load([unit("e1", trigger)])
        await asyncio.gather(*tasks)
        rows = await sink.table_rows("inventory_positions")
    assert final.outcome is Outcome.LOADED
    assert trigger.runs >= 2
    check_exactly(record_ids(rows), expected_records(names, 30), field="id")


async def test_a_database_that_stays_away_fails_after_bounded_attempts(
    pg_database: str, proxy: Proxy
) -> None:
    """Reconnection is bounded: when the server stays unreachable the load raises
    SinkError (nothing half-written), instead of hanging."""
    async with opened(proxied_url(pg_database, proxy)) as sink:
        await proxy.stop()  # every connection dropped, and no new ones accepted
        with pytest.raises(SinkError, match="lost the connection"):
            await sink.load([unit("e1", [snapshot("W01")])])
    async with opened(pg_database) as direct:
        assert await direct.table_rows("inventory_positions") == []
