"""The contract suite runs against every sink in SINKS (add PostgreSQL here when it lands)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from supplyfeed._sink.base import Sink
from supplyfeed._sink.factory import open_sink

SINKS = ["memory", "sqlite"]


@pytest.fixture
def sink_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """The URL of a fresh database of the parametrized kind."""
    kind = request.param

    def url() -> str:
        if kind == "memory":
            return "memory://"
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
