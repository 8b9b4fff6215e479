"""The batch engine: :class:`AsyncBatchIngestor` fetches many URLs concurrently.

Every URL is its own task inside one ``asyncio.TaskGroup``, so a slow or hanging
endpoint holds back no other (``batch_size`` only bounds how many are started at once).
A bounded admission window (``max_pending``) keeps memory flat for huge URL lists. The
limiter hands out slots (host, supplier, global) only for the time a request is on the
wire: a retry sleeps outside any slot, for a backoff with seeded jitter or the
``Retry-After`` the server asked for (capped); permanent errors are not retried; a slow
attempt may be hedged (``hedging.py``). Hooks (``hooks.py``: rate limits, circuit
breakers, auth) wrap each request; below them the transport, or the one mounted for the
URL's scheme (``mounts.py``: file:// and sftp:// drop folders). Every URL ends as a
:class:`FetchSuccess` or a typed :class:`FetchFailure` that the caller reads from
``ingestor.last_batch`` (docs/contract.md §1 for what the API guarantees).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import os
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from .._config import FeedConfig, FieldMapping
from .._exceptions import FetchError, PayloadError, TransientFetchError
from .._failpoints import failpoint
from .._formats.body import Body
from .._models import DocKind
from .._redact import redact_url
from .documents import DecodedPayload, DocumentParser, FeedDocuments
from .hedging import Hedging
from .hooks import FetchHook, chain
from .limits import Limiter
from .mounts import MountedTransport
from .outcome import (
    AttemptRecord,
    FetchFailure,
    FetchObserver,
    FetchOutcome,
    FetchRequest,
    FetchSuccess,
)
from .race import HedgeScope, Leg, Stopped, answered, drop, leg_record, never_ran, settle
from .redirects import with_redirects
from .retry import RetryPolicy, error_for_status
from .transport import (
    AiohttpTransport,
    Transport,
    TransportRequest,
    TransportResponse,
    header_value,
)

__all__ = ["AsyncBatchIngestor", "BatchResult", "new_request_id"]

log = logging.getLogger("supplyfeed.fetch")

Handler = Callable[[FetchOutcome], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
# When the request began (the clock's reading) and its attempt records so far.
_Log = tuple[float, list[AttemptRecord]]
PayloadParser = Callable[[Body], Any]

# Bodies smaller than this are parsed on the loop: a thread hop costs more than parsing.
_INLINE_PARSE_BYTES = 256 * 1024


def new_request_id() -> str:
    return os.urandom(8).hex()


def _parse_json(body: Body) -> Any:
    try:
        return orjson.loads(body.read())
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"invalid JSON: {exc.msg}", where=f"byte {exc.pos}") from exc


@dataclass(slots=True)
class BatchResult:
    """Every URL of one ``fetch_feed_batch`` call, accounted for."""

    succeeded: list[FetchSuccess] = field(default_factory=list)
    failed: list[FetchFailure] = field(default_factory=list)
    payloads: list[Any] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.succeeded) + len(self.failed)


class AsyncBatchIngestor:
    """Fetch many URLs concurrently within limits, with correct retries.

    >>> async with AsyncBatchIngestor(FeedConfig()) as ingestor:    # doctest: +SKIP
    ...     docs = await ingestor.fetch_feed_batch(urls)
    ...     for failure in ingestor.failures: print(failure.url, failure.error_kind)
    """

    def __init__(
        self,
        config: FeedConfig | None = None,
        *,
        transport: Transport | None = None,
        mounts: Mapping[str, Transport] | None = None,
        supplier_limits: Mapping[str, int] | None = None,
        observer: FetchObserver | None = None,
        sleep: Sleep = asyncio.sleep,
        spool_dir: Path | None = None,
        max_pending: int = 10_000,
        hooks: Sequence[FetchHook] = (),
        hedging: Hedging | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.config = config or FeedConfig()
        # A transport passed in, and every mounted one, is the caller's to close.
        self._own_transport = transport is None
        self._default: Transport = transport or AiohttpTransport(
            max_connections=self.config.max_concurrency,
            connect_timeout=self.config.timeouts.connect,
            read_timeout=self.config.timeouts.read,
        )
        # Other schemes than http(s) go to their own transports (mounts.py), under the
        # same hooks: file:// and sftp:// drop folders (drops.py).
        self._transport: Transport = (
            MountedTransport(self._default, mounts) if mounts is not None else self._default
        )
        self.limiter = Limiter(
            self.config.max_concurrency, self.config.limits.per_host, supplier_limits
        )
        self.policy = RetryPolicy(self.config)
        self._observer = observer
        self._sleep = sleep
        self._clock = clock
        # One wall-clock anchor for the engine: a request's started_at is the anchor plus
        # the clock's time since, so the ledger's attempt times (started_at + start, to the
        # microsecond) of two requests are on one time line, and an attempt that got its
        # slot as another ended is never drawn overlapping it (the HTML in-flight chart).
        self._epoch = (dt.datetime.now(dt.UTC), clock())
        # Hedged requests (hedging.py); by default under the config's own rule.
        self.hedging = hedging or Hedging(self.config.hedge, clock=clock)
        self._spool_dir = spool_dir
        self._max_pending = max_pending
        self.hooks: list[FetchHook] = list(hooks)  # see hooks.py
        self._stopping = False
        self.last_batch = BatchResult()

    async def __aenter__(self) -> AsyncBatchIngestor:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_transport:
            await self._default.aclose()

    @property
    def failures(self) -> list[FetchFailure]:
        """The failures of the last ``fetch_feed_batch`` call."""
        return self.last_batch.failed

    def stop(self) -> None:
        """Start no new requests; those in flight finish. Safe to call from a signal handler."""
        self._stopping = True

    @property
    def stopping(self) -> bool:
        return self._stopping

    # -- the guide's API ----------------------------------------------------------------
    async def fetch_feed_batch(
        self,
        urls: Iterable[str],
        *,
        parse: PayloadParser = _parse_json,
        format: str | None = None,
        kind: DocKind | str | None = None,
    ) -> list[Any]:
        """Fetch every URL and return the parsed payloads that succeeded, in input order.

        A payload is parsed as JSON by default (the guide's behaviour). With ``format=``
        (``json``, ``csv``, ``x12``, ``edifact``, ``cxml``, ``xml``, or ``auto`` to tell it
        from the first bytes) or ``kind=``, each is decoded instead, to the list of its
        canonical documents. :meth:`fetch_documents` returns them paired with their URLs.

        ``self.last_batch.succeeded`` is in the same input order as the payloads, so
        ``zip(payloads, last_batch.succeeded)`` pairs them (before 0.2 it was in
        completion order); ``last_batch.failed`` is in input order too. Failures (fetch
        errors and payloads that do not parse) are in ``self.failures`` and
        ``self.last_batch``; nothing is only logged.
        """
        if format is not None or kind is not None:
            parse = _documents_of(DocumentParser(format, DocKind(kind) if kind else None))
        requests = [FetchRequest(url=u) for u in urls]
        index = {id(r): i for i, r in enumerate(requests)}
        batch = BatchResult()
        parsed: dict[int, Any] = {}

        async def handle(outcome: FetchOutcome) -> None:
            if isinstance(outcome, FetchFailure):
                batch.failed.append(outcome)
                return
            try:
                parsed[index[id(outcome.request)]] = await self._parse(parse, outcome.body)
                batch.succeeded.append(outcome)
            except PayloadError as exc:
                batch.failed.append(_payload_failure(outcome, exc))
            finally:
                outcome.body.discard()

        await self.fetch_each(requests, handle)
        batch.payloads = [parsed[i] for i in sorted(parsed)]
        batch.succeeded.sort(key=lambda o: index[id(o.request)])
        batch.failed.sort(key=lambda o: index.get(id(o.request), len(index)))
        self.last_batch = batch
        return batch.payloads

    async def fetch_documents(
        self,
        urls: Iterable[str],
        *,
        format: str | None = None,
        kind: DocKind | str | None = None,
        supplier_id: str = "",
        mapping: FieldMapping | None = None,
    ) -> list[FeedDocuments]:
        """Fetch every URL and decode each body to canonical documents, whatever its
        format: one :class:`FeedDocuments` (URL, request id, format, kind, documents) per
        URL that succeeded, in input order. ``format=None`` and ``kind=None`` are told
        from each body (first bytes, envelope, field names); ``mapping`` reads a
        non-canonical JSON, CSV or XML feed. Failures are in ``self.last_batch.failed``.
        """
        parser = DocumentParser(format, DocKind(kind) if kind else None, supplier_id, mapping)
        parser.check()
        decoded: list[DecodedPayload] = await self.fetch_feed_batch(urls, parse=parser)
        return [_paired(d, ok) for d, ok in zip(decoded, self.last_batch.succeeded, strict=True)]

    async def _parse(self, parse: PayloadParser, body: Body) -> Any:
        if body.size < _INLINE_PARSE_BYTES:
            return parse(body)
        return await asyncio.to_thread(parse, body)

    # -- the streaming engine -----------------------------------------------------------
    async def fetch_each(self, requests: Iterable[FetchRequest], handle: Handler) -> None:
        """Fetch every request and await ``handle(outcome)`` for each as it completes.

        ``handle`` runs after the request's slot is released; making it wait (a full
        bounded queue downstream) slows admission of new requests: backpressure.
        After :meth:`stop`, requests not yet started end as ``cancelled`` failures
        delivered to ``handle`` like any other outcome.
        """
        window = asyncio.Semaphore(self._max_pending)
        async with asyncio.TaskGroup() as group:
            for request in requests:
                await window.acquire()
                group.create_task(
                    self._run_one(request, handle, window), name=f"fetch {request.url}"
                )

    async def _run_one(
        self, request: FetchRequest, handle: Handler, window: asyncio.Semaphore
    ) -> None:
        try:
            outcome = await self._fetch_scoped(request)
            if self._observer is not None:
                self._observer.finished(outcome)
            try:
                await handle(outcome)
            except Exception as exc:  # a bug handing it on: this endpoint fails, alone
                if isinstance(outcome, FetchSuccess):
                    outcome.body.discard()
                await handle(_internal(request, exc, outcome.request_id))
        finally:
            window.release()

    async def _fetch_scoped(self, request: FetchRequest) -> FetchOutcome:
        """``fetch_one``, with a bug (any exception that is not ours) scoped to this one
        endpoint: it ends as an ``internal`` failure, the traceback in the ledger and the
        log, and the other endpoints go on."""
        try:
            failpoint("fetch")
            return await self.fetch_one(request)
        except Exception as exc:
            return _internal(request, exc, new_request_id())

    async def fetch_one(self, request: FetchRequest) -> FetchOutcome:
        """Fetch one request with retries. Never raises for a fetch problem."""
        request_id = new_request_id()
        task = asyncio.current_task()
        if task is not None:
            task.set_name(f"fetch {request_id} {redact_url(request.url)}")
        t0 = self._clock()
        started_at = self._epoch[0] + dt.timedelta(seconds=t0 - self._epoch[1])
        history: list[AttemptRecord] = []
        attempt = 0
        while True:
            if self._stopping:
                return _cancelled(request, request_id, started_at, t0, history, self._clock())
            attempt += 1
            try:
                result = await self._attempt(request, request_id, attempt, (t0, history))
            except Stopped:  # stop() was called while this request waited for a slot
                return _cancelled(request, request_id, started_at, t0, history, self._clock())
            except FetchError as error:
                retry = self.policy.should_retry(error, attempt)
                wait = self.policy.delay(error, request.url, attempt) if retry else 0.0
                history[-1] = dataclasses.replace(history[-1], wait_before_next=wait)
                self._notify(request, request_id, history[-1])
                if not retry:
                    return _failure(request, error, started_at, self._clock() - t0, history)
                await self._sleep(wait)  # no slot is held here
                continue
            self._notify(request, request_id, history[-1])
            return FetchSuccess(
                request=request,
                status=result.status,
                headers=result.headers,
                body=result.body,
                attempts=attempt,
                elapsed=self._clock() - t0,
                request_id=request_id,
                started_at=started_at,
                history=tuple(history),
            )

    def _notify(self, request: FetchRequest, request_id: str, record: AttemptRecord) -> None:
        if self._observer is not None:
            self._observer.attempt_finished(request, request_id, record)

    async def _attempt(
        self, request: FetchRequest, request_id: str, attempt: int, log: _Log
    ) -> TransportResult:
        """One attempt: its records go into ``log``, the one it took its outcome from last.

        Returns the response, or raises the attempt's :class:`FetchError` with its
        context bound, or :class:`Stopped`.
        """
        treq = self._transport_request(request, request_id)
        first = Leg(request, hedge=False, created=self._clock())
        delay = self.hedging.delay(request, self.config.timeout_seconds)
        scope = None
        if delay is not None:
            scope = HedgeScope(first, delay, lambda: self._hedge(first, treq, request_id, attempt))
        hedge: Leg | None = None
        winner = first
        try:
            await self._first(first, treq, request_id, attempt, scope)
            hedge = scope.hedge if scope is not None else None
            winner = await settle(first, hedge)
        finally:
            if scope is not None:
                await drop(scope.hedge, winner)
        if isinstance(winner.outcome, FetchError):
            winner.outcome.bind(
                url=redact_url(request.url),
                supplier=request.supplier_id,
                request_id=request_id,
                attempt=attempt,
            )
        return self._decided(first, hedge, winner, attempt, log)

    def _transport_request(self, request: FetchRequest, request_id: str) -> TransportRequest:
        cfg = self.config
        headers = {
            "User-Agent": cfg.user_agent,
            **request.headers,
            cfg.request_id_header: request_id,
        }
        return TransportRequest(
            url=request.url,
            headers=headers,
            max_bytes=cfg.limits.max_payload_bytes,
            spool_threshold=cfg.limits.spool_threshold_bytes,
            spool_dir=self._spool_dir,
            max_redirects=cfg.limits.max_redirects,
            max_decompression_ratio=cfg.limits.max_decompression_ratio,
            supplier_id=request.supplier_id,
        )

    async def _first(
        self,
        first: Leg,
        treq: TransportRequest,
        request_id: str,
        attempt: int,
        scope: HedgeScope | None,
    ) -> None:
        """The first request, in this task; its outcome goes into ``first``."""
        try:
            first.outcome = await self._leg(first, treq, request_id, attempt)
        except FetchError as exc:
            first.outcome = exc
        except asyncio.CancelledError:
            if scope is None or not scope.took_over():
                raise
            first.lost = True  # the hedge answered first
        finally:
            if scope is not None:
                scope.close()

    def _hedge(
        self, first: Leg, treq: TransportRequest, request_id: str, attempt: int
    ) -> Leg | None:
        """Start the hedge of ``first``, if the run goes on and the host's budget allows."""
        if self._stopping or not self.hedging.spend(first.request):
            return None
        # A copy of the request, not the same object: hooks that follow one request (the
        # breaker's half-open probe, adaptive windows) tell the two apart.
        leg = Leg(dataclasses.replace(first.request), True, self._clock(), first=first)
        leg.task = asyncio.get_running_loop().create_task(
            self._run_hedge(leg, treq, request_id, attempt)
        )
        return leg

    async def _run_hedge(
        self, leg: Leg, treq: TransportRequest, request_id: str, attempt: int
    ) -> None:
        try:
            leg.outcome = await self._leg(leg, treq, request_id, attempt)
        except (FetchError, Stopped) as exc:
            leg.outcome = exc
        except asyncio.CancelledError:  # the first request answered first
            leg.lost = True

    def _decided(
        self, first: Leg, hedge: Leg | None, winner: Leg, attempt: int, log: _Log
    ) -> TransportResult:
        """Record the attempt's legs (the winner last) and return or raise its outcome."""
        t0, history = log
        sent = hedge is not None and not isinstance(hedge.outcome, Stopped) and not never_ran(hedge)
        legs = [first, hedge] if sent and hedge is not None else [first]
        hedged = len(legs) > 1
        for leg in sorted(legs, key=lambda leg: leg is winner):
            history.append(leg_record(leg, attempt, t0, hedged=hedged, won=leg is winner))
        if hedged and winner.hedge and answered(winner):
            self.hedging.won(winner.request)
        if isinstance(winner.outcome, BaseException):
            raise winner.outcome
        result: TransportResult = winner.outcome
        return result

    async def _leg(
        self, leg: Leg, treq: TransportRequest, request_id: str, attempt: int
    ) -> TransportResult:
        """One request: the hooks' admission, then the slots, only while on the wire."""
        request = leg.request
        admitted: list[FetchHook] = []
        try:
            for hook in self.hooks:  # before any slot: a hook may wait (rate limit)
                await hook.admit(request)  # or fail fast: circuit_open, no slot taken
                admitted.append(hook)
            async with self.limiter.slot(request.url, request.supplier_id):
                if self._stopping:
                    raise Stopped
                leg.check_still_needed()
                if not leg.hedge:
                    self.hedging.sent(request)
                    if self._observer is not None:
                        self._observer.attempt_started(request, request_id, attempt)
                response = await self._send(leg, treq)
        finally:
            for hook in admitted:
                await hook.release(request)
        return _result(response, leg.elapsed)

    async def _send(self, leg: Leg, treq: TransportRequest) -> TransportResponse:
        """The hooks and the transport, bounded by the attempt timeout."""
        request, timeout = leg.request, self.config.timeout_seconds
        leg.put_on_wire(self._clock())
        try:
            async with asyncio.timeout(timeout):
                response = await chain(self.hooks, request, self._transport.send)(treq)
        except TimeoutError:
            leg.ended_at = self._clock()
            error = TransientFetchError(f"no complete response within {timeout}s", kind="timeout")
            error.elapsed = leg.elapsed
            raise error from None
        except FetchError as exc:
            leg.ended_at = self._clock()
            exc.elapsed = leg.elapsed
            raise
        except asyncio.CancelledError:  # the other request answered first, or a shutdown
            leg.ended_at = self._clock()
            raise
        leg.ended_at = self._clock()
        self.hedging.answered(request, leg.elapsed)
        return response


def _result(response: TransportResponse, elapsed: float) -> TransportResult:
    """A 2xx as a result; any other status as its typed error."""
    if response.body is None:
        retry_after = header_value(response.headers, "Retry-After")
        error = error_for_status(response.status, response.reason, retry_after)
        if response.redirects:  # the chain that ended here goes into the ledger
            error = with_redirects(error, " -> ".join(response.redirects))
        error.elapsed = elapsed
        raise error
    return TransportResult(
        response.status, response.headers, response.body, elapsed, response.redirects
    )


@dataclass(frozen=True, slots=True)
class TransportResult:
    """A response as the engine keeps it: status, headers, body, time, redirects."""

    status: int
    headers: Mapping[str, str]
    body: Body
    elapsed: float
    redirects: tuple[str, ...] = ()


def _documents_of(parser: DocumentParser) -> PayloadParser:
    parser.check()
    return lambda body: list(parser(body).documents)


def _paired(d: DecodedPayload, ok: FetchSuccess) -> FeedDocuments:
    return FeedDocuments(
        url=ok.request.url,
        request_id=ok.request_id,
        status=ok.status,
        format=d.format,
        kind=d.kind,
        documents=d.documents,
        warnings=d.warnings,
    )


def _payload_failure(outcome: FetchSuccess, exc: PayloadError) -> FetchFailure:
    return FetchFailure(
        request=outcome.request,
        error_kind="payload",
        message=str(exc),
        permanent=True,
        status=outcome.status,
        attempts=outcome.attempts,
        elapsed=outcome.elapsed,
        request_id=outcome.request_id,
        started_at=outcome.started_at,
        history=outcome.history,
    )


def _internal(request: FetchRequest, exc: Exception, request_id: str) -> FetchFailure:
    """An unexpected error for one endpoint: permanent for this run, retried by ``resume``."""
    trace = "".join(traceback.format_exception(exc)).strip()
    log.error(  # one line on the screen; the traceback is in the ledger and JSON logs
        "internal error for %s: %s: %s (supplyfeed trace %s)", redact_url(request.url),
        type(exc).__name__, exc, request_id,
        extra={"sf": {"supplier": request.supplier_id, "url": redact_url(request.url),
                      "request_id": request_id, "error_kind": "internal",
                      "traceback": trace}},
    )  # fmt: skip
    return FetchFailure(
        request=request,
        error_kind="internal",
        message=f"internal error: {type(exc).__name__}: {exc}\n{trace}",
        permanent=True,
        status=None,
        attempts=1,
        elapsed=0.0,
        request_id=request_id,
        started_at=dt.datetime.now(dt.UTC),
        history=(),
    )


def _failure(
    request: FetchRequest,
    error: FetchError,
    started_at: dt.datetime,
    elapsed: float,
    history: Sequence[AttemptRecord],
) -> FetchFailure:
    return FetchFailure(
        request=request,
        error_kind=error.kind,
        message=str(error),
        permanent=not isinstance(error, TransientFetchError),
        status=error.status,
        attempts=error.attempt,
        elapsed=elapsed,
        request_id=error.request_id,
        started_at=started_at,
        history=tuple(history),
    )


def _cancelled(
    request: FetchRequest,
    request_id: str,
    started_at: dt.datetime,
    t0: float,
    history: Sequence[AttemptRecord],
    now: float,
) -> FetchFailure:
    return FetchFailure(
        request=request,
        error_kind="cancelled",
        message="run stopping: not fetched",
        permanent=False,
        status=None,
        attempts=len({a.attempt for a in history}),
        elapsed=now - t0,
        request_id=request_id,
        started_at=started_at,
        history=tuple(history),
    )
