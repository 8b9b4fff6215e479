"""The curated public API: what users import from ``supplyfeed``."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import orjson
import pytest
import yaml

import supplyfeed
from supplyfeed._feedsfile import parse_feeds
from supplyfeed._formats.base import DecodeContext
from supplyfeed._formats.body import Body
from supplyfeed._formats.registry import get_decoder
from supplyfeed.sim import FleetSpec, LatencyModel, SupplierFleet
from supplyfeed.sim.fleet_spec import EndpointSpec
from tests.reliability.checker import check, finish, write_feeds


def test_all_is_pinned() -> None:
    """Adding or removing a public name is a deliberate, reviewed change."""
    assert sorted(supplyfeed.__all__) == [
        "Adaptive",
        "AiohttpTransport",
        "AsyncBatchIngestor",
        "AttemptRecord",
        "BatchResult",
        "Breaker",
        "ConfigError",
        "DocKind",
        "Document",
        "FeedConfig",
        "FeedDocuments",
        "FeedSpec",
        "FetchError",
        "FetchFailure",
        "FetchRequest",
        "FetchSuccess",
        "FieldMapping",
        "Hedge",
        "InventoryItem",
        "InventorySnapshot",
        "Limits",
        "MockTransport",
        "PayloadError",
        "PermanentFetchError",
        "PoAck",
        "PoAckLine",
        "RateLimit",
        "Retry",
        "RunLockedError",
        "RunSummary",
        "ShipNotice",
        "ShipNoticeLine",
        "SinkError",
        "SlaPolicy",
        "SupplierSpec",
        "SupplyfeedError",
        "Timeouts",
        "TransientFetchError",
        "Transport",
        "TransportRequest",
        "TransportResponse",
        "__version__",
        "arun_feeds",
        "run_feeds",
    ]
    for name in supplyfeed.__all__:
        assert hasattr(supplyfeed, name), name


def test_feed_config_keeps_the_guides_fields_and_defaults() -> None:
    """docs/contract.md §1: the guide's five names and defaults, plus limit_per_host=10."""
    cfg = supplyfeed.FeedConfig()
    assert (
        cfg.max_concurrency,
        cfg.timeout_seconds,
        cfg.batch_size,
        cfg.retry_attempts,
        cfg.backoff_base,
        cfg.limits.per_host,
    ) == (50, 30.0, 100, 3, 1.5, 10)


# -- whole runs: run_feeds / arun_feeds ------------------------------------------------
_SCRIPT = """\
import json, sys
import supplyfeed

summary = supplyfeed.run_feeds(sys.argv[1])
print(json.dumps(summary.to_dict()))
"""  # no `if __name__ == "__main__":` guard, as a first user script has none


def _fleet(formats: tuple[str, ...], endpoints: int = 20) -> FleetSpec:
    return FleetSpec.generate(
        endpoints=endpoints,
        hosts=2,
        records_per_endpoint=3,
        formats=formats,
        fault_rate=0.0,
        latency=LatencyModel(median=0.005, sigma=0.1, max=0.02),
        seed=11,
    )


@pytest.mark.slow  # a script in a subprocess
async def test_run_feeds_from_a_script_without_main_guard_matches_report_json(
    tmp_path: Path,
) -> None:
    """A user script with no __main__ guard runs once (the SQLite worker process does not
    re-run it), loads every record once, and returns the figures `report --json` shows."""
    db = tmp_path / "api.db"
    script = tmp_path / "ingest.py"
    script.write_text(_SCRIPT)
    async with SupplierFleet(_fleet(("json", "csv")), seed=11) as fleet:
        feeds = write_feeds(fleet, tmp_path / "feeds.yaml", f"sqlite:///{db}")
        truth = fleet.expected(attempts=3, timeout=2.0)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(script), str(feeds), cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        code, output = await finish(proc)
        verdict = await check(f"sqlite:///{db}", truth)
    assert code == 0, output
    lines = [line for line in output.splitlines() if line.startswith("{")]
    assert len(lines) == 1, output  # the script's body ran once, in this process only
    summary = json.loads(lines[0])
    assert summary["ok"] is True
    assert summary["records_loaded"] == summary["records"] > 0
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "supplyfeed", "report", "--json", "--db", f"sqlite:///{db}",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    report = json.loads(out)
    figures = {k: v for k, v in summary.items() if k != "report"}
    assert {k: report[k] for k in figures} == figures
    nested = dict(summary["report"])  # report --json lifts its failures list to the top
    assert report["failures"] == nested.pop("failures") == []
    assert report["report"] == nested
    assert verdict.ok, verdict


async def test_arun_feeds_takes_a_parsed_feeds_document_and_a_sink_url(
    tmp_path: Path,
) -> None:
    """In the caller's loop, from a mapping, into the sink= URL: nothing lost."""
    db = f"sqlite:///{tmp_path / 'arun.db'}"
    async with SupplierFleet(_fleet(("json", "csv"), endpoints=8), seed=11) as fleet:
        document = fleet.feeds_document(sink="memory://", defaults={"timeout_seconds": 2.0})
        summary = await supplyfeed.arun_feeds(document, sink=db)
        verdict = await check(db, fleet.expected(attempts=3, timeout=2.0))
    assert isinstance(summary, supplyfeed.RunSummary)
    assert summary.ok
    assert summary.outcomes == {"loaded": 8}
    assert summary.records_loaded == summary.records > 0
    assert verdict.ok, verdict


def test_run_feeds_refuses_a_bad_feeds_file_with_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("suppliers: 3\n")
    with pytest.raises(supplyfeed.ConfigError):
        supplyfeed.run_feeds(bad)


# -- fetch_feed_batch / fetch_documents ------------------------------------------------
MIXED = ("json", "csv", "x12", "edifact", "cxml")


def _decoded(fleet: SupplierFleet, ep: EndpointSpec) -> list[supplyfeed.Document]:
    """What the endpoint's body decodes to, read locally with its known format and kind."""
    ctx = DecodeContext(kind=ep.kind)
    return list(get_decoder(ep.format)(Body(data=fleet.body_of(ep)), ctx))


async def test_fetch_documents_decodes_every_format_paired_with_its_url() -> None:
    """Mixed formats, no format= or kind= given: every URL decodes (none fails as
    payload), in input order, each paired with the documents of its own body."""
    spec = _fleet(MIXED, endpoints=30)
    async with SupplierFleet(spec, seed=11) as fleet:
        urls = fleet.urls[::-1]  # an order unlike the hosts' completion order
        async with supplyfeed.AsyncBatchIngestor() as ingestor:
            got = await ingestor.fetch_documents(urls)
            failed = ingestor.failures
        by_url = {fleet.url_of(ep): ep for ep in spec.endpoints}
        expected = {url: _decoded(fleet, by_url[url]) for url in urls}
    assert failed == []
    assert [d.url for d in got] == urls
    assert {d.format for d in got} == set(MIXED)
    for d in got:
        ep = by_url[d.url]
        assert (d.format, d.kind) == (ep.format, ep.kind), d.url
        assert list(d.documents) == expected[d.url], d.url
        assert d.request_id


async def test_fetch_feed_batch_keeps_json_by_default_and_pairs_with_succeeded() -> None:
    """The guide's call parses JSON as before; last_batch.succeeded is in input order, so
    zip(payloads, succeeded) pairs each payload with its own URL. A non-JSON body is a
    payload failure there, and decodes with format="auto"."""
    spec = _fleet(("json", "x12"), endpoints=12)
    async with SupplierFleet(spec, seed=11) as fleet:
        urls = fleet.urls[::-1]
        by_url = {fleet.url_of(ep): ep for ep in spec.endpoints}
        async with supplyfeed.AsyncBatchIngestor() as ingestor:
            payloads = await ingestor.fetch_feed_batch(urls)
            pairs = list(zip(payloads, ingestor.last_batch.succeeded, strict=True))
            failed = [f.url for f in ingestor.last_batch.failed]
            for payload, ok in pairs:
                url = ok.request.url
                assert payload == orjson.loads(fleet.body_of(by_url[url])), url
            documents = await ingestor.fetch_feed_batch(urls, format="auto")
            auto_ok = [o.request.url for o in ingestor.last_batch.succeeded]
    json_urls = [u for u in urls if by_url[u].format == "json"]
    assert [ok.request.url for _, ok in pairs] == json_urls
    assert failed == [u for u in urls if by_url[u].format == "x12"]
    assert auto_ok == urls
    assert list(documents) == [_decoded(fleet, by_url[u]) for u in urls]


async def test_fetch_documents_reads_generic_xml_through_a_mapping_and_says_when_missing() -> None:
    """Generic XML has no envelope and no field names of ours: without mapping= every URL
    is a payload failure that says so; with the feed's mapping and kind, all decode."""
    spec = _fleet(("xml",), endpoints=6)
    async with SupplierFleet(spec, seed=11) as fleet:
        feeds = parse_feeds(yaml.safe_dump(fleet.feeds_document()), "fleet.yaml", {})
        by_url = {fleet.url_of(ep): ep for ep in spec.endpoints}
        bodies = {url: fleet.body_of(ep) for url, ep in by_url.items()}
        async with supplyfeed.AsyncBatchIngestor() as ingestor:
            assert await ingestor.fetch_documents(fleet.urls) == []
            reasons = {(f.error_kind, f.message) for f in ingestor.failures}
            decoded = []
            for feed in (f for s in feeds.suppliers for f in s.feeds):
                decoded += await ingestor.fetch_documents(
                    feed.urls, format="xml", kind=feed.kind, mapping=feed.mapping
                )
                assert ingestor.failures == []
    assert len(reasons) == 1
    [(kind, message)] = reasons
    assert kind == "payload"
    assert "generic XML needs mapping=" in message
    assert sorted(d.url for d in decoded) == sorted(bodies)
    for d in decoded:
        ctx = DecodeContext(
            kind=d.kind,
            mapping=next(f.mapping for s in feeds.suppliers for f in s.feeds if d.url in f.urls),
        )
        assert list(d.documents) == list(get_decoder("xml")(Body(data=bodies[d.url]), ctx))
