"""The relay (processes:N with a sink that cannot be shared): a worker decodes, the
coordinator's sink writes; through a real Unix socket, into the shipped memory sink."""

from __future__ import annotations

import pytest

from supplyfeed._exceptions import SinkError
from supplyfeed._scale.relay import RelayServer, RelaySink
from supplyfeed._sink.base import Outcome
from supplyfeed._sink.memory import MemorySink

from ..sink.helpers import RUN, bad_payload, failing, run_record, snapshot, unit


async def test_decoded_documents_and_payload_errors_cross_the_relay() -> None:
    """Rows decoded in the worker are stored once; a payload error reaches the writer
    with its bytes, so the dead letter holds them; the ledger rows come back."""
    sink = MemorySink("memory://")
    await sink.open()
    async with RelayServer(sink) as server:
        await sink.start_run(run_record(), [])
        worker = RelaySink(server.path)
        await worker.open()
        try:
            good = unit("a", [snapshot("W01", range(5)), snapshot("W02", range(3))])
            broken = unit("b", failing([snapshot("W03")], bad_payload()), body=b"<broken>")
            records = await worker.load([good, broken])
            ledger = {r.endpoint.key: r.outcome for r in await worker.endpoints(RUN)}
        finally:
            await worker.close()
    rows = await sink.table_rows("inventory_positions")
    letters = await sink.dead_letters()
    await sink.close()
    assert [r.outcome for r in records] == [Outcome.LOADED, Outcome.QUARANTINED]
    assert records[0].records_loaded == 8
    assert records[0].bytes == good.body.size  # the size crossed without the bytes
    stored = sorted((r["warehouse_id"], r["sku"]) for r in rows)
    assert stored == sorted(
        [("W01", f"SKU-{i}") for i in range(5)] + [("W02", f"SKU-{i}") for i in range(3)]
    )
    assert [(d.endpoint_key, d.body.read()) for d in letters] == [("b", b"<broken>")]
    assert ledger == {"a": Outcome.LOADED, "b": Outcome.QUARANTINED}


async def test_a_worker_cannot_start_or_finish_the_coordinators_run() -> None:
    """The run is the coordinator's: a shard's sink refuses to start or finish one."""
    sink = MemorySink("memory://")
    await sink.open()
    async with RelayServer(sink) as server:
        worker = RelaySink(server.path)
        await worker.open()
        try:
            with pytest.raises(SinkError, match="coordinator"):
                await worker.start_run(run_record(), [])
            with pytest.raises(SinkError, match="coordinator"):
                await worker.finish_run(RUN, "finished", {})
        finally:
            await worker.close()
    await sink.close()


async def test_the_coordinator_going_away_is_a_sink_error_in_the_worker() -> None:
    """A closed relay (the coordinator died) fails the shard's call as a SinkError."""
    sink = MemorySink("memory://")
    await sink.open()
    server = RelayServer(sink)
    await server.__aenter__()
    worker = RelaySink(server.path)
    await worker.open()
    assert await worker.endpoints(RUN) == []  # connected and served
    await server.__aexit__(None, None, None)
    try:
        with pytest.raises(SinkError, match="went away"):
            await worker.endpoints(RUN)
    finally:
        await worker.close()
        await sink.close()
