"""A real Dask ``LocalCluster`` (2 worker processes) and a fresh PostgreSQL database.

Without PostgreSQL or ``distributed`` the tests that need them skip, saying why; under
``CI=true`` they fail instead (the dev install includes ``distributed``).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from ..sink.conftest import PG_ADMIN_URL, pg_url


def unavailable(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {message}")
    pytest.skip(message)


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
async def scale_db() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database for one test; dropped afterwards."""
    name = f"supplyfeed_scale_{secrets.token_hex(6)}"
    try:
        await _admin(f"CREATE DATABASE {name}")
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        unavailable(f"PostgreSQL not reachable at {PG_ADMIN_URL} ({exc})")
    try:
        yield pg_url(name)
    finally:
        await _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two worker processes (not threads), one thread each, as ``dask worker`` runs them.
    A worker a test SIGKILLs is restarted by its nanny."""
    try:
        from distributed import LocalCluster
    except ModuleNotFoundError:
        unavailable("distributed is not installed: pip install -e '.[dev]'")
    with LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
    ) as local:
        yield local


@pytest.fixture
async def client(cluster: Any) -> AsyncIterator[Any]:
    """A client of ``cluster`` once both workers are up (a killed one comes back)."""
    from distributed import Client

    async with Client(cluster.scheduler_address, asynchronous=True) as c:  # type: ignore[no-untyped-call]
        await c.wait_for_workers(2, timeout=60)
        await asyncio.sleep(0)
        yield c
