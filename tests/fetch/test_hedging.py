"""Hedged requests: the delay rule, the budget, the race, the limits, where they are off.

The engine tests run on virtual time (``virtual_time.py``): an in-memory transport whose
answers take virtual seconds, so a 5 s timeout or a 0.5 s hedge delay is exact and costs
no real time. The end-to-end test runs a real simulator and the real leak check.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest
import yaml

from supplyfeed import (
    FeedConfig,
    FetchFailure,
    FetchRequest,
    FetchSuccess,
    Hedge,
    Limits,
    MockTransport,
    RateLimit,
    Retry,
)
from supplyfeed._cli.trace import _endpoint_lines
from supplyfeed._exceptions import ConfigError, FetchError, TransientFetchError
from supplyfeed._feedsfile import parse_feeds
from supplyfeed._fetch.adaptive import AdaptiveConcurrency
from supplyfeed._fetch.breaker import CircuitBreaker
from supplyfeed._fetch.engine import AsyncBatchIngestor
from supplyfeed._fetch.hedging import COLD_DELAY, FLOOR, RESERVE, Hedging
from supplyfeed._fetch.hooks import FetchHook
from supplyfeed._fetch.outcome import FetchOutcome
from supplyfeed._fetch.ratelimit import RateLimiter
from supplyfeed._fetch.transport import TransportRequest, TransportResponse
from supplyfeed._formats.body import Body
from supplyfeed._run.pipeline import RunOptions
from supplyfeed._run.plan import plan_endpoints
from supplyfeed._sink.memory import MemorySink
from supplyfeed._telemetry import Telemetry
from supplyfeed.sim import Fault, LatencyModel, SupplierFleet

from ..supplier.helpers import assert_rows_match, fleet_spec, run, suppliers_of
from .virtual_time import run_virtual

URL = "http://127.0.0.1:9/feed/{}.json"


def cfg(**changes: object) -> FeedConfig:
    return FeedConfig(timeout_seconds=5.0, retry=Retry(backoff_initial=0.5, seed=3)).replace(
        **changes
    )


# -- the delay rule ---------------------------------------------------------------------
def test_delay_is_cold_until_hosts_have_answered_then_three_times_p95() -> None:
    hedging = Hedging()
    request = FetchRequest(URL.format(1))
    assert hedging.delay(request, 5.0) == COLD_DELAY
    for i in range(100):  # 0.01 .. 1.00 s: p95 (nearest rank) is 0.96 s
        hedging.answered(request, (i + 1) / 100)
    assert hedging.delay(request, 5.0) == pytest.approx(3 * 0.96)
    assert hedging.delay(request, 2.0) is None  # not shorter than the timeout: no hedge


def test_a_host_with_few_answers_borrows_every_hosts_p95_and_the_floor_holds() -> None:
    hedging = Hedging()
    busy, fresh = FetchRequest("http://127.0.0.1:1/a"), FetchRequest("http://127.0.0.1:2/b")
    for _ in range(20):
        hedging.answered(busy, 0.001)
    assert hedging.delay(busy, 5.0) == FLOOR  # 3 x 1 ms is below the floor
    assert hedging.delay(fresh, 5.0) == FLOOR  # borrowed from every host
    for _ in range(20):
        hedging.answered(fresh, 0.2)
    assert hedging.delay(fresh, 5.0) == pytest.approx(0.6)  # its own, once it has some


def test_hedge_after_overrides_the_latency_rule() -> None:
    hedging = Hedging(Hedge(after=0.25), {"slow": Hedge(after=2.0)})
    assert hedging.delay(FetchRequest(URL.format(1)), 5.0) == 0.25
    assert hedging.delay(FetchRequest(URL.format(1), supplier_id="slow"), 5.0) == 2.0


def test_no_hedge_for_drops_feeds_marked_off_and_suppliers_marked_off() -> None:
    hedging = Hedging(Hedge(after=0.1), {"off": Hedge(enabled=False)})
    for url in ("sftp://127.0.0.1:2222/in/a.json", "file:///srv/drops/a.json"):
        assert hedging.delay(FetchRequest(url), 5.0) is None
    assert hedging.delay(FetchRequest(URL.format(1), hedge=False), 5.0) is None
    assert hedging.delay(FetchRequest(URL.format(1), supplier_id="off"), 5.0) is None
    assert Hedging(Hedge(after=0.1, budget=0.0)).delay(FetchRequest(URL.format(1)), 5.0) is None


# -- the budget --------------------------------------------------------------------------
def test_budget_is_a_share_of_the_hosts_requests_plus_a_small_reserve() -> None:
    hedging = Hedging(Hedge(budget=0.05))
    request, other_host = FetchRequest(URL.format(1)), FetchRequest("http://127.0.0.1:8/x")
    spent = [hedging.spend(request) for _ in range(4)]
    assert spent == [True] * int(RESERVE) + [False] * (4 - int(RESERVE))
    for _ in range(100):
        hedging.sent(request)
    assert [hedging.spend(request) for _ in range(6)] == [True] * 5 + [False]  # 5% of 100
    assert hedging.spend(other_host)  # budgets are per host
    assert hedging.hedges == int(RESERVE) + 5 + 1


def test_hedge_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="hedge_budget"):
        FeedConfig(hedge=Hedge(budget=1.5))
    with pytest.raises(ConfigError, match="hedge_after"):
        FeedConfig(hedge=Hedge(after=-1))


# -- the race, on virtual time -------------------------------------------------------------
class Origin:
    """An in-memory supplier on virtual time: ``hang_first`` URLs never answer their first
    request; every other request answers after ``latency`` virtual seconds."""

    def __init__(self, *, hang_first: set[str], latency: float = 0.1) -> None:
        self.hang_first = hang_first
        self.latency = latency
        self.requests: Counter[str] = Counter()
        self.open = 0  # requests in progress right now
        self.peak = 0
        self.cancelled = 0  # requests the client gave up on

    async def handle(self, request: TransportRequest) -> TransportResponse:
        self.requests[request.url] += 1
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            if request.url in self.hang_first and self.requests[request.url] == 1:
                await asyncio.Event().wait()
            await asyncio.sleep(self.latency)
            return TransportResponse(200, {}, Body.from_bytes(b"[]"))
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.open -= 1


async def fetch_all(
    origin: Origin,
    urls: list[str],
    config: FeedConfig,
    *,
    hooks: list[FetchHook] | None = None,
    requests: list[FetchRequest] | None = None,
    supplier_limits: dict[str, int] | None = None,
) -> tuple[dict[str, FetchOutcome], AsyncBatchIngestor]:
    loop = asyncio.get_running_loop()
    outcomes: dict[str, FetchOutcome] = {}

    async def handle(outcome: FetchOutcome) -> None:
        outcomes[outcome.request.url] = outcome

    ingestor = AsyncBatchIngestor(
        config,
        transport=MockTransport(origin.handle),
        hooks=hooks or [],
        supplier_limits=supplier_limits,
        clock=loop.time,
        hedging=Hedging(config.hedge, clock=loop.time),
    )
    async with ingestor:
        await ingestor.fetch_each(requests or [FetchRequest(u) for u in urls], handle)
    return outcomes, ingestor


def virtual(
    fn: Callable[[], Awaitable[tuple[dict[str, FetchOutcome], AsyncBatchIngestor]]],
) -> tuple[dict[str, FetchOutcome], AsyncBatchIngestor]:
    return run_virtual(fn())  # type: ignore[arg-type]


def test_a_hanging_request_is_answered_by_its_hedge_and_the_loser_cancelled() -> None:
    url = URL.format(1)
    origin = Origin(hang_first={url})
    outcomes, ingestor = virtual(lambda: fetch_all(origin, [url], cfg(hedge=Hedge(after=0.5))))

    outcome = outcomes[url]
    assert isinstance(outcome, FetchSuccess)
    assert outcome.attempts == 1  # a hedge is not a retry
    assert outcome.elapsed == pytest.approx(0.6)  # hedged at 0.5, answered 0.1 later
    lost, won = outcome.history
    assert (lost.outcome, lost.hedge, lost.won, lost.attempt) == ("lost", False, False, 1)
    assert (won.outcome, won.hedge, won.won, won.attempt) == ("ok", True, True, 1)
    assert won.start == pytest.approx(0.5)
    assert won.as_dict()["hedge"] is True
    assert lost.as_dict()["won"] is False
    assert origin.requests[url] == 2
    assert origin.cancelled == 1
    assert origin.open == 0
    assert ingestor.limiter.in_flight == 0
    assert (ingestor.hedging.hedges, ingestor.hedging.wins) == (1, 1)


def test_an_answer_due_with_the_hedge_timer_cancels_a_hedge_that_never_ran() -> None:
    """The answer and the hedge timer come due in one turn of the loop, the answer
    first: the timer still sees the request on the wire and makes the hedge's task, and
    the request ends before that task's first step. The hedge was never sent: only the
    request is recorded, and the endpoint loads (it used to end as ``internal``, an
    AttributeError on a leg with no outcome)."""
    urls = [URL.format(i) for i in range(5)]
    origin = Origin(hang_first=set(), latency=0.5 - 1e-10)  # within the clock resolution
    outcomes, ingestor = virtual(lambda: fetch_all(origin, urls, cfg(hedge=Hedge(after=0.5))))
    assert sorted(outcomes) == sorted(urls)
    for outcome in outcomes.values():
        assert isinstance(outcome, FetchSuccess), outcome
        (record,) = outcome.history
        assert record.outcome == "ok"
        assert "hedge" not in record.as_dict()  # recorded as an attempt without a hedge
    assert sum(origin.requests.values()) == len(urls)
    assert origin.open == 0
    assert ingestor.limiter.in_flight == 0


def test_a_quick_answer_sends_no_hedge_and_records_no_hedge_flags() -> None:
    url = URL.format(1)
    origin = Origin(hang_first=set())
    outcomes, ingestor = virtual(lambda: fetch_all(origin, [url], cfg(hedge=Hedge(after=0.5))))
    (record,) = outcomes[url].history
    assert "hedge" not in record.as_dict()
    assert record.won is None
    assert origin.requests[url] == 1
    assert ingestor.hedging.hedges == 0


def test_the_budget_caps_hedges_and_the_others_wait_for_their_timeout() -> None:
    """Ten first requests hang on one fresh host: 5% of 10 plus the reserve is 2 hedges;
    the other eight time out at 5 s and answer on their retry."""
    urls = [URL.format(i) for i in range(10)]
    origin = Origin(hang_first=set(urls))
    config = cfg(hedge=Hedge(after=0.5), limits=Limits(per_host=20))  # a slot for every hedge
    outcomes, ingestor = virtual(lambda: fetch_all(origin, urls, config))

    assert all(isinstance(o, FetchSuccess) for o in outcomes.values())
    hedged = [o for o in outcomes.values() if o.attempts == 1]
    retried = [o for o in outcomes.values() if o.attempts == 2]
    assert (len(hedged), len(retried)) == (2, 8)
    assert all([a.outcome for a in o.history] == ["timeout", "ok"] for o in retried)
    assert ingestor.hedging.hedges == 2
    assert sum(origin.requests.values()) == 10 + 2 + 8


def test_a_hedge_waits_for_a_host_slot_like_any_request() -> None:
    """With one slot per host the hedge cannot go out while the hanging request holds
    it: the request times out and is retried, and the host never sees two at once."""
    url = URL.format(1)
    origin = Origin(hang_first={url})
    outcomes, _ = virtual(
        lambda: fetch_all(origin, [url], cfg(hedge=Hedge(after=0.5), limits=Limits(per_host=1)))
    )
    outcome = outcomes[url]
    assert isinstance(outcome, FetchSuccess)
    assert outcome.attempts == 2
    assert origin.peak == 1
    assert origin.requests[url] == 2
    # the hedge was given up when its request timed out: recorded, never sent
    assert [(a.outcome, a.hedge) for a in outcome.history][:2] == [
        ("lost", True),
        ("timeout", False),
    ]


def test_a_hedge_respects_the_global_and_supplier_limits() -> None:
    urls = [URL.format(i) for i in range(4)]
    origin = Origin(hang_first=set(urls))
    reqs = [FetchRequest(u, supplier_id="s1") for u in urls]
    config = cfg(hedge=Hedge(after=0.5), max_concurrency=6, limits=Limits(per_host=10))
    outcomes, ingestor = virtual(
        lambda: fetch_all(origin, urls, config, requests=reqs, supplier_limits={"s1": 5})
    )
    assert origin.peak == 5  # four hanging requests and the one hedge the limit allows
    assert ingestor.limiter.peak_in_flight == 5
    assert all(isinstance(o, FetchSuccess) for o in outcomes.values())


def test_a_hedge_takes_a_rate_limit_token() -> None:
    """One request a second: the hedge due at 0.5 s waits for the token of 1.0 s."""
    url = URL.format(1)
    origin = Origin(hang_first={url})

    async def go() -> tuple[dict[str, FetchOutcome], AsyncBatchIngestor]:
        loop = asyncio.get_running_loop()
        limiter = RateLimiter(
            {"s1": RateLimit(1.0, 1, False)}, clock=loop.time, sleep=asyncio.sleep
        )
        request = FetchRequest(url, supplier_id="s1")
        return await fetch_all(
            origin, [url], cfg(hedge=Hedge(after=0.5)), hooks=[limiter], requests=[request]
        )

    outcomes, _ = virtual(go)
    won = outcomes[url].history[-1]
    assert won.hedge
    assert won.start == pytest.approx(1.0)


def test_an_open_circuit_refuses_the_hedge() -> None:
    """Another endpoint of the host fails to connect and opens its circuit: the hedge
    is refused before any slot, and the hanging request ends as its timeout."""
    hanging, broken = URL.format(1), URL.format(2)
    origin = Origin(hang_first={hanging})

    async def connect_fails(request: TransportRequest) -> TransportResponse:
        if request.url == broken:
            raise TransientFetchError("cannot connect", kind="connect")
        return await origin.handle(request)

    async def go() -> tuple[dict[str, FetchOutcome], AsyncBatchIngestor]:
        loop = asyncio.get_running_loop()
        config = cfg(hedge=Hedge(after=0.5), retry_attempts=1)
        breaker = CircuitBreaker(1, 30.0, clock=loop.time)
        outcomes: dict[str, FetchOutcome] = {}

        async def handle(outcome: FetchOutcome) -> None:
            outcomes[outcome.request.url] = outcome

        async with AsyncBatchIngestor(
            config,
            transport=MockTransport(connect_fails),
            hooks=[breaker],
            clock=loop.time,
            hedging=Hedging(config.hedge, clock=loop.time),
        ) as ing:
            await ing.fetch_each([FetchRequest(hanging), FetchRequest(broken)], handle)
        return outcomes, ing

    outcomes, _ = virtual(go)
    failure = outcomes[hanging]
    assert isinstance(failure, FetchFailure)
    assert failure.error_kind == "timeout"
    assert [(a.outcome, a.hedge) for a in failure.history] == [
        ("circuit_open", True),
        ("timeout", False),
    ]
    assert origin.requests[hanging] == 1  # the hedge never reached the host


def test_a_cancelled_hedge_gives_back_its_adaptive_window_place() -> None:
    """An admitted hedge cancelled while it waited for a slot frees its window place."""
    url = URL.format(1)
    origin = Origin(hang_first={url})

    async def go() -> tuple[dict[str, FetchOutcome], AsyncBatchIngestor]:
        loop = asyncio.get_running_loop()
        adaptive = AdaptiveConcurrency({"s1": (1, 2.0)}, clock=loop.time)
        out = await fetch_all(
            origin,
            [url],
            cfg(hedge=Hedge(after=0.5), limits=Limits(per_host=1)),
            hooks=[adaptive],
            requests=[FetchRequest(url, supplier_id="s1")],
        )
        (window,) = adaptive.windows.values()
        assert window.in_flight == 0
        return out

    outcomes, _ = virtual(go)
    assert isinstance(outcomes[url], FetchSuccess)


def test_no_hedge_for_an_sftp_url_or_a_feed_marked_off() -> None:
    sftp, off = "sftp://127.0.0.1:2222/in/a.json", URL.format(2)
    origin = Origin(hang_first={sftp, off})
    reqs = [FetchRequest(sftp), FetchRequest(off, hedge=False)]
    outcomes, ingestor = virtual(
        lambda: fetch_all(origin, [sftp, off], cfg(hedge=Hedge(after=0.5)), requests=reqs)
    )
    for url in (sftp, off):
        assert [a.outcome for a in outcomes[url].history] == ["timeout", "ok"]
        assert origin.requests[url] == 2  # the hang, then the retry: never two at once
    assert ingestor.hedging.hedges == 0
    assert origin.peak == 2


def test_hedging_off_in_the_config_sends_no_hedge() -> None:
    url = URL.format(1)
    origin = Origin(hang_first={url})
    outcomes, ingestor = virtual(lambda: fetch_all(origin, [url], cfg(hedge=Hedge(enabled=False))))
    assert outcomes[url].attempts == 2
    assert ingestor.hedging.hedges == 0


# -- errors carry their context (issue 19) ----------------------------------------------------
def test_a_failure_carries_the_attempt_and_request_id_of_its_error() -> None:
    url = "http://127.0.0.1:9/feed/x.json?token=s3cr3t-value"

    async def not_found(request: TransportRequest) -> TransportResponse:
        return TransportResponse(404, {}, None, "Not Found")

    async def go() -> FetchOutcome:
        async with AsyncBatchIngestor(cfg(), transport=MockTransport(not_found)) as ing:
            return await ing.fetch_one(FetchRequest(url, supplier_id="acme"))

    outcome = run_virtual(go())
    assert isinstance(outcome, FetchFailure)
    assert (outcome.error_kind, outcome.attempts) == ("http_404", 1)
    assert len(outcome.request_id) == 16
    error = FetchError("x", kind="timeout").bind(
        url="http://h/a?token=REDACTED", supplier="acme", request_id="r1", attempt=2
    )
    assert (error.url, error.supplier, error.request_id, error.attempt) == (
        "http://h/a?token=REDACTED",
        "acme",
        "r1",
        2,
    )


# -- end to end --------------------------------------------------------------------------
async def test_a_hang_once_endpoint_is_answered_by_its_hedge_end_to_end() -> None:
    """A real simulator: endpoint 0 hangs on its first request only. The run's hedge
    answers it long before the 5 s timeout; every record loads once; no leak."""
    latency = LatencyModel(median=0.005, sigma=0.2, max=0.02)
    spec = fleet_spec(6, hosts=1, faults={0: Fault.hang(times=1)}, latency=latency)
    async with SupplierFleet(spec) as fleet:
        suppliers, config = suppliers_of(
            fleet, timeout_seconds=5.0, read_timeout=5.0, hedge_after=0.2
        )
        sink = MemorySink()
        telemetry = Telemetry()
        summary = await run(suppliers, sink, config, RunOptions(telemetry=telemetry))
        rows = await assert_rows_match(sink, fleet.expected(attempts=3, timeout=5.0))
        records = await sink.endpoints(summary.run_id)
        hung = fleet.url_of(fleet.spec.endpoints[0])
        served = fleet.stats.endpoints[hung].requests
    assert summary.outcomes == {"loaded": 6}
    assert rows > 0
    (record,) = [r for r in records if r.endpoint.url == hung]
    assert record.attempts == 1
    assert [(h["outcome"], h["hedge"], h["won"]) for h in record.retry_history] == [
        ("lost", False, False),
        ("ok", True, True),
    ]
    assert served == 2
    shown = "\n".join(_endpoint_lines(summary.run_id, record))  # what `trace` prints
    assert "lost in" in shown
    assert "(first request, lost)" in shown
    assert "(hedge, won)" in shown
    assert summary.report["leaks"]["leaked"] is False
    assert all(len(r.retry_history) == 1 for r in records if r.endpoint.url != hung)


def test_hedge_keys_in_the_feeds_file() -> None:
    doc = {
        "defaults": {"hedge_after": 0.4, "hedge_budget": 0.1},
        "suppliers": [
            {
                "id": "acme",
                "overrides": {"hedge": False},
                "feeds": [{"kind": "po_ack", "format": "json", "urls": [URL.format(1)]}],
            },
            {
                "id": "globex",
                "feeds": [
                    {"kind": "po_ack", "format": "json", "urls": [URL.format(2)], "hedge": False}
                ],
            },
        ],
    }
    feeds = parse_feeds(yaml.safe_dump(doc), "f.yaml", {})
    acme, globex = feeds.suppliers
    assert (feeds.defaults.hedge.after, feeds.defaults.hedge.budget) == (0.4, 0.1)
    assert acme.config.hedge.enabled is False
    assert acme.feeds[0].hedge is True
    assert globex.config.hedge.enabled is True
    assert globex.feeds[0].hedge is False
    planned = {p.endpoint.supplier_id: p.request.hedge for p in plan_endpoints(feeds.suppliers)}
    assert planned == {"acme": True, "globex": False}  # acme is off through its rule
    bad = dict(doc, defaults={"hedge_budget": 2})
    with pytest.raises(ConfigError, match="hedge_budget"):
        parse_feeds(yaml.safe_dump(bad), "f.yaml", {})
