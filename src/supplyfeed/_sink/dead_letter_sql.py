"""What both SQL sinks share of dead letters: the SQL they run (sightings, error
updates, lookups by request) and the spool file of a large letter (:func:`spool_letter`).

Placeholders are numbered, ``$1`` as PostgreSQL writes them; :func:`dead_letter_sql`
renders them as ``?1`` for SQLite, which binds numbered parameters by position too. So
one text serves both dialects and the two sinks cannot drift apart.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .._formats.body import Body

__all__ = ["DeadLetterSql", "dead_letter_sql", "spool_letter"]


@dataclass(frozen=True, slots=True)
class DeadLetterSql:
    """The dead-letter statements that differ between SQLite and PostgreSQL."""

    open_letter: str  # (endpoint_key, sha256) -> id of the open letter holding those bytes
    seen_again: str  # (dead_letter_id, run_id, request_id, seen_at)
    letter_error: str  # (error_kind, error_where, error_message, id)
    by_request: str  # a where clause (alias d): letters created by, or met again by, $1

    @staticmethod
    def sightings(where: str) -> str:
        """The sightings of the letters ``where`` selects (alias ``d``), oldest first."""
        return (
            "SELECT s.* FROM sf_dead_letter_sightings s JOIN sf_dead_letters d "
            f"ON d.id = s.dead_letter_id{where} ORDER BY s.id"
        )


_POSTGRES = DeadLetterSql(
    open_letter=(
        "SELECT id FROM sf_dead_letters "
        "WHERE endpoint_key = $1 AND sha256 = $2 AND resolved_at IS NULL ORDER BY id LIMIT 1"
    ),
    seen_again=(
        "INSERT INTO sf_dead_letter_sightings (dead_letter_id, run_id, request_id, seen_at) "
        "VALUES ($1, $2, $3, $4)"
    ),
    letter_error=(
        "UPDATE sf_dead_letters SET error_kind = $1, error_where = $2, error_message = $3 "
        "WHERE id = $4"
    ),
    by_request=(
        " WHERE d.request_id = $1 OR d.id IN "
        "(SELECT dead_letter_id FROM sf_dead_letter_sightings WHERE request_id = $1)"
    ),
)


def dead_letter_sql(dialect: Literal["sqlite", "postgresql"]) -> DeadLetterSql:
    if dialect == "postgresql":
        return _POSTGRES
    pg = _POSTGRES
    return DeadLetterSql(
        open_letter=pg.open_letter.replace("$", "?"),
        seen_again=pg.seen_again.replace("$", "?"),
        letter_error=pg.letter_error.replace("$", "?"),
        by_request=pg.by_request.replace("$", "?"),
    )


def spool_letter(body: Body, folder: Path) -> Path:
    """Copy the payload to ``<folder>/<sha256>.bin``, fsynced before the transaction that
    names it commits; the same bytes quarantined again (or a retried batch) reuse the
    file. Returns the file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{body.sha256}.bin"
    if target.exists():
        return target
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out, body.open() as src:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
