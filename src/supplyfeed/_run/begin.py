"""Start a run: its row and its ledger, recorded before anything slow.

A run killed before its row exists leaves nothing for ``resume`` to finish (issue 13,
"the early window"). So the row and the ledger rows of every endpoint known without
network I/O are the first thing written: the CLI calls :func:`begin_run` as soon as the
sink is open, while the run's own modules (aiohttp, the engine) are still importing
(``_cli/commands.py``). This module is light on purpose: only the plan and the sink's
record types. The files of drop folders (listing them can take seconds) join the ledger
once :class:`~supplyfeed._run.pipeline.Runner` has listed them.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass

from .._config import SupplierSpec
from .._redact import remember_secrets
from .._sink.base import RunRecord, Sink
from .drops import DropFiles
from .plan import PlannedEndpoint, plan_endpoints

__all__ = ["BegunRun", "begin_run", "new_run_id"]


def new_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ-") + os.urandom(3).hex()


@dataclass(frozen=True, slots=True)
class BegunRun:
    """A run whose row and fixed endpoints are recorded; ``planned`` is every endpoint
    of the plan, drop-folder patterns included (still to be listed)."""

    run: RunRecord
    planned: list[PlannedEndpoint]
    fixed: list[PlannedEndpoint]  # the ones recorded: no pattern to list

    @property
    def run_id(self) -> str:
        return self.run.run_id


async def begin_run(
    sink: Sink, suppliers: Sequence[SupplierSpec], label: str, run_id: str | None = None
) -> BegunRun:
    """Record a new run of ``suppliers`` (the feeds file ``label``) in the open ``sink``."""
    # ${ENV} values in URLs are redacted from everything stored, the ledger's URLs first.
    remember_secrets(x for s in suppliers for x in s.secrets)
    planned = plan_endpoints(suppliers)
    run = RunRecord(
        run_id=run_id or new_run_id(),
        started_at=dt.datetime.now(dt.UTC),
        status="running",
        feeds=label,
    )
    drops = DropFiles(suppliers)
    fixed = [p for p in planned if not drops.is_pattern(p.request.url)]
    await sink.start_run(run, [p.endpoint for p in fixed])
    return BegunRun(run, planned, fixed)
