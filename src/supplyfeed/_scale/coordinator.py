"""The coordinator: a run whose endpoints run in shards elsewhere.

The :class:`~supplyfeed._run.pipeline.Runner` still starts the run (ledger rows for every
endpoint), writes the summary and finishes it; only its pipeline is replaced by
:class:`ScaledExecutor`, which cuts the endpoints into shards (``shards.py``), hands them
to the executor's workers and waits. Every ledger row is written by the shards into the
run's own database, so ``report``, ``resume`` and ``trace`` read a scaled-out run as any
other. The summary gains ``executor``: the executor, its workers, and per shard its
suppliers, hosts and every attempt (which worker, done or lost).

A shard that used up its attempts leaves its unfinished endpoints ``pending``; the run
then stops with a SinkError (exit 3) and ``supplyfeed resume`` runs what is left.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from .._exceptions import SinkError
from .._run.pipeline import Runner
from .._run.plan import PlannedEndpoint
from .._sink.base import Outcome, Sink
from .shards import Shard, make_shards
from .spec import ExecutorSpec, check_sink

if TYPE_CHECKING:  # a local run imports none of the backends (about 9 ms at start-up)
    from .executors import Attempts, Backend, Session
    from .worker import ShardReport, ShardTask

__all__ = ["SHARDS_PER_WORKER", "ScaledExecutor", "scaled_executor"]

# More shards than workers, so that a worker that finishes early takes another one and a
# lost worker costs one small shard; few enough that each shard's start-up stays cheap.
SHARDS_PER_WORKER = 4


@asynccontextmanager
async def scaled_executor(spec: ExecutorSpec, sink: Sink) -> AsyncIterator[ScaledExecutor | None]:
    """The executor for ``spec`` on an open sink, connected before the run starts (a
    scheduler that cannot be reached is an exit 2, not a run left half-started);
    None for ``local``."""
    if spec.kind == "local":
        yield None
        return
    check_sink(spec, sink.url)
    from .dask_executor import DaskBackend
    from .executors import ProcessBackend

    backend: Backend = (
        ProcessBackend(spec.workers) if spec.kind == "processes" else DaskBackend(spec.address)
    )
    async with backend.session(sink) as session:
        yield ScaledExecutor(backend.name, session)


class ScaledExecutor:
    """The Runner's :class:`~supplyfeed._run.pipeline.PartExecutor` for shards."""

    def __init__(self, name: str, session: Session) -> None:
        self.name = name
        self.session = session

    def stop(self) -> None:
        self.session.stop()

    async def execute(self, runner: Runner, todo: list[PlannedEndpoint]) -> dict[str, Any]:
        from .worker import ShardTask

        shards = make_shards(runner.suppliers, todo, self.session.workers * SHARDS_PER_WORKER)
        tasks = [
            ShardTask(runner.run_id, runner.options.label, s, runner.config, self.session.sink_url)
            for s in shards
        ]
        before = await runner.sink.endpoints(runner.run_id)
        progress = _Progress(
            runner, {r.endpoint.key for r in before if r.outcome is not Outcome.PENDING}
        )
        attempts = await self.session.run(tasks, progress.shard_done)
        if attempts.failed:
            raise SinkError(_failed(attempts, self.name))
        return self._summary(shards, attempts, finished=len(progress.seen) - progress.before)

    def _summary(self, shards: list[Shard], attempts: Attempts, finished: int) -> dict[str, Any]:
        tried = [attempts.by_shard.get(s.index, []) for s in shards]
        return {
            "name": self.name,
            "workers": self.session.workers,
            "endpoints_finished": finished,  # by this run's shards (the SLA estimate's count)
            "reruns": sum(max(0, len(t) - 1) for t in tried),
            "shards": [
                {
                    "shard": s.index,
                    "suppliers": list(s.supplier_ids),
                    "hosts": list(s.hosts),
                    "endpoints": s.endpoints,
                    "attempts": [a.as_dict() for a in t],
                }
                for s, t in zip(shards, tried, strict=True)
            ],
        }


def _failed(attempts: Attempts, name: str) -> str:
    first = min(attempts.failed)
    return (
        f"{len(attempts.failed)} shard(s) on {name} failed after every attempt "
        f"(shard {first}: {attempts.failed[first]}); `supplyfeed resume` runs what is left"
    )


class _Progress:
    """Tell the display about each endpoint of a shard once the shard is done."""

    def __init__(self, runner: Runner, done_before: set[str]) -> None:
        self.runner = runner
        self.seen: set[str] = set(done_before)  # finished before these shards ran (resume)
        self.before = len(done_before)

    async def shard_done(self, task: ShardTask, report: ShardReport) -> None:
        ids = set(task.shard.supplier_ids)
        for r in await self.runner.sink.endpoints(self.runner.run_id):
            key = r.endpoint.key
            if r.endpoint.supplier_id not in ids or r.outcome is Outcome.PENDING:
                continue
            if key not in self.seen:
                self.seen.add(key)
                self.runner.options.progress.advance(
                    r.endpoint.kind.value, r.outcome, r.records_loaded
                )
