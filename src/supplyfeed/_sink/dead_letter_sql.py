"""The dead-letter SQL both SQL sinks run (sightings, error updates, lookups by request).

Placeholders are numbered, ``$1`` as PostgreSQL writes them; :func:`dead_letter_sql`
renders them as ``?1`` for SQLite, which binds numbered parameters by position too. So
one text serves both dialects and the two sinks cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["DeadLetterSql", "dead_letter_sql"]


@dataclass(frozen=True, slots=True)
class DeadLetterSql:
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
