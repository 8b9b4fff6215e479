"""The reliability checker: number what the fleet served, compare with what was stored.

Like Kafka's and Jepsen's checkers: after a fault, ``lost`` (expected rows missing),
``duplicated`` (a natural key stored more than once) and ``unexpected`` (rows no correct
client could have loaded) must all be empty, every expected-quarantined endpoint must
have a dead letter, and nothing else may be quarantined.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from supplyfeed._sink.factory import open_sink
from supplyfeed.sim import TABLES, GroundTruth, SupplierFleet

KEY_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "inventory_positions": ("supplier_id", "warehouse_id", "sku", "as_of"),
    "po_acks": ("supplier_id", "po_number", "ack_number"),
    "po_ack_lines": ("supplier_id", "po_number", "ack_number", "line_number"),
    "ship_notices": ("supplier_id", "asn_number"),
    "ship_notice_lines": ("supplier_id", "asn_number", "line_seq"),
}
# Faults whose outcome does not change when a crash adds attempts across sessions.
CRASH_SAFE_MIX = {
    "fail_then_ok": 3.0,
    "reset": 2.0,
    "truncate": 2.0,
    "down": 1.0,
    "not_found": 1.0,
    "malformed": 1.0,
}


@dataclass
class Verdict:
    lost: dict[str, int] = field(default_factory=dict)
    duplicated: dict[str, int] = field(default_factory=dict)
    unexpected: dict[str, int] = field(default_factory=dict)
    rows: int = 0
    missing_dead_letters: list[str] = field(default_factory=list)
    unexpected_dead_letters: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"rows={self.rows} lost={sum(self.lost.values())} "
            f"duplicated={sum(self.duplicated.values())} "
            f"unexpected={sum(self.unexpected.values())} "
            f"dead_letters_missing={len(self.missing_dead_letters)} "
            f"dead_letters_unexpected={len(self.unexpected_dead_letters)}"
        )

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.duplicated
            or self.unexpected
            or self.missing_dead_letters
            or self.unexpected_dead_letters
        )


async def check(db_url: str, truth: GroundTruth) -> Verdict:
    """Compare a database with the fleet's ground truth."""
    sink = open_sink(db_url, lock=False)
    await sink.open()
    try:
        verdict = Verdict()
        for table in TABLES:
            rows = await sink.table_rows(table)
            keys = [tuple(r[c] for c in KEY_COLUMNS[table]) for r in rows]
            verdict.rows += len(keys)
            d = truth.compare(table, keys)
            for name, found in (
                ("lost", d.lost),
                ("duplicated", d.duplicated),
                ("unexpected", d.unexpected),
            ):
                if found:
                    getattr(verdict, name)[table] = len(found)
        letters = {d.url for d in await sink.dead_letters(include_resolved=True)}
    finally:
        await sink.close()
    expected = set(truth.quarantined)
    verdict.missing_dead_letters = sorted(expected - letters)
    verdict.unexpected_dead_letters = sorted(letters - expected)
    return verdict


def write_feeds(fleet: SupplierFleet, path: Path, db_url: str, **defaults: Any) -> Path:
    settings = {
        "timeout_seconds": 2.0,
        "read_timeout": 2.0,
        "backoff_initial": 0.05,
        "backoff_max": 0.2,
        "batch_size": 10,
        **defaults,
    }
    path.write_text(yaml.safe_dump(fleet.feeds_document(sink=db_url, defaults=settings)))
    return path


async def cli(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> asyncio.subprocess.Process:
    """Start ``python -m supplyfeed ARGS`` (asynchronously: the fleet shares this loop)."""
    full_env = {k: v for k, v in os.environ.items() if k != "SUPPLYFEED_FAILPOINTS"}
    full_env.update(env or {})
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "supplyfeed",
        *args,
        env=full_env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(proc: asyncio.subprocess.Process, limit: float = 120.0) -> tuple[int, str]:
    async with asyncio.timeout(limit):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, (out + err).decode(errors="replace")


def summary_lines(output: str) -> Sequence[str]:
    return [line for line in output.splitlines() if line.strip()]
