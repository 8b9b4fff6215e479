"""The operator's views (issue 15), created with the schema on SQLite and PostgreSQL.

- ``inventory_latest``: the latest ``as_of`` of each (supplier_id, warehouse_id).
- ``inventory_current``: one row per (supplier_id, warehouse_id, sku) from the latest
  snapshot (max ``as_of``) of each (supplier, warehouse). ``inventory_positions`` already
  holds the best copy of each line among the parts of a snapshot (SPEC §6), so the parts
  of that snapshot add up here; parts of an older ``as_of`` do not (see docs/design.md).
- ``in_transit``: ship notice lines expected today or later, or with no expected date and
  shipped within the last 14 days (``in_transit_days``' default: a view takes no
  parameter, so ``supplyfeed reconcile`` renders :func:`in_transit_select` with its own).
- ``ack_exceptions``: acknowledgment lines backordered, rejected, acknowledged for
  another quantity than ordered, or accepted with changes (a changed date among them:
  no purchase order is stored, so the supplier's own status is the only word on dates).

Dates are ISO text in SQLite and ``date`` in PostgreSQL, so "today" is spelled per
dialect; both are the UTC date.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "IN_TRANSIT_DAYS",
    "VIEW_NAMES",
    "current_of",
    "current_positions_select",
    "in_transit_select",
    "view_statements",
]

IN_TRANSIT_DAYS: Final = 14
# In creation order: inventory_current reads inventory_latest.
VIEW_NAMES: Final = ("inventory_latest", "inventory_current", "in_transit", "ack_exceptions")

# The latest as_of of each (supplier, warehouse), without reading every row: a recursive
# walk seeks the primary key from one (supplier, warehouse) to the next (a loose index
# scan, which neither database does by itself), then one seek finds each pair's latest.
# A GROUP BY would read all of inventory_positions (every snapshot kept) for a few dozen
# rows.
_INVENTORY_LATEST: Final = """
WITH RECURSIVE pairs(supplier_id, warehouse_id) AS (
  SELECT supplier_id, warehouse_id FROM (
    SELECT supplier_id, warehouse_id FROM inventory_positions
    ORDER BY supplier_id, warehouse_id LIMIT 1) first_pair
  UNION ALL
  SELECT coalesce(
           CASE WHEN ({next_warehouse}) IS NOT NULL THEN p.supplier_id END,
           ({next_supplier})),
         coalesce(
           ({next_warehouse}),
           (SELECT w.warehouse_id FROM inventory_positions w
            WHERE w.supplier_id = ({next_supplier})
            ORDER BY w.warehouse_id LIMIT 1))
  FROM pairs p WHERE p.supplier_id IS NOT NULL
)
SELECT p.supplier_id, p.warehouse_id,
       (SELECT m.as_of FROM inventory_positions m
        WHERE m.supplier_id = p.supplier_id AND m.warehouse_id = p.warehouse_id
        ORDER BY m.as_of DESC LIMIT 1) AS as_of
FROM pairs p WHERE p.supplier_id IS NOT NULL""".format(
    # Each is one seek: equality on the key's prefix, then the next value in key order.
    # (A row-value comparison "(supplier, warehouse) > (s, w)" would be shorter, but
    # SQLite seeks on its first column only and then reads every row of the supplier.)
    next_warehouse="SELECT n.warehouse_id FROM inventory_positions n "
    "WHERE n.supplier_id = p.supplier_id AND n.warehouse_id > p.warehouse_id "
    "ORDER BY n.warehouse_id LIMIT 1",
    next_supplier="SELECT n.supplier_id FROM inventory_positions n "
    "WHERE n.supplier_id > p.supplier_id ORDER BY n.supplier_id LIMIT 1",
)


def current_of(latest: str, positions: str = "p") -> str:
    """The condition that a row of ``inventory_positions`` (alias ``positions``) is a
    current row of the ``inventory_latest`` row ``latest``: the one definition of
    "current" that the view, the rule checks and ``reconcile --json`` share."""
    return " AND ".join(
        f"{positions}.{c} = {latest}.{c}" for c in ("supplier_id", "warehouse_id", "as_of")
    )


def current_positions_select(columns: str) -> str:
    """``inventory_current``'s query with the columns given (of ``inventory_positions p``).

    The few (supplier, warehouse, latest as_of) rows are computed first (MATERIALIZED), so
    each is one primary-key seek into inventory_positions. Left to itself, SQLite flattens
    inventory_latest into the join and builds an automatic index over every row kept
    instead (5M rows: 15 s against 2 s for 500k current rows out)."""
    return (
        "\nWITH latest AS MATERIALIZED (SELECT supplier_id, warehouse_id, as_of FROM "
        f"inventory_latest)\nSELECT {columns}\nFROM latest\n"
        f"JOIN inventory_positions p ON {current_of('latest')}"
    )


_INVENTORY_CURRENT: Final = current_positions_select(
    "p.supplier_id, p.warehouse_id, p.sku, p.on_hand, p.available, p.uom, p.as_of, "
    "p.source, p.source_url, p.run_id, p.request_id"
)

_IN_TRANSIT: Final = """
SELECT l.supplier_id, l.asn_number, l.line_seq, l.po_number, l.po_line_number, l.sku,
       l.shipped_qty AS quantity, l.uom, n.ship_date, n.expected_delivery, n.carrier,
       n.tracking_number, l.source_url
FROM ship_notice_lines l
JOIN ship_notices n ON n.supplier_id = l.supplier_id AND n.asn_number = l.asn_number
WHERE n.expected_delivery >= {today}
   OR (n.expected_delivery IS NULL AND n.ship_date >= {since})"""

_ACK_EXCEPTIONS: Final = """
SELECT supplier_id, po_number, ack_number, line_number, sku, ordered_qty, acked_qty, uom,
       line_status, promised_date,
       CASE WHEN line_status = 'backordered' THEN 'backordered'
            WHEN line_status = 'rejected' THEN 'rejected'
            WHEN acked_qty <> ordered_qty THEN 'quantity_changed'
            ELSE 'changed' END AS reason,
       source_url
FROM po_ack_lines
WHERE line_status IN ('backordered', 'rejected', 'accepted_with_changes')
   OR acked_qty <> ordered_qty"""

# "today" and "today minus N days" (UTC) per dialect.
_TODAY: Final = {"sqlite": "date('now')", "postgresql": "(now() AT TIME ZONE 'UTC')::date"}
_DAYS_AGO: Final = {
    "sqlite": "date('now', '-{days} days')",
    "postgresql": "(now() AT TIME ZONE 'UTC')::date - {days}",
}


def in_transit_select(today: str, since: str) -> str:
    """The ``in_transit`` query with the SQL expressions (or placeholders) of today and of
    the earliest ship date that still counts when no delivery date is known."""
    return _IN_TRANSIT.format(today=today, since=since)


def view_statements(dialect: str) -> list[str]:
    """The views, made again at every open so that a database keeps up with this
    supplyfeed's definitions: SQLite has no ``CREATE OR REPLACE VIEW``, so each is dropped
    (dependents first) and created; PostgreSQL replaces them in place."""
    since = _DAYS_AGO[dialect].format(days=IN_TRANSIT_DAYS)
    bodies = {
        "inventory_latest": _INVENTORY_LATEST,
        "inventory_current": _INVENTORY_CURRENT,
        "in_transit": in_transit_select(_TODAY[dialect], since),
        "ack_exceptions": _ACK_EXCEPTIONS,
    }
    if dialect == "sqlite":
        drops = [f"DROP VIEW IF EXISTS {name}" for name in reversed(VIEW_NAMES)]
        return [*drops, *(f"CREATE VIEW {name} AS{bodies[name]}" for name in VIEW_NAMES)]
    return [f"CREATE OR REPLACE VIEW {name} AS{bodies[name]}" for name in VIEW_NAMES]
