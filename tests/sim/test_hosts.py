"""The sim's supplier systems: gateway hosts, a paged supplier, fixed ports, SFTP drop."""

from __future__ import annotations

import asyncio
import base64
import socket
from pathlib import Path

import aiohttp
import asyncssh
import pytest
import yaml
from aiohttp.test_utils import make_mocked_request

from supplyfeed._feedsfile import parse_feeds
from supplyfeed._models import DocKind
from supplyfeed._run.pipeline import Runner
from supplyfeed._sink.memory import MemorySink
from supplyfeed.sim import (
    Degradation,
    FleetSpec,
    HostBehaviour,
    RateLimit,
    SftpDrop,
    SupplierFleet,
    TokenEndpoint,
)
from supplyfeed.sim.hosts import HostRuntime
from supplyfeed.sim.paged import STYLES, page_supplier
from supplyfeed.sim.sftp import drop_path

from ..supplier.helpers import FAST, assert_rows_match

QUICK = {"timeout_seconds": 2.0, "read_timeout": 2.0, "backoff_initial": 0.02, "seed": 1}


def one_host(supplier: str, endpoints: int = 6, seed: int = 1) -> FleetSpec:
    return FleetSpec.generate(
        endpoints=endpoints,
        hosts=1,
        suppliers=[supplier],
        records_per_endpoint=3,
        latency=FAST,
        seed=seed,
    )


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_token_endpoint_issues_tokens_and_the_host_requires_them() -> None:
    """Client credentials get a bearer token; no token or a wrong secret is a 401."""
    oauth = TokenEndpoint(client_id="acme")
    async with (
        SupplierFleet(one_host("O"), behaviours={0: HostBehaviour(oauth2=oauth)}) as fleet,
        aiohttp.ClientSession() as s,
    ):
        secret = fleet.env[oauth.secret_env]
        url = fleet.urls[0]
        async with s.get(url) as r:
            assert r.status == 401
        form = {"grant_type": "client_credentials"}
        bad = {"Authorization": _basic("acme", "wrong")}
        async with s.post(fleet.token_url(0), data=form, headers=bad) as r:
            assert r.status == 401
        good = {"Authorization": _basic("acme", secret)}
        async with s.post(fleet.token_url(0), data=form, headers=good) as r:
            assert r.status == 200
            token = (await r.json())["access_token"]
        async with s.get(url, headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 200
            assert await r.read() == fleet.body_of(fleet.spec.endpoints[0])
    counters = fleet.host_counters(0)
    assert (counters.tokens_issued, counters.token_refusals, counters.unauthorized) == (1, 1, 1)


def test_tokens_expire() -> None:
    """A token is refused once its lifetime has passed (injected clock)."""
    now = [100.0]
    runtime = HostRuntime(
        HostBehaviour(oauth2=TokenEndpoint(lifetime=60)), "s3cret", clock=lambda: now[0]
    )
    runtime._tokens["t"] = now[0] + 60  # what issue_token records for token "t"
    request = make_mocked_request("GET", "/x", headers={"Authorization": "Bearer t"})
    assert runtime.refuse(request, 1) is None
    now[0] += 60
    refused = runtime.refuse(request, 1)
    assert refused is not None
    assert refused.status == 401


def test_rate_limit_counts_down_then_429_until_the_window_resets() -> None:
    """Remaining counts down per request; over the budget a 429 with Retry-After; a new
    window restores the budget (injected clock)."""
    now = [0.0]
    runtime = HostRuntime(
        HostBehaviour(rate_limit=RateLimit(limit=3, window=2.0)), "", clock=lambda: now[0]
    )
    request = make_mocked_request("GET", "/x")
    seen = []
    for _ in range(3):
        assert runtime.refuse(request, 1) is None
        seen.append(runtime.rate_limit_headers()["RateLimit-Remaining"])
    assert seen == ["2", "1", "0"]
    now[0] = 0.5
    refused = runtime.refuse(request, 1)
    assert refused is not None
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "2"  # 1.5 s left, rounded up
    assert refused.headers["RateLimit-Reset"] == "2"
    now[0] = 2.1
    assert runtime.refuse(request, 1) is None
    assert runtime.rate_limit_headers()["RateLimit-Remaining"] == "2"
    assert runtime.counters.rate_limited == 1


async def test_degrading_host_slows_then_refuses_past_overload() -> None:
    """Beyond ``overload`` requests in flight the host answers 503; one at a time, never."""
    spec = one_host("G", endpoints=16)
    behaviour = HostBehaviour(degrade=Degradation(capacity=2, overload=4, step=0.02))
    async with SupplierFleet(spec, behaviours={0: behaviour}) as fleet:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as s:

            async def status(url: str) -> int:
                async with s.get(url) as r:
                    await r.read()
                    return r.status

            for url in fleet.urls[:4]:
                assert await status(url) == 200
            assert fleet.host_counters(0).overloaded == 0
            statuses = await asyncio.gather(*(status(u) for u in fleet.urls))
    assert statuses.count(503) == fleet.host_counters(0).overloaded > 0
    assert statuses.count(200) >= 4


@pytest.mark.slow  # a whole run through every gateway
async def test_a_run_through_every_gateway_behaviour_loads_exactly_the_truth() -> None:
    """OAuth2, rate-limit headers and a degrading host (adaptive concurrency on): the
    client loads exactly the fleet's truth; one token, the rate limit was announced."""
    spec = FleetSpec.combine(one_host("OA", 8, 1), one_host("RL", 10, 2), one_host("DG", 12, 3))
    behaviours = {
        0: HostBehaviour(oauth2=TokenEndpoint()),
        1: HostBehaviour(rate_limit=RateLimit(limit=6, window=1.0)),
        2: HostBehaviour(degrade=Degradation(capacity=3, overload=6, step=0.01)),
    }
    async with SupplierFleet(spec, behaviours=behaviours) as fleet:
        doc = fleet.feeds_document(defaults=QUICK)
        dg = next(s for s in doc["suppliers"] if s["id"] == "DG")
        dg["overrides"] = {"adaptive_concurrency": True}
        text = yaml.safe_dump(doc)
        assert "${SIM_OAUTH_CLIENT_SECRET}" in text
        assert fleet.env["SIM_OAUTH_CLIENT_SECRET"] not in text
        feeds = parse_feeds(text, "fleet.yaml", fleet.env)
        sink = MemorySink()
        summary = await Runner(feeds.suppliers, sink, feeds.defaults).run()
        truth = fleet.expected()
    assert summary.outcomes == {"loaded": len(spec.endpoints)}
    await assert_rows_match(sink, truth)
    assert fleet.host_counters(0).tokens_issued == 1
    assert fleet.host_counters(1).rate_limit_headers >= 10


async def test_page_supplier_reads_one_supplier_through_every_paging_style() -> None:
    """page_supplier spreads a supplier's JSON URLs over the five styles; the run loads
    exactly the truth, other suppliers' feeds untouched."""
    spec = FleetSpec.combine(
        FleetSpec.generate(
            endpoints=5,
            hosts=1,
            suppliers=["P"],
            records_per_endpoint=6,
            formats=("json",),
            kinds=(DocKind.PO_ACK, DocKind.SHIP_NOTICE),
            latency=FAST,
        ),
        one_host("Q", 2),
    )
    async with SupplierFleet(spec) as fleet:
        doc = page_supplier(fleet.feeds_document(defaults=QUICK), "P")
        paged = [f for s in doc["suppliers"] if s["id"] == "P" for f in s["feeds"]]
        assert sorted(f["urls"][0].rpartition("/")[2] for f in paged) == sorted(STYLES)
        assert all("pagination" not in f for s in doc["suppliers"][1:] for f in s["feeds"])
        feeds = parse_feeds(yaml.safe_dump(doc), "fleet.yaml", {})
        sink = MemorySink()
        summary = await Runner(feeds.suppliers, sink, feeds.defaults).run()
        truth = fleet.expected()
    assert set(summary.outcomes) == {"loaded"}
    await assert_rows_match(sink, truth)


async def test_fixed_ports_are_kept_and_a_taken_one_falls_back() -> None:
    """Hosts bind the ports asked for; a port held by another socket becomes ephemeral."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
        spec = FleetSpec.generate(endpoints=4, hosts=2, latency=FAST)
        async with SupplierFleet(spec, ports=[free, taken]) as fleet:
            assert fleet.ports[0] == free
            assert fleet.ports[1] != taken
            assert fleet.moved_ports == {taken: fleet.ports[1]}
            async with aiohttp.ClientSession() as s, s.get(fleet.urls[1]) as r:
                assert r.status == 200


def test_combine_stacks_hosts_in_order() -> None:
    """combine() puts each spec's hosts after the previous spec's, paths unchanged."""
    a = FleetSpec.generate(endpoints=6, hosts=3, seed=1)
    b = one_host("X", 2)
    both = FleetSpec.combine(a, b)
    assert both.hosts == 4
    assert both.endpoints[:6] == a.endpoints
    assert [(e.host, e.path) for e in both.endpoints[6:]] == [(3, e.path) for e in b.endpoints]
    with pytest.raises(ValueError, match="nothing"):
        FleetSpec.combine()


async def test_sftp_drop_serves_the_rendered_files(tmp_path: Path) -> None:
    """Each endpoint is one file in a per-format folder, with exactly the rendered bytes;
    the client key and known_hosts the server writes let a client in."""
    spec = FleetSpec.generate(
        endpoints=6, hosts=1, suppliers=["D"], formats=("x12", "edifact"), kinds=(DocKind.PO_ACK,)
    )
    async with SftpDrop(spec, tmp_path) as drop:
        async with (
            asyncssh.connect(
                "127.0.0.1",
                drop.port,
                username=drop.username,
                client_keys=[str(drop.client_key)],
                known_hosts=str(drop.known_hosts),
                config=[],
            ) as conn,
            conn.start_sftp_client() as sftp,
        ):
            for ep in spec.endpoints:
                async with sftp.open(drop_path(ep), "rb") as f:
                    body: object = await f.read()
                assert isinstance(body, bytes)
                assert body == drop.local_path(ep).read_bytes()
                assert body.startswith(b"ISA" if ep.format == "x12" else b"UN")
        folders = {drop_path(ep).rsplit("/", 1)[0] for ep in spec.endpoints}
        assert folders == {"/D/po-acks/x12", "/D/po-acks/edifact"}
        assert len(drop.suppliers()[0]["feeds"]) == 2
