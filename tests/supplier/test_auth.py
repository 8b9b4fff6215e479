"""Auth per supplier against a real local server that checks every credential."""

from __future__ import annotations

import base64
import ssl
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import web

from supplyfeed import ConfigError
from supplyfeed._config import AuthSpec, FeedConfig, SupplierSpec, with_keys
from supplyfeed._feedsfile import parse_feeds
from supplyfeed._fetch.auth import AuthHook
from supplyfeed._fetch.engine import AsyncBatchIngestor
from supplyfeed._fetch.outcome import FetchFailure, FetchRequest, FetchSuccess
from supplyfeed._sink.memory import MemorySink

from .helpers import QUICK, run
from .tls_certs import Pki, make_pki

ENV = {
    "BEARER": "bearer-secret-1",
    "USER_PW": "basic-pw-secret",
    "API_KEY": "apikey-secret-9",
    "CLIENT_SECRET": "oauth-client-secret",
    "WRONG": "not-the-secret",
}
ITEMS = 2  # records per document


class AuthServer:
    """Serves canonical inventory documents behind each auth scheme, and a token endpoint.

    ``/{scheme}/{n}`` answers 401 unless the request carries the scheme's credential.
    ``/token`` issues ``tok-<n>`` to the client ``acme`` (client credentials, HTTP Basic)
    and counts fetches per client; :meth:`revoke` invalidates every token issued so far.
    """

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context
        self.token_fetches: Counter[str] = Counter()
        self.valid_tokens: set[str] = set()
        self.rejected: Counter[str] = Counter()
        self.served: Counter[str] = Counter()
        self.expires_in: int | None = 3600
        self.revoke_after: int | None = None  # revoke every token after this many docs
        self._runner: web.AppRunner | None = None
        self.base = ""

    async def __aenter__(self) -> AuthServer:
        app = web.Application()
        app.router.add_post("/token", self._token)
        app.router.add_get("/{scheme}/{n}", self._doc)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base = f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def revoke(self) -> None:
        self.valid_tokens.clear()

    def urls(self, scheme: str, n: int) -> list[str]:
        return [f"{self.base}/{scheme}/{i}" for i in range(n)]

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        expected = base64.b64encode(f"acme:{ENV['CLIENT_SECRET']}".encode()).decode()
        client = request.headers.get("Authorization", "")
        if form.get("grant_type") != "client_credentials" or client != f"Basic {expected}":
            return web.json_response({"error": "invalid_client"}, status=401)
        self.token_fetches["acme"] += 1
        token = f"tok-{sum(self.token_fetches.values())}"
        self.valid_tokens.add(token)
        body: dict[str, Any] = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return web.json_response(body)

    def _authorized(self, scheme: str, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        if scheme == "bearer":
            return auth == f"Bearer {ENV['BEARER']}"
        if scheme == "basic":
            raw = base64.b64encode(f"ops:{ENV['USER_PW']}".encode()).decode()
            return auth == f"Basic {raw}"
        if scheme == "keyheader":
            return request.headers.get("X-Api-Key") == ENV["API_KEY"]
        if scheme == "keyquery":
            return request.query.get("api_key") == ENV["API_KEY"]
        if scheme == "oauth":
            return auth.removeprefix("Bearer ") in self.valid_tokens
        return scheme == "open"

    async def _doc(self, request: web.Request) -> web.Response:
        scheme, n = request.match_info["scheme"], request.match_info["n"]
        if not self._authorized(scheme, request):
            self.rejected[scheme] += 1
            return web.Response(status=401)
        self.served[scheme] += 1
        if self.revoke_after is not None and sum(self.served.values()) == self.revoke_after:
            self.revoke()
        doc = {
            "supplier_id": "S",
            "warehouse_id": f"{scheme}-{n}",
            "as_of": "2026-11-28T07:45:00Z",
            "items": [{"sku": f"SKU-{i}", "on_hand": i, "available": i} for i in range(ITEMS)],
        }
        return web.Response(body=orjson.dumps(doc), content_type="application/json")


@pytest.fixture
async def server() -> AsyncIterator[AuthServer]:
    async with AuthServer() as s:
        yield s


def feeds(suppliers: list[dict[str, Any]], **defaults: Any) -> tuple[SupplierSpec, ...]:
    doc = {"defaults": {**QUICK, **defaults}, "suppliers": suppliers}
    return parse_feeds(yaml.safe_dump(doc), "feeds.yaml", ENV).suppliers


def supplier(sid: str, urls: list[str], auth: dict[str, Any]) -> dict[str, Any]:
    feed = {"kind": "inventory_snapshot", "format": "json", "urls": urls}
    return {"id": sid, "auth": auth, "feeds": [feed]}


OAUTH = {
    "type": "oauth2",
    "client_id": "acme",
    "client_secret": "${CLIENT_SECRET}",
}


async def _positions(sink: MemorySink) -> list[tuple[Any, ...]]:
    rows = await sink.table_rows("inventory_positions")
    return [(r["warehouse_id"], r["sku"]) for r in rows]


def _assert_exactly(rows: list[tuple[Any, ...]], warehouses: list[str]) -> None:
    """Nothing lost, nothing duplicated, nothing unexpected."""
    expected = {(w, f"SKU-{i}") for w in warehouses for i in range(ITEMS)}
    assert len(rows) == len(set(rows)), "duplicated"
    assert set(rows) == expected


async def test_static_credentials_reach_the_supplier(server: AuthServer) -> None:
    """Bearer, basic and API key (header and query) are sent; a wrong token is a 401."""
    suppliers = feeds(
        [
            supplier("B", server.urls("bearer", 3), {"type": "bearer", "token": "${BEARER}"}),
            supplier(
                "U",
                server.urls("basic", 3),
                {"type": "basic", "username": "ops", "password": "${USER_PW}"},
            ),
            supplier(
                "H",
                server.urls("keyheader", 3),
                {"type": "api_key", "key_name": "X-Api-Key", "key_value": "${API_KEY}"},
            ),
            supplier(
                "Q",
                server.urls("keyquery", 3),
                {
                    "type": "api_key",
                    "key_in": "query",
                    "key_name": "api_key",
                    "key_value": "${API_KEY}",
                },
            ),
            supplier("W", server.urls("bearer", 1), {"type": "bearer", "token": "${WRONG}"}),
        ]
    )
    sink = MemorySink()
    summary = await run(suppliers, sink, suppliers[0].config)
    assert summary.outcomes == {"loaded": 12, "failed": 1}
    assert summary.failures_by_reason == {"http_401": 1}
    warehouses = [
        f"{s}-{i}" for s in ("bearer", "basic", "keyheader", "keyquery") for i in range(3)
    ]
    _assert_exactly(await _positions(sink), warehouses)
    assert server.rejected == {"bearer": 1}  # the wrong token, once: a 401 is not retried


async def test_secrets_stay_out_of_the_ledger_and_repr(server: AuthServer) -> None:
    """The API key added to the query never reaches ledger URLs; AuthSpec's repr hides it."""
    suppliers = feeds(
        [
            supplier(
                "Q",
                server.urls("keyquery", 2),
                {
                    "type": "api_key",
                    "key_in": "query",
                    "key_name": "api_key",
                    "key_value": "${API_KEY}",
                },
            ),
            supplier("W", server.urls("bearer", 1), {"type": "bearer", "token": "${WRONG}"}),
        ]
    )
    sink = MemorySink()
    summary = await run(suppliers, sink, suppliers[0].config)
    ledger = repr(await sink.endpoints(summary.run_id)) + repr(suppliers)
    rows = repr(await sink.table_rows("inventory_positions"))
    for secret in (ENV["API_KEY"], ENV["WRONG"]):
        assert secret not in ledger
        assert secret not in rows


async def test_oauth2_fetches_one_token_per_supplier(server: AuthServer) -> None:
    """Twenty concurrent requests of one supplier share a single token fetch."""
    auth = {**OAUTH, "token_url": f"{server.base}/token"}
    suppliers = feeds([supplier("O", server.urls("oauth", 20), auth)], limit_per_host=20)
    sink = MemorySink()
    summary = await run(suppliers, sink, suppliers[0].config)
    assert summary.outcomes == {"loaded": 20}
    assert server.token_fetches == {"acme": 1}
    _assert_exactly(await _positions(sink), [f"oauth-{i}" for i in range(20)])


async def test_oauth2_refreshes_once_on_401(server: AuthServer) -> None:
    """Revoked tokens: each request's 401 triggers one shared refresh, then succeeds."""
    auth = {**OAUTH, "token_url": f"{server.base}/token"}
    urls = server.urls("oauth", 8)
    suppliers = feeds([supplier("O", urls, auth)])
    hook = AuthHook({"O": suppliers[0].auth})
    async with AsyncBatchIngestor(suppliers[0].config, hooks=[hook]) as engine:
        await _fetch_all(engine, urls)
        server.revoke()
        second = await _fetch_all(engine, urls)
    assert [o.ok for o in second] == [True] * 8
    assert server.token_fetches == {"acme": 2}
    assert 1 <= server.rejected["oauth"] <= 8  # each request was rejected at most once
    assert server.served["oauth"] == 16


async def test_oauth2_revoked_mid_run_loses_nothing(server: AuthServer) -> None:
    """Through the pipeline: tokens revoked mid-run cost one refresh; no record is lost."""
    server.revoke_after = 4
    auth = {**OAUTH, "token_url": f"{server.base}/token"}
    urls = server.urls("oauth", 12)
    suppliers = feeds([supplier("O", urls, auth)], limit_per_host=2)
    sink = MemorySink()
    summary = await run(suppliers, sink, suppliers[0].config)
    assert summary.outcomes == {"loaded": 12}
    assert server.token_fetches == {"acme": 2}
    _assert_exactly(await _positions(sink), [f"oauth-{i}" for i in range(12)])


async def test_oauth2_refreshes_before_expiry(server: AuthServer) -> None:
    """A token is refreshed refresh_margin seconds before it expires (injected clock)."""
    now = [1000.0]
    server.expires_in = 100
    spec = AuthSpec(
        type="oauth2",
        token_url=f"{server.base}/token",
        client_id="acme",
        client_secret=ENV["CLIENT_SECRET"],
        refresh_margin=10.0,
    )
    hook = AuthHook({"O": spec}, clock=lambda: now[0])
    urls = server.urls("oauth", 3)
    async with AsyncBatchIngestor(with_keys(FeedConfig(), QUICK), hooks=[hook]) as engine:
        await _fetch_all(engine, urls)
        now[0] += 89.0  # 11 s before expiry: still good
        await _fetch_all(engine, urls)
        assert server.token_fetches == {"acme": 1}
        now[0] += 2.0  # inside the margin: refreshed before any request fails
        await _fetch_all(engine, urls)
    assert server.token_fetches == {"acme": 2}
    assert server.rejected["oauth"] == 0


async def test_refused_client_credentials_are_a_permanent_auth_failure(
    server: AuthServer,
) -> None:
    """A token endpoint that refuses the client fails its requests once each, typed."""
    auth = {**OAUTH, "client_secret": "${WRONG}", "token_url": f"{server.base}/token"}
    suppliers = feeds([supplier("O", server.urls("oauth", 3), auth)])
    sink = MemorySink()
    summary = await run(suppliers, sink, suppliers[0].config)
    records = await sink.endpoints(summary.run_id)
    assert summary.outcomes == {"failed": 3}
    assert {r.error_kind for r in records} == {"auth_token"}
    assert all(r.permanent and r.attempts == 1 for r in records)
    assert ENV["WRONG"] not in repr(records)
    assert server.served["oauth"] == 0


async def _fetch_all(engine: AsyncBatchIngestor, urls: list[str]) -> list[Any]:
    outcomes: list[FetchSuccess | FetchFailure] = []

    async def keep(o: FetchSuccess | FetchFailure) -> None:
        outcomes.append(o)
        if isinstance(o, FetchSuccess):
            o.body.discard()

    await engine.fetch_each([FetchRequest(url=u, supplier_id="O") for u in urls], keep)
    return outcomes


# -- TLS ------------------------------------------------------------------------------


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


def _tls_supplier(url: str, **auth: Any) -> tuple[SupplierSpec, ...]:
    return feeds(
        [supplier("T", [url], {k: str(v) if isinstance(v, Path) else v for k, v in auth.items()})]
    )


async def test_mutual_tls_with_a_custom_ca(pki: Pki) -> None:
    """A client certificate and a private CA: the handshake succeeds and the body loads."""
    async with AuthServer(pki.server_context(require_client=True)) as s:
        suppliers = _tls_supplier(
            f"{s.base}/open/1",
            ca_bundle=pki.ca,
            client_cert=pki.client_cert,
            client_key=pki.client_key,
        )
        sink = MemorySink()
        summary = await run(suppliers, sink, suppliers[0].config)
    assert summary.outcomes == {"loaded": 1}
    assert summary.warnings == []
    _assert_exactly(await _positions(sink), ["open-1"])


async def test_missing_client_certificate_is_refused(pki: Pki) -> None:
    """Without the client certificate the server ends the handshake: a failure, no rows."""
    async with AuthServer(pki.server_context(require_client=True)) as s:
        suppliers = _tls_supplier(f"{s.base}/open/1", ca_bundle=pki.ca)
        sink = MemorySink()
        summary = await run(suppliers, sink, suppliers[0].config)
        assert s.served["open"] == 0
    assert summary.outcomes == {"failed": 1}
    assert await _positions(sink) == []


async def test_unknown_ca_is_a_permanent_tls_error(pki: Pki) -> None:
    """Verification is on by default: a certificate from an unknown CA is refused."""
    async with AuthServer(pki.server_context(require_client=False)) as s:
        suppliers = _tls_supplier(f"{s.base}/open/1", type="none")
        sink = MemorySink()
        summary = await run(suppliers, sink, suppliers[0].config)
    assert summary.failures_by_reason == {"tls": 1}


async def test_tls_verify_off_loads_and_is_flagged(pki: Pki) -> None:
    """tls_verify: false is explicit per supplier, and the run summary says so."""
    async with AuthServer(pki.server_context(require_client=False)) as s:
        suppliers = _tls_supplier(f"{s.base}/open/1", tls_verify=False)
        summary = await run(suppliers, MemorySink(), suppliers[0].config)
    assert summary.outcomes == {"loaded": 1}
    assert summary.warnings == ["TLS verification off for supplier T"]
    assert summary.to_dict()["warnings"] == summary.warnings


# -- the feeds file ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "key", "message"),
    [
        ({"type": "bearer", "token": "literal"}, "suppliers[0].auth.token", "environment"),
        ({"type": "basic", "username": "u"}, "suppliers[0].auth.password", "missing"),
        ({"type": "magic"}, "suppliers[0].auth.type", "must be one of"),
        ({"tokn": "x"}, "suppliers[0].auth.tokn", "did you mean 'token'"),
        ({"ca_bundle": "/nonexistent/ca.pem"}, "suppliers[0].auth.ca_bundle", "no such file"),
        ({"tls_verify": "no"}, "suppliers[0].auth.tls_verify", "must be bool"),
        (
            {"type": "api_key", "key_value": "${API_KEY}", "key_in": "body"},
            "suppliers[0].auth.key_in",
            "header or query",
        ),
    ],
)
def test_bad_auth_mapping_names_file_line_and_key(
    auth: dict[str, Any], key: str, message: str
) -> None:
    """Every auth error is a ConfigError naming feeds.yaml, the line and the key."""
    with pytest.raises(ConfigError) as info:
        feeds([supplier("X", ["https://example.test/a"], auth)])
    assert info.value.key == key
    assert message in info.value.message
    assert str(info.value.location).startswith("feeds.yaml:")


@pytest.mark.parametrize(
    "query",
    [
        "api_key=abc123",
        "token=abc123",
        "access_token=abc123",
        "key=abc123",
        "client_secret=abc123",
        "password=hunter22",
        "X-Amz-Signature=abc123",
        "region=eu&sig=abc123",
    ],
)
def test_a_literal_secret_in_a_query_string_is_refused(query: str) -> None:
    """`?api_key=...` written into the feeds file: exit-2 config error with file:line."""
    doc = {"suppliers": [supplier("X", [f"https://example.test/a?{query}"], {})]}
    text = yaml.safe_dump(doc)
    with pytest.raises(ConfigError) as info:
        parse_feeds(text, "feeds.yaml", ENV)
    assert info.value.key == "suppliers[0].feeds[0].urls[0]"
    assert "literal secret" in info.value.message
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "example.test" in t)
    assert info.value.location == f"feeds.yaml:{line}"
    assert "abc123" not in str(info.value)  # the refusal does not print the secret either


def test_an_env_secret_in_a_query_string_is_allowed_and_known_as_secret() -> None:
    """`?api_key=${API_KEY}` loads; its value is one of the supplier's secrets, and plain
    parameters (`page=1`, `monkey=...`) are not mistaken for credentials."""
    url = "https://example.test/a?api_key=${API_KEY}&page=1&monkey=banana"
    [spec] = feeds([supplier("X", [url], {})])
    assert spec.feeds[0].urls[0] == url.replace("${API_KEY}", ENV["API_KEY"])
    assert ENV["API_KEY"] in spec.secrets
