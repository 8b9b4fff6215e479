"""The run pipeline: fetch -> (bounded queue) -> decode + load, with the ledger.

Stages run under one ``asyncio.TaskGroup``:

- the engine fetches every planned endpoint concurrently, within the limits;
- each outcome goes into a bounded queue; a full queue makes the engine wait before
  admitting more requests (backpressure), so a slow database never lets fetched bodies
  pile up in memory;
- one writer drains the queue and hands whole payloads to the sink, one batch queued
  behind the running one; the sink decodes them in its worker thread or process (CPU
  work stays off the event loop) and commits rows and ledger checkpoints in the same
  transaction.

A stop request (SIGTERM, Ctrl-C) makes the engine start nothing new; outcomes already
fetched are still written, and endpoints never fetched stay ``pending`` for ``resume``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .._config import FeedConfig, SupplierSpec
from .._exceptions import SinkError
from .._failpoints import failpoint
from .._fetch.auth import unverified_suppliers
from .._fetch.conditional import ValidatorStore
from .._fetch.engine import AsyncBatchIngestor
from .._fetch.hooks import FetchHook
from .._fetch.outcome import FetchFailure, FetchObserver, FetchOutcome, FetchSuccess
from .._fetch.policies import supplier_hedging, supplier_hooks
from .._fetch.transport import Transport
from .._formats.body import Body
from .._formats.registry import decode_payload
from .._redact import remember_secrets
from .._sink.base import Conflict, EndpointRecord, LoadUnit, Outcome, Sink
from .._sink.findings_store import record_findings
from .._sink.reconcile_json import refresh_positions
from .._telemetry.telemetry import Telemetry
from .begin import BegunRun, begin_run, new_run_id
from .drops import DropFiles
from .incremental import CursorTracker
from .paging import PagedFeeds
from .plan import PlannedEndpoint, plan_endpoints, supplier_limits
from .progress import NullProgress, ProgressListener, watched_by
from .summary import RunSummary, summarize
from .timings import PhaseTimer
from .unchanged import UnchangedFilter

__all__ = ["RunOptions", "Runner", "new_run_id"]

log = logging.getLogger("supplyfeed.run")

_QUEUE_DEPTH = 256
_DONE = object()
# Sink calls started before the previous one returned: one running, one waiting behind it.
_WRITES_IN_FLIGHT = 2


@dataclass(slots=True)
class RunOptions:
    """How a Runner runs: a new or resumed run, its progress, transport and telemetry."""

    label: str = ""  # the feeds file path, or "demo"
    run_id: str | None = None  # resume this run instead of starting a new one
    begun: BegunRun | None = None  # a new run already recorded (begin.py): go on with it
    progress: ProgressListener = field(default_factory=NullProgress)
    observer: FetchObserver | None = None
    transport: Transport | None = None
    spool_dir: Path | None = None
    hooks: Sequence[FetchHook] = ()  # extra engine hooks, outermost first
    http_cache: ValidatorStore | None = None  # default: the sink's (see _sink/http_cache.py)
    telemetry: Telemetry | None = None  # loop lag, pool, leaks, logs, metrics (_telemetry/)
    executor: PartExecutor | None = None  # shards on worker processes or Dask (_scale/)
    timings: PhaseTimer | None = None  # run --timings: plan, fetch, drain (timings.py)


class PartExecutor(Protocol):
    """Runs a run's endpoints in shards elsewhere (``_scale/``), each shard through
    :meth:`Runner.run_part`; returns what the summary shows of it (``executor``)."""

    async def execute(self, runner: Runner, todo: list[PlannedEndpoint]) -> dict[str, Any]: ...

    def stop(self) -> None: ...


class Runner:
    """One ingestion run (or the resumption of one) against an open sink."""

    def __init__(
        self,
        suppliers: Sequence[SupplierSpec],
        sink: Sink,
        config: FeedConfig,
        options: RunOptions | None = None,
    ) -> None:
        self.suppliers = suppliers
        self.sink = sink
        self.config = config
        self.options = options or RunOptions()
        begun = self.options.begun
        self.run_id = begun.run_id if begun is not None else self.options.run_id or new_run_id()
        self.ingestor: AsyncBatchIngestor | None = None
        self._interrupted = False
        self.unchanged = UnchangedFilter(
            self.options.http_cache or sink, enabled=config.conditional_requests
        )
        self._unverified = unverified_suppliers(suppliers)  # flagged in the summary
        secrets = [x for s in suppliers for x in s.auth.secrets]
        remember_secrets(x for s in suppliers for x in s.secrets)  # ${ENV} values in URLs
        self.pages = PagedFeeds(sink, self.run_id, secrets, recall=self.unchanged.recall)
        self.cursors = CursorTracker(sink)  # incremental.py
        self.drops = DropFiles(suppliers)  # file:// and sftp:// drop folders (drops.py)

    def stop(self) -> None:
        """Graceful stop: no new fetches; in-flight outcomes are still written."""
        self._interrupted = True
        if self.ingestor is not None:
            self.ingestor.stop()
        if self.options.executor is not None:
            self.options.executor.stop()

    async def run(self) -> RunSummary:
        telemetry = self.options.telemetry
        try:
            summary = await self._run()
            if telemetry is not None:
                telemetry.finished(summary)  # batch-job gauges, the run_finished log line
            return summary
        finally:
            if telemetry is not None:
                telemetry.close()  # the metrics textfile; logging off

    async def _run(self) -> RunSummary:
        t0 = time.monotonic()
        self._mark("start")
        todo = await self._prepare()
        self._mark("plan")
        by_key = {p.endpoint.key: p for p in todo}
        self.options.progress.start(dict(Counter(p.endpoint.kind.value for p in todo)))
        telemetry = self.options.telemetry
        if telemetry is not None:
            await telemetry.start(self.run_id, self.config, sink_url=self.sink.url)
        scaled: dict[str, Any] = {}
        try:
            if self.options.executor is None:
                await self._pipeline(todo, by_key)
            else:
                scaled = await self.options.executor.execute(self, todo)
        finally:
            await self.drops.aclose()
            self.options.progress.stop()
            if telemetry is not None:
                await telemetry.stop()  # closes its transport, then checks for leaks
        records = await self.sink.endpoints(self.run_id)
        summary = summarize(
            self.run_id,
            records,
            wall_seconds=time.monotonic() - t0,
            error_rate_threshold=self.config.sla.error_rate_threshold,
            interrupted=self._interrupted,
        )
        summary.conflicts = len(await self.sink.conflicts(self.run_id))
        summary.executor = scaled
        summary.warnings = [f"TLS verification off for supplier {s}" for s in self._unverified]
        summary.warnings += self.drops.warnings(records)
        checkpoint = asyncio.create_task(self.sink.checkpoint())  # beside the rule checks
        try:  # the rule checks and reconcile's positions (issue 15), side by side
            found, kept = await asyncio.gather(
                record_findings(self.sink.url, self.run_id), refresh_positions(self.sink.url)
            )
        finally:
            await checkpoint
        summary.findings = found.new
        summary.warnings = summary.warnings + found.warnings + kept
        summary.findings_checked = found.checked
        if telemetry is not None:
            summary.report = telemetry.report(
                records, summary.wall_seconds, self.config, handled=scaled.get("endpoints_finished")
            )
        status = "interrupted" if self._interrupted else "finished"
        await self.sink.finish_run(self.run_id, status, summary.to_dict())
        self._mark("checks")
        return summary

    async def run_part(self) -> None:
        """Load this runner's endpoints into the started run ``options.run_id`` without
        finishing it: one shard of a scaled-out run (``_scale/worker.py``). Endpoints the
        run already finished are skipped, as ``resume`` skips them."""
        if self.options.run_id is None:
            raise ValueError("run_part needs the id of a started run")
        todo = await self._prepare()
        try:
            await self._pipeline(todo, {p.endpoint.key: p for p in todo})
        finally:
            await self.drops.aclose()

    async def _prepare(self) -> list[PlannedEndpoint]:
        if self.options.run_id is None:  # a new run (recorded already, or now)
            return await self._start()
        planned = await self.drops.expand(plan_endpoints(self.suppliers))
        done = {Outcome.LOADED, Outcome.UNCHANGED, Outcome.QUARANTINED}
        finished = {
            r.endpoint.key for r in await self.sink.endpoints(self.run_id) if r.outcome in done
        }
        # A paged feed resumes from its page mark (paging.py), whatever its first page did.
        return [p for p in planned if p.endpoint.key not in finished or PagedFeeds.is_paged(p)]

    async def _start(self) -> list[PlannedEndpoint]:
        """Record the run and its ledger before anything slow (listing drop folders can
        take seconds), unless the caller already did (``options.begun``): a crash from
        here on leaves a run that ``resume`` finishes. The files found in drop folders
        join the ledger once listed."""
        begun = self.options.begun
        if begun is None:
            begun = await begin_run(self.sink, self.suppliers, self.options.label, self.run_id)
        if len(begun.fixed) == len(begun.planned):
            return begun.planned
        expanded = await self.drops.expand(begun.planned)
        known = {p.endpoint.key for p in begun.fixed}
        await self.sink.start_run(
            begun.run, [p.endpoint for p in expanded if p.endpoint.key not in known]
        )
        return expanded

    async def _pipeline(
        self, todo: list[PlannedEndpoint], by_key: dict[str, PlannedEndpoint]
    ) -> None:
        queue: asyncio.Queue[object] = asyncio.Queue(_QUEUE_DEPTH)

        async def handle(outcome: FetchOutcome) -> None:
            failpoint("after_fetch")
            self.cursors.seen(outcome, by_key[outcome.request.key])
            await queue.put(self._to_item(outcome, by_key[outcome.request.key]))

        walked: set[str] = set()  # paged feeds whose first page came: the plan counted it

        async def emit_page(outcome: FetchOutcome, page: PlannedEndpoint) -> None:
            failpoint("after_fetch")
            if page.endpoint.source in walked:  # a page the plan could not know of
                self.options.progress.discovered(page.endpoint.kind.value, 1)
            walked.add(page.endpoint.source)
            self.cursors.seen(outcome, page)
            await queue.put(self.pages.item(self._to_item(outcome, page), page))

        todo = await self.cursors.prepare(todo)  # incremental feeds ask for newer data only
        by_key.update((p.endpoint.key, p) for p in todo)
        paged = [p for p in todo if PagedFeeds.is_paged(p)]
        todo = [p for p in todo if not PagedFeeds.is_paged(p)]
        tele = self.options.telemetry
        self.ingestor = AsyncBatchIngestor(
            self.config,
            transport=self.options.transport or (tele.transport(self.config) if tele else None),
            mounts=self.drops.mounts,  # file:// and sftp:// never reach HTTP
            supplier_limits=supplier_limits(self.suppliers, self.config.max_concurrency),
            observer=watched_by(
                self.options.observer or (tele.observer if tele else None),
                self.options.progress,
            ),
            spool_dir=self.options.spool_dir,
            hooks=[
                *self.options.hooks,
                *supplier_hooks(self.suppliers, self.config),
                *await self.unchanged.hooks(p.endpoint.key for p in todo),
            ],
            hedging=supplier_hedging(self.suppliers, self.config),
        )
        if self._interrupted:
            self.ingestor.stop()
        try:
            async with self.ingestor, asyncio.TaskGroup() as group:
                writer = group.create_task(self._writer(queue), name="writer")
                try:
                    async with asyncio.TaskGroup() as fetchers:
                        fetchers.create_task(self.pages.walk(self.ingestor, paged, emit_page))
                        await self.ingestor.fetch_each((p.request for p in todo), handle)
                finally:
                    await queue.put(_DONE)
                self._mark("fetch")
                await writer
                self._mark("drain")
        except BaseExceptionGroup as group:
            # The caller gets the error that stopped the run (a SinkError, say), not the
            # task groups' wrapping of it.
            raise _first_error(group) from group

    def _mark(self, phase: str) -> None:
        if self.options.timings is not None:
            self.options.timings.mark(phase)

    def _to_item(self, outcome: FetchOutcome, planned: PlannedEndpoint) -> object:
        if isinstance(outcome, FetchFailure):
            return _failure_record(outcome, planned)
        unit = self._load_unit(outcome, planned)
        if self.unchanged.is_unchanged(outcome):  # 304, or the body last loaded: no decode
            unit.body.discard()
            unit.record.outcome = Outcome.UNCHANGED
            return unit.record
        return unit

    def _load_unit(self, outcome: FetchSuccess, planned: PlannedEndpoint) -> LoadUnit:
        ctx = planned.decode_context()
        body = outcome.body
        record = EndpointRecord(
            endpoint=planned.endpoint,
            outcome=Outcome.PENDING,
            attempts=outcome.attempts,
            http_status=outcome.status,
            bytes=body.size,
            request_id=outcome.request_id,
            started_at=outcome.started_at,
            elapsed=outcome.elapsed,
            retry_history=[a.as_dict() for a in outcome.history],
        )
        documents = functools.partial(decode_payload, planned.feed.format, body, ctx)
        return LoadUnit(self.run_id, record, body, documents, mapping=planned.feed.mapping)

    async def _writer(self, queue: asyncio.Queue[object]) -> None:
        """Group whatever is queued (up to ``batch_size`` payloads) into one transaction.

        Up to ``_WRITES_IN_FLIGHT`` groups are in the sink at once: the next group's call
        waits in the sink behind the running one (a sink runs its calls in the order they
        started), so a database worker never sits idle while the loop is busy fetching.
        The after-commit steps (validators, page marks, cursors, drop files, progress) run
        group by group, in the order the groups started.
        """
        slots = asyncio.Semaphore(_WRITES_IN_FLIGHT)
        started: asyncio.Queue[_Write | None] = asyncio.Queue()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._finish_writes(started, slots), name="writer-finish")
            done = False
            while not done:
                await slots.acquire()
                items = [await queue.get()]
                while len(items) < self.config.batch_size and not queue.empty():
                    items.append(queue.get_nowait())
                if items[-1] is _DONE:
                    items.pop()
                    done = True
                started.put_nowait(self._start_write(group, items))
            started.put_nowait(None)

    def _start_write(self, group: asyncio.TaskGroup, items: list[object]) -> _Write:
        """Start the sink calls of one group (in order: tasks start in creation order)."""
        units = [i for i in items if isinstance(i, LoadUnit)]
        skipped = [
            i for i in items if isinstance(i, EndpointRecord) and i.error_kind != "cancelled"
        ]
        recorded = group.create_task(self.sink.record(skipped, self.run_id)) if skipped else None
        loaded = group.create_task(self._load(units)) if units else None
        return _Write(skipped, units, recorded, loaded)

    async def _load(self, units: list[LoadUnit]) -> list[EndpointRecord]:
        """``sink.load``, with a bug scoped to the endpoint it hits.

        The sink's call is one transaction, so an unexpected error (not a
        :class:`SinkError`: the database itself failing stops the run) commits nothing.
        The units are then loaded one by one; a unit whose load fails alone ends as
        ``internal``, with the traceback in the ledger, and ``resume`` fetches it again.
        """
        try:
            return await self.sink.load(units)
        except SinkError:
            raise
        except Exception as exc:
            if len(units) == 1:
                return [await self._internal(units[0].record, exc, "load")]
            log.warning(
                "a batch of %d payloads failed to load (%s: %s); loading them one by one",
                len(units), type(exc).__name__, exc,
            )  # fmt: skip
            return [r for unit in units for r in await self._load([unit])]

    async def _internal(self, record: EndpointRecord, exc: Exception, stage: str) -> EndpointRecord:
        """End one endpoint as ``internal`` (counts it already has are kept: what it
        committed is in the tables), in the ledger and the log, not on the screen."""
        failed = internal_record(record, exc, stage)
        await self.sink.record([failed], self.run_id)
        return failed

    async def _finish_writes(
        self, started: asyncio.Queue[_Write | None], slots: asyncio.Semaphore
    ) -> None:
        while (write := await started.get()) is not None:
            if write.recorded is not None:
                await write.recorded
                await self._after_record(write.skipped)
            if write.loaded is not None:
                await self._after_load(write.units, write.loaded)
            slots.release()

    async def _after_record(self, skipped: list[EndpointRecord]) -> None:
        await self.unchanged.committed(skipped)
        await self._finish_sources(await self.pages.committed(skipped))
        await self.drops.committed(skipped)  # an unchanged drop file is done too
        self.cursors.failed(skipped)
        self._report(skipped)

    async def _after_load(
        self, units: list[LoadUnit], loaded: asyncio.Task[list[EndpointRecord]]
    ) -> None:
        try:
            results = await loaded
        finally:
            # Unlinking a large spool file can take long enough to stall the loop.
            spooled = [u.body for u in units if u.body.spooled]
            for unit in units:
                if not unit.body.spooled:
                    unit.body.discard()
            if spooled:
                await asyncio.to_thread(_discard_all, spooled)
        try:
            await self._after_commit(results)
        except SinkError:
            raise
        except Exception as exc:
            # The rows are committed; what the steps would have recorded (validators,
            # page marks, cursors, moved drop files, a sweep) is not. The group's
            # endpoints end as ``internal``, so ``resume`` fetches them and redoes it.
            results = [internal_record(r, exc, "after commit") for r in results]
            await self.sink.record(results, self.run_id)
        self._report(results)

    async def _after_commit(self, results: list[EndpointRecord]) -> None:
        failpoint("after_commit")
        # A body that lost records to staleness or a conflict is fetched again next time,
        # not answered by a 304 that would keep the table as it is.
        await self.unchanged.committed([r for r in results if not _lost_any(r)])
        finished = await self.pages.committed(results)
        await self._finish_sources(finished)
        await self.cursors.committed(results, finished)
        await self.drops.committed(results)  # move or delete files only once loaded

    async def _finish_sources(self, feeds: set[str]) -> None:
        """A paged feed's last page committed: its delivery is complete, so lines its
        earlier deliveries reported on pages this one no longer has go (docs/contract.md §6)."""
        for feed in sorted(feeds):
            await self.sink.finish_source(self.run_id, feed)

    def _report(self, committed: list[EndpointRecord]) -> None:
        if self.options.telemetry is not None:
            self.options.telemetry.written(committed)
        for r in committed:
            self.options.progress.advance(r.endpoint.kind.value, r.outcome, r.records_loaded)
            for c in r.conflicts:
                log_conflict(c, r)


@dataclass(slots=True)
class _Write:
    """One group's sink calls, already started."""

    skipped: list[EndpointRecord]
    units: list[LoadUnit]
    recorded: asyncio.Task[None] | None
    loaded: asyncio.Task[list[EndpointRecord]] | None


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first leaf of ``group`` that is not a cancellation (tasks cancelled because
    another one failed), or ``group`` itself when there is none."""
    for exc in group.exceptions:
        leaf = _first_error(exc) if isinstance(exc, BaseExceptionGroup) else exc
        if not isinstance(leaf, asyncio.CancelledError | BaseExceptionGroup):
            return leaf
    return group


def _lost_any(r: EndpointRecord) -> bool:
    return bool(r.records_stale or r.records_conflict)


def log_conflict(c: Conflict, r: EndpointRecord) -> None:
    """Each conflict once, with both request ids: the operator finds both deliveries."""
    line = f" line {c.line_key}" if c.line_key else ""
    log.warning(
        "conflict: %s %s%s differs at an equal version: kept %s from %s, not %s from %s",
        c.doc_type, c.doc_key, line, c.winner.request_id, c.winner.source,
        c.loser.request_id, c.loser.source,
        extra={"sf": {"supplier": r.endpoint.supplier_id, "kind": r.endpoint.kind.value,
                      "url": r.endpoint.url, "request_id": r.request_id,
                      "winner_request_id": c.winner.request_id,
                      "loser_request_id": c.loser.request_id}},
    )  # fmt: skip


def _discard_all(bodies: list[Body]) -> None:
    for body in bodies:
        body.discard()


def internal_record(record: EndpointRecord, exc: Exception, stage: str) -> EndpointRecord:
    """``record`` failed as ``internal`` at ``stage``: logged once (the traceback goes to
    the ledger and the JSON log only)."""
    trace = "".join(traceback.format_exception(exc)).strip()
    ep = record.endpoint
    log.error(
        "internal error (%s) for %s: %s: %s (supplyfeed trace %s)",
        stage, ep.url, type(exc).__name__, exc, record.request_id,
        extra={"sf": {"supplier": ep.supplier_id, "kind": ep.kind.value, "url": ep.url,
                      "request_id": record.request_id, "error_kind": "internal",
                      "traceback": trace}},
    )  # fmt: skip
    return dataclasses.replace(
        record,
        outcome=Outcome.FAILED,
        error_kind="internal",
        error_message=f"internal error ({stage}): {type(exc).__name__}: {exc}\n{trace}",
        permanent=True,
    )


def _failure_record(outcome: FetchFailure, planned: PlannedEndpoint) -> EndpointRecord:
    return EndpointRecord(
        endpoint=planned.endpoint,
        outcome=Outcome.FAILED,
        attempts=outcome.attempts,
        http_status=outcome.status,
        error_kind=outcome.error_kind,
        error_message=outcome.message,
        permanent=outcome.permanent,
        request_id=outcome.request_id,
        started_at=outcome.started_at,
        elapsed=outcome.elapsed,
        retry_history=[a.as_dict() for a in outcome.history],
    )
