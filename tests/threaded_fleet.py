"""A simulated fleet served from a thread of its own, for tests that run a command in
the main thread (``main([...])`` installs signal handlers, so it cannot run in a thread)
or in a subprocess."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from supplyfeed.sim import SupplierFleet

from .supplier.helpers import fleet_spec


@contextmanager
def served_feeds(folder: Path, endpoints: int) -> Iterator[Path]:
    """A feeds file (sink: a SQLite file in ``folder``) of a fleet served until exit."""
    ready, stop = threading.Event(), threading.Event()
    feeds = folder / "feeds.yaml"

    async def serve() -> None:
        async with SupplierFleet(fleet_spec(endpoints, hosts=1)) as fleet:
            doc = fleet.feeds_document(sink=f"sqlite:///{folder / 'run.db'}")
            feeds.write_text(yaml.safe_dump(doc))
            ready.set()
            await asyncio.to_thread(stop.wait)

    server = threading.Thread(target=asyncio.run, args=(serve(),))
    server.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("the simulated fleet did not start")
        yield feeds
    finally:
        stop.set()
        server.join(30)
