"""Each current snapshot's positions kept as the JSON ``reconcile --json`` writes (issue 15).

The ``positions`` section is every current position (500k rows at 5M inventory rows),
and spelling them as JSON was most of the answer's time: SQLite 0.65 s, PostgreSQL 1.6 s
of one backend, whatever the SQL (PostgreSQL's text functions cost about 2 us a row).
So the run that changed a snapshot writes its positions' text once, at its end
(``reconcile_json.refresh_positions``, beside the rule checks), into ``sf_position_json``: one
row per (supplier, warehouse, latest ``as_of``), the very chunk
``reconcile_json.write_json`` streams, built by the same statement. ``reconcile`` reads a
kept chunk where there is one and spells the partition itself where there is none.

A kept chunk is never stale: every change to ``inventory_positions`` comes with a change
to the ``sf_documents`` row of the part that made it (a new, replaced or dropped part of
that supplier and warehouse; docs/contract.md §6), and a trigger on ``sf_documents``
deletes the chunks of that supplier and warehouse in the same transaction, on any load
path, in both databases. A chunk is keyed by the ``as_of`` it was built from, so a newer
snapshot is never answered with an older one's positions. Rows changed by hand, outside
supplyfeed, are the one way round it: ``DELETE FROM sf_position_json`` then.
"""

from __future__ import annotations

from typing import Final

__all__ = ["TABLE", "position_json_statements"]

TABLE: Final = "sf_position_json"
_COLUMNS: Final = "supplier_id {text}, warehouse_id {text}, as_of {as_of}, json {json}"
_PRIMARY_KEY: Final = "PRIMARY KEY (supplier_id, warehouse_id, as_of)"
# A chunk is a partition's JSON (1.3 MB for 10,000 positions): SQLite keeps it in overflow
# pages of an ordinary (rowid) table; PostgreSQL out of line and uncompressed (EXTERNAL),
# so a read is a copy, not a decompression. bytea: what the reader's statement gives.
_SQLITE_TABLE: Final = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    + _COLUMNS.format(text="TEXT NOT NULL", as_of="TEXT NOT NULL", json="TEXT NOT NULL")
    + f", {_PRIMARY_KEY}) STRICT"
)
_PG_TABLE: Final = f"""
DO $$ BEGIN
  IF to_regclass('{TABLE}') IS NULL THEN
    CREATE TABLE {TABLE} ({
    _COLUMNS.format(text="text NOT NULL", as_of="timestamptz NOT NULL", json="bytea NOT NULL")
}, {_PRIMARY_KEY});
    ALTER TABLE {TABLE} ALTER COLUMN json SET STORAGE EXTERNAL;
  END IF;
END $$"""

# A document of an inventory snapshot part names its supplier and warehouse first:
# doc_key is ["supplier", "warehouse", "as_of", "source", "page"] (semantics.part_ident).
_SQLITE_DROP: Final = (
    f"DELETE FROM {TABLE} WHERE supplier_id = json_extract({{row}}.doc_key, '$[0]') "
    f"AND warehouse_id = json_extract({{row}}.doc_key, '$[1]');"
)
_SQLITE_TRIGGERS: Final = tuple(
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_{event.lower()} AFTER {event} ON sf_documents "
    f"WHEN {row}.doc_type = 'inventory_snapshot' BEGIN {_SQLITE_DROP.format(row=row)} END"
    for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD"))
)
_PG_FUNCTION: Final = f"""
CREATE OR REPLACE FUNCTION {TABLE}_stale() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE part sf_documents;
BEGIN
  IF TG_OP = 'DELETE' THEN part := OLD; ELSE part := NEW; END IF;
  DELETE FROM {TABLE} WHERE supplier_id = part.doc_key::jsonb ->> 0
                        AND warehouse_id = part.doc_key::jsonb ->> 1;
  RETURN NULL;
END $$"""
# Created when missing (CREATE OR REPLACE TRIGGER needs PostgreSQL 14; a DROP at every
# open would lock sf_documents against every reader).
_PG_TRIGGER: Final = """
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = '{name}'
                 AND tgrelid = 'sf_documents'::regclass) THEN
    CREATE TRIGGER {name} AFTER {events} ON sf_documents FOR EACH ROW
    WHEN ({row}.doc_type = 'inventory_snapshot') EXECUTE FUNCTION {table}_stale();
  END IF;
END $$"""
_PG_TRIGGERS: Final = (
    _PG_FUNCTION,
    _PG_TRIGGER.format(name=f"{TABLE}_written", events="INSERT OR UPDATE", row="NEW", table=TABLE),
    _PG_TRIGGER.format(name=f"{TABLE}_dropped", events="DELETE", row="OLD", table=TABLE),
)


def position_json_statements(dialect: str) -> tuple[str, ...]:
    """The table, and the triggers that make a change to a snapshot part drop the chunks
    of its supplier and warehouse (after the tables: they are on ``sf_documents``)."""
    if dialect == "sqlite":
        return (_SQLITE_TABLE, *_SQLITE_TRIGGERS)
    return (_PG_TABLE, *_PG_TRIGGERS)
