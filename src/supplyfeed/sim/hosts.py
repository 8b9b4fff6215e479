"""What a simulated supplier host does besides serving its endpoints.

A :class:`HostBehaviour` (per host of a :class:`~supplyfeed.sim.SupplierFleet`) combines:

- :class:`TokenEndpoint`: the host is an OAuth2 API. ``POST {path}`` issues
  client-credentials tokens (RFC 6749 §4.4, client authenticated by HTTP Basic or by
  form fields) that expire after ``lifetime`` seconds; every other request needs
  ``Authorization: Bearer <a live token>`` or gets a 401. The client secret is made up
  per fleet and handed to clients through an environment variable (``secret_env``), as a
  feeds file names real secrets.
- :class:`RateLimit`: ``limit`` requests per fixed window of ``window`` seconds. Every
  answer says how much is left (``RateLimit-Limit``/``-Remaining``/``-Reset``,
  draft-ietf-httpapi-ratelimit-headers, or the ``X-RateLimit-*`` form); a request over
  the budget gets a 429 with ``Retry-After``.
- :class:`Degradation`: the host slows down under load and then refuses it: each
  request in flight beyond ``capacity`` adds ``step`` seconds to every answer (the host
  queues), and beyond ``overload`` in flight it answers 503 at once.

The order is the gateway's: token endpoint, authentication, rate limit, overload. A
refused request never reaches its endpoint, so it does not count towards the endpoint's
fault (:class:`~supplyfeed.sim.Fault` counts the requests the endpoint itself answers).
A client that authenticates, honours the rate-limit headers and ``Retry-After`` and
retries 503s ends with the same rows as against a plain host: the fleet's ground truth
does not change.
"""

from __future__ import annotations

import base64
import math
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote_plus

from aiohttp import web

__all__ = ["Degradation", "HostBehaviour", "HostRuntime", "RateLimit", "TokenEndpoint"]

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class TokenEndpoint:
    client_id: str = "supplyfeed-sim"
    secret_env: str = "SIM_OAUTH_CLIENT_SECRET"
    lifetime: float = 3600.0
    path: str = "/oauth/token"

    def __post_init__(self) -> None:
        if self.lifetime <= 0 or not self.path.startswith("/"):
            raise ValueError("a token endpoint needs a positive lifetime and an absolute path")


@dataclass(frozen=True, slots=True)
class RateLimit:
    limit: int
    window: float = 1.0
    prefix: Literal["RateLimit", "X-RateLimit"] = "RateLimit"

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and a positive window")


@dataclass(frozen=True, slots=True)
class Degradation:
    capacity: int = 4
    overload: int = 8
    step: float = 0.02

    def __post_init__(self) -> None:
        if not 1 <= self.capacity <= self.overload or self.step < 0:
            raise ValueError("degradation needs 1 <= capacity <= overload and step >= 0")


@dataclass(frozen=True, slots=True)
class HostBehaviour:
    oauth2: TokenEndpoint | None = None
    rate_limit: RateLimit | None = None
    degrade: Degradation | None = None


@dataclass(slots=True)
class HostCounters:
    """What a behaving host refused or issued (live counters)."""

    tokens_issued: int = 0
    token_refusals: int = 0  # bad client credentials at the token endpoint
    unauthorized: int = 0  # 401s for a missing, unknown or expired token
    rate_limited: int = 0  # 429s over the budget
    overloaded: int = 0  # 503s past ``overload``
    rate_limit_headers: int = 0  # answers that carried the rate-limit headers


class HostRuntime:
    """The state of one behaving host while the fleet runs."""

    def __init__(
        self, behaviour: HostBehaviour, secret: str, *, clock: Clock = time.monotonic
    ) -> None:
        self.behaviour = behaviour
        self.secret = secret
        self.counters = HostCounters()
        self._clock = clock
        self._tokens: dict[str, float] = {}  # token -> expiry (clock time)
        self._window_start = clock()
        self._window_count = 0

    @staticmethod
    def new_secret() -> str:
        return secrets.token_urlsafe(24)

    def is_token_request(self, request: web.BaseRequest) -> bool:
        oauth = self.behaviour.oauth2
        return oauth is not None and request.path == oauth.path

    async def issue_token(self, request: web.BaseRequest) -> web.Response:
        oauth = self.behaviour.oauth2
        assert oauth is not None
        if request.method != "POST":
            return web.Response(status=405, headers={"Allow": "POST"})
        form = await request.post()
        client_id, secret = _client_credentials(request, form)
        if form.get("grant_type") != "client_credentials":
            self.counters.token_refusals += 1
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        if client_id != oauth.client_id or not secrets.compare_digest(secret, self.secret):
            self.counters.token_refusals += 1
            return web.json_response({"error": "invalid_client"}, status=401)
        token = secrets.token_urlsafe(18)
        self._tokens[token] = self._clock() + oauth.lifetime
        self.counters.tokens_issued += 1
        body = {"access_token": token, "token_type": "Bearer", "expires_in": oauth.lifetime}
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    def refuse(self, request: web.BaseRequest, in_flight: int) -> web.Response | None:
        """The gateway's answer when it refuses ``request`` (401, 429, 503), else None."""
        if self.behaviour.oauth2 is not None and not self._authorized(request):
            self.counters.unauthorized += 1
            return web.Response(
                status=401, text="invalid token", headers={"WWW-Authenticate": "Bearer"}
            )
        limit = self.behaviour.rate_limit
        if limit is not None:
            self._roll_window(limit)
            if self._window_count >= limit.limit:
                self.counters.rate_limited += 1
                retry = str(self._reset_seconds(limit))
                headers = {**self.rate_limit_headers(), "Retry-After": retry}
                return web.Response(status=429, text="rate limit exceeded", headers=headers)
            self._window_count += 1
        degrade = self.behaviour.degrade
        if degrade is not None and in_flight > degrade.overload:
            self.counters.overloaded += 1
            return web.Response(status=503, text="overloaded")
        return None

    def extra_latency(self, in_flight: int) -> float:
        """How much longer an answer takes with ``in_flight`` requests on the host."""
        degrade = self.behaviour.degrade
        if degrade is None:
            return 0.0
        return degrade.step * max(0, in_flight - degrade.capacity)

    def rate_limit_headers(self) -> dict[str, str]:
        limit = self.behaviour.rate_limit
        if limit is None:
            return {}
        self._roll_window(limit)
        self.counters.rate_limit_headers += 1
        p = limit.prefix
        return {
            f"{p}-Limit": str(limit.limit),
            f"{p}-Remaining": str(max(0, limit.limit - self._window_count)),
            f"{p}-Reset": str(self._reset_seconds(limit)),
        }

    def _authorized(self, request: web.BaseRequest) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return False
        expiry = self._tokens.get(token.strip())
        return expiry is not None and self._clock() < expiry

    def _roll_window(self, limit: RateLimit) -> None:
        now = self._clock()
        if now - self._window_start >= limit.window:
            # Fixed windows aligned on the host's start, as most API gateways count.
            passed = math.floor((now - self._window_start) / limit.window)
            self._window_start += passed * limit.window
            self._window_count = 0

    def _reset_seconds(self, limit: RateLimit) -> int:
        # Whole seconds, rounded up: a client waiting that long finds a fresh window.
        left = self._window_start + limit.window - self._clock()
        return max(1, math.ceil(left))


def _client_credentials(request: web.BaseRequest, form: Mapping[str, object]) -> tuple[str, str]:
    """``(client_id, client_secret)`` from HTTP Basic (RFC 6749 §2.3.1) or the form."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            raw = base64.b64decode(value.strip(), validate=True).decode()
        except ValueError:
            return "", ""
        user, _, password = raw.partition(":")
        return unquote_plus(user), unquote_plus(password)
    return str(form.get("client_id", "")), str(form.get("client_secret", ""))
