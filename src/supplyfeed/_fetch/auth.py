"""Auth and TLS per supplier, as an engine hook.

Each supplier's :class:`~supplyfeed._config.AuthSpec` picks one credential:

- ``bearer``: ``Authorization: Bearer <token>``;
- ``basic``: ``Authorization: Basic base64(user:password)``;
- ``api_key``: a header (``X-API-Key`` by default) or a query parameter;
- ``oauth2``: client credentials (RFC 6749 §4.4). One token per supplier, shared by all
  of its requests, fetched before a request takes a slot and refreshed ``refresh_margin``
  seconds (at most half its lifetime) before it expires. Concurrent requests wait for
  the one fetch in flight (single flight). A 401 refreshes the token once and sends
  again before the failure counts; a second 401 is the supplier's final answer.

The credential is added to the outgoing request only, never to the :class:`FetchRequest`:
the ledger key, logs and dead letters carry the URL as written in the feeds file. The
token endpoint's answers are reported without their bodies, and every message passes
through :func:`~supplyfeed._redact.redact_text` with the supplier's secrets.

TLS: a custom CA bundle, a client certificate (mutual TLS), or ``tls_verify: false``
become one ``ssl`` setting per supplier that the transport uses for its requests.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit, urlunsplit

import aiohttp

from .._config import AuthSpec, SupplierSpec
from .._exceptions import ConfigError, FetchError, PermanentFetchError, TransientFetchError
from .._redact import redact_text, redact_url
from .hooks import BaseHook, Send
from .outcome import FetchRequest
from .tls_defaults import tls_ready
from .transport import TransportRequest, TransportResponse

__all__ = ["AUTH_TOKEN", "AuthHook", "OAuth2Token", "ssl_setting", "unverified_suppliers"]

AUTH_TOKEN = "auth_token"  # error kind: the token endpoint failed
Clock = Callable[[], float]
SslSetting = ssl.SSLContext | bool | None


def ssl_setting(spec: AuthSpec, key: str = "auth") -> SslSetting:
    """The ``ssl`` argument for a supplier's requests: None means the default checks."""
    if not spec.tls_verify and not spec.client_cert:
        return False
    if not (spec.ca_bundle or spec.client_cert):
        return None
    try:
        ctx = ssl.create_default_context(cafile=spec.ca_bundle or None)
        if not spec.tls_verify:  # explicit opt-out, flagged in the run summary
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if spec.client_cert:
            ctx.load_cert_chain(spec.client_cert, spec.client_key or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load TLS files: {exc}", key=key) from exc
    return ctx


def unverified_suppliers(suppliers: Sequence[SupplierSpec]) -> list[str]:
    """The ids of suppliers whose TLS certificates are not checked (for the report)."""
    return [s.id for s in suppliers if not s.auth.tls_verify]


def _with_query(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    pairs.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(pairs)))


def _static_headers(spec: AuthSpec) -> dict[str, str]:
    if spec.type == "bearer":
        return {"Authorization": f"Bearer {spec.token}"}
    if spec.type == "basic":
        raw = f"{spec.username}:{spec.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}
    if spec.type == "api_key" and spec.key_in == "header":
        return {spec.key_name: spec.key_value}
    return {}


@dataclass(slots=True)
class _Token:
    """An OAuth2 access token and when to refresh it."""

    value: str
    refresh_at: float  # monotonic time after which the next request refreshes it


class OAuth2Token:
    """The client-credentials token of one supplier: fetched once, shared, refreshed."""

    def __init__(self, spec: AuthSpec, ssl_arg: SslSetting, *, clock: Clock) -> None:
        self._spec = spec
        self._ssl = ssl_arg
        self._clock = clock
        self._token: _Token | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0  # token requests sent, for tests and the report

    async def get(self, *, stale: str | None = None) -> str:
        """A valid token; ``stale``: the token a 401 just rejected (refresh unless done)."""
        async with self._lock:  # single flight: waiters reuse the token just fetched
            token = self._token
            if token is None or self._clock() >= token.refresh_at or token.value == stale:
                token = self._token = await self._fetch()
            return token.value

    async def _fetch(self) -> _Token:
        spec = self._spec
        form = {"grant_type": "client_credentials", **({"scope": spec.scope} if spec.scope else {})}
        self.fetches += 1
        timeout = aiohttp.ClientTimeout(total=30.0)
        await tls_ready(spec.token_url)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(
                    spec.token_url,
                    data=form,
                    headers={"Authorization": _client_basic(spec)},
                    ssl=True if self._ssl is None else self._ssl,
                    allow_redirects=False,  # the client secret goes to token_url only
                ) as resp,
            ):
                if resp.status != 200:
                    raise self._error(f"token endpoint answered {resp.status}", resp.status)
                payload: Any = await resp.json(content_type=None)
        except FetchError:
            raise
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise self._error(f"token request failed: {type(exc).__name__}", None) from exc
        return self._token_from(payload)

    def _token_from(self, payload: Any) -> _Token:
        value = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(value, str) or not value:
            raise self._error("token endpoint sent no access_token", 200, permanent=True)
        lifetime = payload.get("expires_in")
        now = self._clock()
        if not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or lifetime <= 0:
            return _Token(value, float("inf"))  # no stated expiry: refreshed on a 401 only
        margin = min(self._spec.refresh_margin, lifetime / 2)
        return _Token(value, now + lifetime - margin)

    def _error(self, message: str, status: int | None, *, permanent: bool = False) -> FetchError:
        text = redact_text(f"{message} ({redact_url(self._spec.token_url)})", self._spec.secrets)
        # A refused client (400/401/403) or a redirect will not pass by retrying; the rest may.
        if permanent or (status is not None and 300 <= status < 500 and status not in (408, 429)):
            return PermanentFetchError(text, kind=AUTH_TOKEN, status=status)
        return TransientFetchError(text, kind=AUTH_TOKEN, status=status)


class AuthHook(BaseHook):
    """Adds each supplier's credential and TLS setting to its requests."""

    def __init__(self, specs: Mapping[str, AuthSpec], *, clock: Clock = time.monotonic) -> None:
        self._specs = {sid: spec for sid, spec in specs.items() if _needs_hook(spec)}
        self._ssl = {sid: ssl_setting(spec, f"{sid}.auth") for sid, spec in self._specs.items()}
        self.tokens = {
            sid: OAuth2Token(spec, self._ssl[sid], clock=clock)
            for sid, spec in self._specs.items()
            if spec.type == "oauth2"
        }

    def __bool__(self) -> bool:
        return bool(self._specs)

    async def admit(self, request: FetchRequest) -> None:
        token = self.tokens.get(request.supplier_id)
        if token is not None:  # fetch or refresh before taking a slot
            await token.get()

    async def send(
        self, request: FetchRequest, treq: TransportRequest, call_next: Send
    ) -> TransportResponse:
        spec = self._specs.get(request.supplier_id)
        if spec is None:
            return await call_next(treq)
        treq = self._apply(spec, request.supplier_id, treq)
        oauth = self.tokens.get(request.supplier_id)
        if oauth is None:
            return await call_next(treq)
        value = await oauth.get()
        response = await call_next(_bearer(treq, value))
        if response.status != 401:
            return response
        return await call_next(_bearer(treq, await oauth.get(stale=value)))

    def _apply(self, spec: AuthSpec, sid: str, treq: TransportRequest) -> TransportRequest:
        url = treq.url
        if spec.type == "api_key" and spec.key_in == "query":
            url = _with_query(url, spec.key_name, spec.key_value)
        added = _static_headers(spec)
        headers = {**treq.headers, **added}
        return dataclasses.replace(
            treq,
            url=url,
            headers=headers,
            tls=self._ssl[sid],
            # Never sent to another origin on a redirect (redirects.py).
            secret_headers=treq.secret_headers | {n.lower() for n in added},
            secrets=treq.secrets | set(spec.secrets),
        )


def _client_basic(spec: AuthSpec) -> str:
    # RFC 6749 §2.3.1: id and secret are form-urlencoded before the Basic encoding.
    raw = f"{quote_plus(spec.client_id)}:{quote_plus(spec.client_secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _bearer(treq: TransportRequest, token: str) -> TransportRequest:
    return dataclasses.replace(
        treq,
        headers={**treq.headers, "Authorization": f"Bearer {token}"},
        secret_headers=treq.secret_headers | {"authorization"},
        secrets=treq.secrets | {token},
    )


def _needs_hook(spec: AuthSpec) -> bool:
    return spec != AuthSpec()  # any credential, CA, client certificate or tls_verify: false
