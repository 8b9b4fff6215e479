"""The schema is written only when it changed (issue 17): an open of a database that
this build already set up runs no DDL; one set up by another build runs it again."""

from __future__ import annotations

from pathlib import Path

import pytest

from supplyfeed._sink.factory import open_sink

from .helpers import forget_schema_mark, run_sql

_INDEX = "sf_conflicts_run"  # a secondary index: nothing else depends on it


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database of each SQL kind (PostgreSQL: this module's own)."""
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_database"))
    return f"sqlite:///{tmp_path / 'mark.db'}"


async def _has_index(url: str) -> bool:
    if url.startswith("sqlite"):
        query = "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = $1"
        return await run_sql(url, query, _INDEX) is not None
    return bool(await run_sql(url, "SELECT to_regclass($1) IS NOT NULL", _INDEX))


async def _open_and_close(url: str) -> None:
    sink = open_sink(url)
    await sink.open()
    await sink.close()


async def test_an_open_of_a_database_this_build_set_up_runs_no_ddl(db: str) -> None:
    url = db
    await _open_and_close(url)
    assert await _has_index(url)
    # Dropped behind the sink's back: only an open that skips the DDL leaves it so.
    await run_sql(url, f"DROP INDEX {_INDEX}")
    await _open_and_close(url)
    assert not await _has_index(url)
    await forget_schema_mark(url)  # now it looks set up by another build
    await _open_and_close(url)
    assert await _has_index(url)
