"""The contract suite runs against every sink in SINKS.

PostgreSQL: each test module gets a database of its own (``supplyfeed_test_<random>``,
dropped afterwards) on the server named by ``SUPPLYFEED_TEST_PG`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``). Without a reachable server the
PostgreSQL cases skip, saying how to enable them; under ``CI=true`` they fail instead.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from supplyfeed._sink.base import Sink
from supplyfeed._sink.factory import open_sink

SINKS = ["memory", "sqlite", "postgres"]


@pytest.fixture
def sink_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """The URL of a fresh database of the parametrized kind."""
    kind = request.param

    if kind == "postgres":
        pg = request.getfixturevalue("pg_database")
        run_sync(reset_database(pg))
        # Spooled dead letters go to ./supplyfeed-dead-letters: keep them in tmp_path.
        request.getfixturevalue("monkeypatch").chdir(tmp_path)

    def url() -> str:
        if kind == "memory":
            return "memory://"
        if kind == "postgres":
            return str(pg)
        return f"sqlite:///{tmp_path / 'feeds.db'}"

    return url


@pytest.fixture
async def sink(sink_url: Callable[[], str]) -> AsyncIterator[Sink]:
    opened = open_sink(sink_url())
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "sink_url" in metafunc.fixturenames:
        metafunc.parametrize("sink_url", SINKS, indirect=True)


# -- PostgreSQL ---------------------------------------------------------------------------

PG_ADMIN_URL = os.environ.get("SUPPLYFEED_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
_T = TypeVar("_T")


def run_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` on a private loop: for sync fixtures, without touching the loop that
    pytest-asyncio sets as current (asyncio.run would unset it)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def pg_url(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


async def _admin(*statements: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _require_postgres() -> None:
    try:
        run_sync(_admin("SELECT 1"))
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        message = (
            f"PostgreSQL not reachable at {PG_ADMIN_URL} ({exc}); to enable these tests start "
            "it (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) "
            "or point SUPPLYFEED_TEST_PG at a server where this user may create databases"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {message}")
        pytest.skip(message)


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """A new, empty database for this test module; dropped afterwards."""
    _require_postgres()
    name = f"supplyfeed_test_{secrets.token_hex(6)}"
    run_sync(_admin(f"CREATE DATABASE {name}"))
    try:
        yield pg_url(name)
    finally:
        run_sync(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


async def reset_database(url: str) -> None:
    """Empty every table (keeping the schema and its version) between tests."""
    conn = await asyncpg.connect(url, timeout=3)
    try:
        names = await conn.fetch(
            "SELECT quote_ident(tablename) AS t FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'sf_schema_version'"
        )
        if names:
            await conn.execute(f"TRUNCATE {', '.join(r['t'] for r in names)} RESTART IDENTITY")
    finally:
        await conn.close()
