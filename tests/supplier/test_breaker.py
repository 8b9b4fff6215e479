"""The per-host circuit breaker: a down host costs one cool-down, other hosts nothing."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from supplyfeed import FeedConfig, Limits, Retry
from supplyfeed._fetch.breaker import CircuitBreaker
from supplyfeed._fetch.engine import AsyncBatchIngestor
from supplyfeed._sink.memory import MemorySink
from supplyfeed.sim import Fault, FleetSpec, SupplierFleet

from .helpers import assert_rows_match, fleet_spec, run, suppliers_of

COOLDOWN = 3.0


def _host0_hangs(endpoints: int) -> FleetSpec:
    spec = fleet_spec(endpoints, hosts=2, formats=("json",))
    eps = tuple(
        dataclasses.replace(e, fault=Fault.hang()) if e.host == 0 else e for e in spec.endpoints
    )
    return dataclasses.replace(spec, endpoints=eps)


@pytest.mark.slow  # waits out a real cooldown
async def test_down_host_finishes_within_normal_time_plus_cooldown() -> None:
    """A hanging host opens its circuit; its endpoints fail fast as circuit_open (transient),
    the healthy host loads everything, and the run ends well within normal + cool-down."""
    spec = _host0_hangs(40)
    settings = {
        "timeout_seconds": 0.4,
        "limit_per_host": 2,
        "breaker_threshold": 3,
        "breaker_cooldown": COOLDOWN,
    }
    async with SupplierFleet(spec) as fleet:
        suppliers, config = suppliers_of(fleet, **settings)
        healthy_only = tuple(
            dataclasses.replace(
                s,
                feeds=tuple(
                    dataclasses.replace(
                        f, urls=tuple(u for u in f.urls if fleet.ports[1] == _port(u))
                    )
                    for f in s.feeds
                ),
            )
            for s in suppliers
        )
        normal = await run(healthy_only, MemorySink(), config)
        sink = MemorySink()
        summary = await run(suppliers, sink, config)
        host0 = fleet.stats.ports[fleet.ports[0]].requests
        await assert_rows_match(sink, fleet.expected(attempts=3, timeout=0.4))
        records = await sink.endpoints(summary.run_id)
    assert summary.outcomes == {"loaded": 20, "failed": 20}
    assert summary.wall_seconds < normal.wall_seconds + COOLDOWN
    # Without the breaker: 20 endpoints x 3 attempts x 0.4 s / 2 slots = 12 s.
    assert host0 <= 3 + 2
    open_fails = [r for r in records if r.error_kind == "circuit_open"]
    assert len(open_fails) >= 20 - host0
    assert all(not r.permanent for r in open_fails)  # resume picks them up


def _port(url: str) -> int:
    return int(url.split(":")[2].split("/")[0])


@pytest.fixture
async def flaky_host() -> AsyncIterator[tuple[str, dict[str, int]]]:
    """A host answering 503 while ``state['down']`` is 1, else 200 with a JSON body."""
    state = {"down": 1, "requests": 0}

    async def handle(request: web.Request) -> web.Response:
        state["requests"] += 1
        if state["down"]:
            return web.Response(status=503)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/{name}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", state
    finally:
        await runner.cleanup()


async def test_one_probe_after_cooldown_then_closed(
    flaky_host: tuple[str, dict[str, int]],
) -> None:
    """Open after N failures; after the cool-down exactly one probe goes out; its success
    closes the circuit and the host gets full traffic again."""
    base, state = flaky_host
    now = [0.0]
    breaker = CircuitBreaker(2, 10.0, clock=lambda: now[0])
    config = FeedConfig(retry_attempts=1, limits=Limits(per_host=4), retry=Retry(jitter=False))
    async with AsyncBatchIngestor(config, hooks=[breaker]) as ing:
        await ing.fetch_feed_batch([f"{base}/a{i}" for i in range(6)])
        kinds = sorted(f.error_kind for f in ing.failures)
        assert breaker.state(base) == "open"
        assert state["requests"] <= 4  # the in-flight ones; the rest never sent
        assert kinds.count("circuit_open") == 6 - state["requests"]

        now[0] = 5.0  # still cooling down: nothing is sent
        sent = state["requests"]
        await ing.fetch_feed_batch([f"{base}/b{i}" for i in range(3)])
        assert state["requests"] == sent
        assert {f.error_kind for f in ing.failures} == {"circuit_open"}

        state["down"] = 0
        now[0] = 11.0
        docs = await ing.fetch_feed_batch([f"{base}/c{i}" for i in range(4)])
        assert state["requests"] == sent + 1  # one probe; the others failed fast
        assert len(docs) == 1
        assert breaker.state(base) == "closed"

        docs = await ing.fetch_feed_batch([f"{base}/d{i}" for i in range(4)])
        assert len(docs) == 4


async def test_failed_probe_reopens(flaky_host: tuple[str, dict[str, int]]) -> None:
    """A probe that fails opens the circuit for another full cool-down."""
    base, state = flaky_host
    now = [0.0]
    breaker = CircuitBreaker(1, 10.0, clock=lambda: now[0])
    config = FeedConfig(retry_attempts=1, limits=Limits(per_host=1))
    async with AsyncBatchIngestor(config, hooks=[breaker]) as ing:
        await ing.fetch_feed_batch([f"{base}/a"])
        now[0] = 10.5
        await ing.fetch_feed_batch([f"{base}/probe"])
        assert ing.failures[0].error_kind == "http_503"
        now[0] = 15.0
        await ing.fetch_feed_batch([f"{base}/b"])
        assert ing.failures[0].error_kind == "circuit_open"
        assert state["requests"] == 2
