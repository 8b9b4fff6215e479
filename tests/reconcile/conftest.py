"""The reconcile tests run on the SQL sinks (SQLite and PostgreSQL): the memory sink has
no SQL views. The database fixtures are the sink suite's (tests/sink/conftest.py)."""

from __future__ import annotations

import pytest

from ..sink.conftest import pg_database, sink, sink_url

__all__ = ["pg_database", "sink", "sink_url"]

SQL_SINKS = ["sqlite", "postgres"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "sink_url" in metafunc.fixturenames:
        metafunc.parametrize("sink_url", SQL_SINKS, indirect=True)
