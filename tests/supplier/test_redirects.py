"""Redirects: every hop is checked; no secret crosses an origin; bad chains fail at once.

Origin A is the supplier; origin B is another port on 127.0.0.1, so another origin. Each
test asserts what B received, byte for byte, and how the endpoint ended in the ledger.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from supplyfeed._feedsfile import parse_feeds
from supplyfeed._sink.base import EndpointRecord, Outcome
from supplyfeed._sink.memory import MemorySink

from .helpers import QUICK, run
from .origins import Origin, assert_rows_exactly, redirect, serve, throwaway_secrets
from .tls_certs import make_pki

ENV = throwaway_secrets("API_KEY", "PARTNER", "SID", "SIG", "BEARER")


@pytest.fixture
async def a() -> AsyncIterator[Origin]:
    async with Origin() as origin:
        yield origin


@pytest.fixture
async def b() -> AsyncIterator[Origin]:
    async with Origin() as origin:
        yield origin


def supplier(sid: str, urls: list[str], **extra: Any) -> dict[str, Any]:
    feed = {"kind": "inventory_snapshot", "format": "json", "urls": urls}
    return {"id": sid, "feeds": [feed], **extra}


async def ingest(
    *suppliers: dict[str, Any], **defaults: Any
) -> tuple[MemorySink, list[EndpointRecord]]:
    doc = {"defaults": {**QUICK, **defaults}, "suppliers": list(suppliers)}
    specs = parse_feeds(yaml.safe_dump(doc), "feeds.yaml", ENV).suppliers
    sink = MemorySink()
    summary = await run(specs, sink, specs[0].config)
    return sink, await sink.endpoints(summary.run_id)


def by_supplier(records: list[EndpointRecord]) -> dict[str, EndpointRecord]:
    return {r.endpoint.supplier_id: r for r in records}


KEY_HEADER = {"type": "api_key", "key_value": "${API_KEY}"}  # X-API-Key
KEY_QUERY = {"type": "api_key", "key_in": "query", "key_name": "api_key", "key_value": "${API_KEY}"}
SECRET_HEADERS = {
    "X-Partner-Token": "${PARTNER}",
    "Cookie": "sid=${SID}",
    "Accept": "application/json",
}


async def test_no_secret_follows_a_redirect_to_another_origin(a: Origin, b: Origin) -> None:
    """A redirects to B echoing its query string and setting a cookie: B receives no
    Authorization, API key (header or query), ${ENV} header, cookie or signature, while A
    did receive them all; the documents still load from B, once each."""
    a.routes["/hdr"] = redirect(lambda r: b.url("/hdr-doc"))
    a.routes["/qry"] = redirect(lambda r: b.url(f"/qry-doc?{r.query_string}"))
    a.routes["/bearer"] = redirect(lambda r: b.url("/bearer-doc"), status=307)
    b.routes["/hdr-doc"] = serve("hdr")
    b.routes["/qry-doc"] = serve("qry")
    b.routes["/bearer-doc"] = serve("bearer")
    sink, records = await ingest(
        supplier("H", [a.url("/hdr")], auth=KEY_HEADER, headers=SECRET_HEADERS),
        supplier("Q", [a.url("/qry?region=eu&sig=${SIG}")], auth=KEY_QUERY),
        supplier("T", [a.url("/bearer")], auth={"type": "bearer", "token": "${BEARER}"}),
    )
    for secret in ENV.values():
        assert secret.encode() in a.received_bytes  # sent where it belongs ...
        assert secret.encode() not in b.received_bytes  # ... and nowhere else
    assert len(b.received) == 3
    for raw in b.received:
        names = {line.split(b":")[0].lower() for line in raw.split(b"\r\n")[1:]}
        assert not names & {b"authorization", b"x-api-key", b"x-partner-token", b"cookie"}
        assert b"cookie-from-the-redirect" not in raw
    assert b"region=eu" in b.received_bytes  # the harmless part of the query goes on
    assert b"accept: application/json" in b.received_bytes.lower()
    await assert_rows_exactly(sink, ["hdr", "qry", "bearer"])
    for sid, record in by_supplier(records).items():
        assert record.outcome is Outcome.LOADED, sid
        assert record.attempts == 1
        assert record.retry_history[0]["redirects"][0].startswith(b.base)
    assert by_supplier(records)["H"].endpoint.url == a.url("/hdr")  # the configured URL


async def test_a_same_origin_redirect_keeps_the_credentials(a: Origin) -> None:
    """/old -> /new on the same origin: the API key goes along and the document loads."""
    a.routes["/old"] = redirect(lambda r: "/new", status=301)

    async def guarded(request: web.Request) -> web.StreamResponse:
        if request.headers.get("X-API-Key") != ENV["API_KEY"]:
            return web.Response(status=401)
        return await serve("moved")(request)

    a.routes["/new"] = guarded
    sink, records = await ingest(supplier("S", [a.url("/old")], auth=KEY_HEADER))
    [record] = records
    assert record.outcome is Outcome.LOADED
    assert record.retry_history[0]["redirects"] == [a.url("/new")]
    await assert_rows_exactly(sink, ["moved"])


async def test_https_to_http_is_never_followed(tmp_path: Path, b: Origin) -> None:
    """An https endpoint redirecting to plain http fails permanently as insecure_redirect,
    at the first attempt; the plain-http origin receives nothing at all."""
    pki = make_pki(tmp_path)
    b.routes["/doc"] = serve("clear")
    async with Origin(ssl_context=pki.server_context(require_client=False)) as tls:
        tls.routes["/doc"] = redirect(lambda r: b.url("/doc"))
        auth = {**KEY_HEADER, "ca_bundle": str(pki.ca)}
        sink, records = await ingest(supplier("S", [tls.url("/doc")], auth=auth))
    [record] = records
    assert (record.outcome, record.error_kind, record.permanent) == (
        Outcome.FAILED,
        "insecure_redirect",
        True,
    )
    assert record.attempts == 1
    assert record.error_message is not None
    assert f"{tls.url('/doc')} -> {b.url('/doc')}" in record.error_message
    assert b.received == []
    assert record.endpoint.url == tls.url("/doc")
    await assert_rows_exactly(sink, [])


@pytest.mark.parametrize(
    ("chain", "kind"),
    [
        ({"/f": "file:///etc/passwd"}, "redirect_scheme"),
        ({"/f": "/g", "/g": "/f"}, "redirect_loop"),
        (
            {"/f": "/1", "/1": "/2", "/2": "/3", "/3": "/4", "/4": "/5", "/5": "/6"},
            "too_many_redirects",
        ),
    ],
)
async def test_a_bad_chain_is_permanent_and_named(
    a: Origin, b: Origin, chain: dict[str, str], kind: str
) -> None:
    """file://, a loop, and six hops against max_redirects 5: one attempt, a permanent
    failure whose ledger message names the chain; the good endpoint beside it loads."""
    for path, location in chain.items():
        a.routes[path] = redirect(_to(location))
    b.routes["/ok"] = serve("ok")
    sink, records = await ingest(
        supplier("BAD", [a.url("/f")], auth=KEY_HEADER), supplier("OK", [b.url("/ok")])
    )
    bad = by_supplier(records)["BAD"]
    assert (bad.outcome, bad.error_kind, bad.permanent, bad.attempts) == (
        Outcome.FAILED,
        kind,
        True,
        1,
    )
    assert len(a.received) == len(chain)  # each hop asked once: not retried
    assert [r.split(b"\r\n")[0] for r in b.received] == [b"GET /ok HTTP/1.1"]
    assert bad.error_message is not None
    assert a.url("/f") in bad.error_message
    assert " -> " in bad.error_message
    assert ENV["API_KEY"] not in bad.error_message
    await assert_rows_exactly(sink, ["ok"])


def _to(location: str) -> Callable[[web.Request], str]:
    return lambda request: location


async def test_max_redirects_is_set_per_supplier(a: Origin) -> None:
    """overrides: {max_redirects: 1} refuses a second hop the default of 5 would follow."""
    a.routes["/1"] = redirect(lambda r: "/2")
    a.routes["/2"] = redirect(lambda r: "/3")
    a.routes["/3"] = serve("deep")
    sink, records = await ingest(
        supplier("STRICT", [a.url("/1")], overrides={"max_redirects": 1}),
        supplier("LAX", [a.url("/2")]),
    )
    strict, lax = by_supplier(records)["STRICT"], by_supplier(records)["LAX"]
    assert (strict.error_kind, strict.attempts) == ("too_many_redirects", 1)
    assert lax.outcome is Outcome.LOADED
    await assert_rows_exactly(sink, ["deep"])


async def test_a_redirecting_token_endpoint_gets_no_client_secret_elsewhere(
    a: Origin, b: Origin
) -> None:
    """OAuth2: a token_url answering 307 to another origin is not followed; the client
    credentials reach only token_url, and the supplier's endpoints fail permanently."""
    a.routes["/token"] = redirect(lambda r: b.url("/token"), status=307)
    a.routes["/doc"] = serve("never")
    oauth = {
        "type": "oauth2",
        "token_url": a.url("/token"),
        "client_id": "acme",
        "client_secret": "${BEARER}",
    }
    sink, records = await ingest(supplier("O", [a.url("/doc")], auth=oauth))
    [record] = records
    assert (record.outcome, record.error_kind, record.permanent) == (
        Outcome.FAILED,
        "auth_token",
        True,
    )
    assert b.received == []
    assert b"/doc" not in a.received_bytes  # no document request without a token
    await assert_rows_exactly(sink, [])


async def test_a_location_carrying_a_secret_in_its_path_is_refused(a: Origin, b: Origin) -> None:
    """A names B with the API key in the path, where no query stripping can reach it:
    the hop is refused as insecure_redirect and B receives nothing; the message is clean."""
    a.routes["/leak"] = redirect(lambda r: b.url(f"/k/{r.headers['X-API-Key']}"))
    sink, records = await ingest(supplier("S", [a.url("/leak")], auth=KEY_HEADER))
    [record] = records
    assert (record.error_kind, record.permanent, record.attempts) == ("insecure_redirect", True, 1)
    assert b.received == []
    assert record.error_message is not None
    assert ENV["API_KEY"] not in record.error_message
    assert "REDACTED" in record.error_message
    await assert_rows_exactly(sink, [])
