"""The business-rule checks of issue 15, answered by the database.

Each rule is one SQL statement that selects the offending rows only (on SQLite and
PostgreSQL alike); the few rows found are worded here as :class:`Finding`. A finding is
identified by ``(rule, supplier_id, document, line)``: ``line`` names the line, SKU, unit
or source within the document ("" for a whole-document rule), so two bad SKUs of one
snapshot are two findings and a rerun that finds one again is the same finding
(``findings_store.py`` keeps them in ``sf_findings``).

The rules: shipped more than acknowledged per PO line, GS1 check digits (GTIN-8/12/13/14,
SSCC-18) wherever an identifier claims to be one, units no ``uom:`` table names, negative
or absurdly large quantities, available over on hand, an expected delivery before the
ship date, and a warehouse whose part went missing from a source's latest delivery.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from .._config import UnitConversion
from .base import PAGE_SUFFIX
from .reconcile_query import where_clause
from .views import current_positions_select

if TYPE_CHECKING:
    from .reconcile_query import Filters, Reader

__all__ = [
    "ABSURD_QUANTITY",
    "GTIN_QUALIFIERS",
    "Finding",
    "gs1_check_digit_sql",
    "gs1_problem",
    "live_findings",
    "matches",
    "run_clause",
    "unit_findings",
]

# A stock or order quantity above this is a decoding or keying error, not stock.
ABSURD_QUANTITY: Final = 1_000_000_000
# Product id qualifiers that say "this is a GTIN": X12 (element 235) UP = UCC-12, UK =
# GTIN-14, EN and EA = EAN-13; EDIFACT (7143) SRV = GS1 GTIN, EN = EAN.
GTIN_QUALIFIERS: Final = ("UP", "UK", "EN", "EA", "SRV")
# ``codes`` keys that name a GTIN or an SSCC (a JSON, CSV or XML mapping's own field).
_GTIN_KEYS: Final = ("gtin", "ean", "upc")
_GTIN_LENGTHS: Final = (8, 12, 13, 14)


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule broken by one document (or a line of it), as the report lists it."""

    rule: str
    severity: str  # error | warning
    supplier_id: str
    document: str
    line: str  # the line, SKU, unit or source within the document; "" for all of it
    detail: str
    sku: str | None = None  # for --sku
    warehouse_id: str | None = None  # for --warehouse

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.rule, self.supplier_id, self.document, self.line)

    def public(self) -> dict[str, Any]:
        """The fields ``reconcile --json`` shows."""
        return {
            "rule": self.rule,
            "severity": self.severity,
            "supplier_id": self.supplier_id,
            "document": self.document,
            "detail": self.detail,
        }


def matches(finding: Finding, filters: Filters) -> bool:
    """``--sku`` keeps findings about that SKU; ``--warehouse`` drops findings about
    another warehouse (ASNs and acknowledgments name none, so theirs stay, as in the
    other sections); ``--supplier`` keeps that supplier's."""
    if filters.supplier is not None and finding.supplier_id != filters.supplier:
        return False
    if filters.sku is not None and finding.sku != filters.sku:
        return False
    wh = finding.warehouse_id
    return filters.warehouse is None or wh is None or wh == filters.warehouse


async def live_findings(
    reader: Reader,
    filters: Filters,
    units: Sequence[UnitConversion] = (),
    run_id: str | None = None,
    beside: Reader | None = None,
) -> list[Finding]:
    """Every rule checked against the tables now, in key order. With ``run_id``, only the
    rows that run wrote are checked (the run-end check, ``findings_store.record_findings``):
    the same findings the whole check has for those rows, without reading the others.

    With ``beside``, a second connection to the same database, the rules are checked in
    two halves at once (each database works on each half by itself: SQLite in a thread
    without the GIL, PostgreSQL in a backend), the two heaviest in different halves."""

    async def first(r: Reader) -> list[Finding]:
        found = await _stock_rows(r, filters, run_id)
        found += await _unknown_unit_rows(r, filters, units, run_id)
        found += await _order_quantity_rows(r, filters, run_id)
        found += await _over_shipped_rows(r, filters, run_id)
        return found + await _delivery_before_ship_rows(r, filters, run_id)

    async def second(r: Reader) -> list[Finding]:
        found = await _container_rows(r, filters, run_id)
        found += await _identifier_rows(r, filters, run_id)
        return found + await _missing_part_rows(r, filters, run_id)

    if beside is None:
        found = await first(reader) + await second(reader)
    else:
        one, two = await asyncio.gather(first(reader), second(beside))
        found = one + two
    return sorted((f for f in found if matches(f, filters)), key=_order)


async def unit_findings(
    reader: Reader, filters: Filters, units: Sequence[UnitConversion]
) -> list[Finding]:
    """The one rule a run cannot check, as :func:`live_findings` has it: units the feeds
    file's ``uom:`` tables (which the run does not carry) never name."""
    found = await _unknown_unit_rows(reader, filters, units, None)
    return sorted((f for f in found if matches(f, filters)), key=_order)


def run_clause(run_id: str | None, column: str = "run_id") -> tuple[str, list[Any]]:
    """`` AND <column> = ?`` narrowing a rule to the rows run ``run_id`` wrote; nothing
    when ``run_id`` is None (the whole check ``reconcile`` makes)."""
    return ("", []) if run_id is None else (f" AND {column} = ?", [run_id])


def _where(
    filters: Filters, columns: Mapping[str, str], run_id: str | None, column: str = "run_id"
) -> tuple[str, list[Any]]:
    """The filters' ``AND`` clause, then the run's (:func:`run_clause`)."""
    where, params = where_clause(filters, columns, "AND")
    run, run_params = run_clause(run_id, column)
    return where + run, [*params, *run_params]


def _order(f: Finding) -> tuple[str, str, str, str]:
    return f.key


_STOCK: Final = {"sku": "sku", "warehouse": "warehouse_id", "supplier": "supplier_id"}
_LINES: Final = {"sku": "sku", "supplier": "supplier_id"}
_HEADERS: Final = {"supplier": "supplier_id"}


def _snapshot(row: Mapping[str, Any]) -> str:
    return f"inventory_snapshot {row['warehouse_id']} {row['as_of']}"


def _out_of_range(value: Any) -> str | None:
    if value is None:
        return None
    if value < 0:
        return "negative_quantity"
    return "absurd_quantity" if value > ABSURD_QUANTITY else None


# -- stock --------------------------------------------------------------------------------

_STOCK_ROWS: Final = f"""
SELECT supplier_id, warehouse_id, as_of, sku, on_hand, available FROM inventory_current
WHERE (on_hand < 0 OR available < 0 OR on_hand > {ABSURD_QUANTITY}
       OR available > {ABSURD_QUANTITY} OR available > on_hand)"""


async def _stock_rows(reader: Reader, filters: Filters, run_id: str | None) -> list[Finding]:
    """Current stock: negative or absurd quantities, available over on hand (one pass)."""
    where, params = _where(filters, _STOCK, run_id)
    found = []
    for row in await reader.fetch(_STOCK_ROWS + where, params):
        on_hand, available = row["on_hand"], row["available"]
        values = f"on_hand {on_hand}, available {available}"
        rule = _out_of_range(on_hand) or _out_of_range(available)
        if rule is not None:
            severity = "error"
            detail = f"SKU {row['sku']}: {values}"
        else:
            rule, severity = "available_exceeds_on_hand", "warning"
            detail = f"SKU {row['sku']}: available {available} > on_hand {on_hand}"
        found.append(_stock_finding(rule, severity, row, detail))
    return found


def _stock_finding(rule: str, severity: str, row: Mapping[str, Any], detail: str) -> Finding:
    return Finding(rule, severity, row["supplier_id"], _snapshot(row), row["sku"], detail,
                   row["sku"], row["warehouse_id"])  # fmt: skip


async def _unknown_unit_rows(
    reader: Reader, filters: Filters, units: Sequence[UnitConversion], run_id: str | None
) -> list[Finding]:
    """Current stock in a unit the feeds file's ``uom:`` tables never name (checked only
    when there are tables: without one, every unit is as good as another). One finding
    per snapshot and unit; with ``--sku``, the SKU's own lines."""
    known = sorted({u.from_uom for u in units} | {u.to_uom for u in units})
    if not known:
        return []
    where, params = _where(filters, _STOCK, run_id)
    marks = ", ".join("?" * len(known))
    sql = (
        "SELECT supplier_id, warehouse_id, as_of, uom, count(*) AS lines FROM inventory_current "
        f"WHERE (uom IS NULL OR uom NOT IN ({marks})){where} "
        "GROUP BY supplier_id, warehouse_id, as_of, uom"
    )
    return [
        Finding("unknown_uom", "warning", row["supplier_id"], _snapshot(row), row["uom"] or "",
                f"{row['lines']} lines in {row['uom'] or 'no unit'}, not in the uom tables",
                filters.sku, row["warehouse_id"])
        for row in await reader.fetch(sql, [*known, *params])
    ]  # fmt: skip


# -- acknowledgments and ship notices ---------------------------------------------------------

_ORDER_QUANTITIES: Final = f"""
SELECT 'po_ack' AS kind, supplier_id, po_number || ' ' || ack_number AS doc,
       line_number AS line, sku, ordered_qty AS q1, acked_qty AS q2
FROM po_ack_lines
WHERE (ordered_qty < 0 OR acked_qty < 0 OR ordered_qty > {ABSURD_QUANTITY}
       OR acked_qty > {ABSURD_QUANTITY}){{ack}}
UNION ALL
SELECT 'ship_notice', supplier_id, asn_number, CAST(line_seq AS TEXT), sku, shipped_qty, NULL
FROM ship_notice_lines
WHERE (shipped_qty < 0 OR shipped_qty > {ABSURD_QUANTITY}){{asn}}"""
_QTY_NAMES: Final = {"po_ack": ("ordered", "acknowledged"), "ship_notice": ("shipped", "")}


async def _order_quantity_rows(
    reader: Reader, filters: Filters, run_id: str | None
) -> list[Finding]:
    """Acknowledged, ordered or shipped quantities below zero or absurdly large."""
    where, params = _where(filters, _LINES, run_id)
    sql = _ORDER_QUANTITIES.format(ack=where, asn=where)
    found = []
    for row in await reader.fetch(sql, params * 2):
        names = _QTY_NAMES[row["kind"]]
        stated = [(n, q) for n, q in zip(names, (row["q1"], row["q2"]), strict=True) if n]
        rule = next(r for r in (_out_of_range(q) for _, q in stated) if r is not None)
        values = ", ".join(f"{n} {q}" for n, q in stated)
        document = f"{row['kind']} {row['doc']}"
        detail = f"line {row['line']} (SKU {row['sku']}): {values}"
        found.append(Finding(rule, "error", row["supplier_id"], document, row["line"], detail,
                             row["sku"]))  # fmt: skip
    return found


# Shipped more than acknowledged, per PO line and unit: lines in different units are not
# compared, and of several acknowledgments of a line the largest quantity counts. In
# PostgreSQL two groupings joined (it hashes them: 2 s against 6 s for a subquery per PO
# line over 200k lines each, on a loaded machine); filtered, the acknowledgments read are
# those of the POs shipped, so a --sku answer reads a few. In SQLite one seek per PO line into the
# covering index po_ack_lines_po_line (the join built an automatic index over every
# acknowledgment line instead: 1.25 s against 0.4 s).
_OVER_SHIPPED_SQLITE: Final = """
WITH s AS MATERIALIZED (
  SELECT supplier_id, po_number, po_line_number, sku, uom, sum(shipped_qty) AS shipped,
         (SELECT max(a.acked_qty) FROM po_ack_lines a
          WHERE a.supplier_id = l.supplier_id AND a.po_number = l.po_number
            AND a.line_number = l.po_line_number AND a.uom = l.uom) AS acked
  FROM ship_notice_lines l WHERE po_number IS NOT NULL{where}
  GROUP BY supplier_id, po_number, po_line_number, sku, uom)
SELECT supplier_id, po_number, po_line_number, sku, uom, shipped, acked FROM s
WHERE shipped > acked"""
_OVER_SHIPPED: Final = """
WITH s AS (
  SELECT supplier_id, po_number, po_line_number, sku, uom, sum(shipped_qty) AS shipped
  FROM ship_notice_lines WHERE po_number IS NOT NULL{where}{run}
  GROUP BY supplier_id, po_number, po_line_number, sku, uom)
SELECT s.supplier_id, s.po_number, s.po_line_number, s.sku, s.uom, s.shipped, a.acked
FROM s JOIN (
  SELECT supplier_id, po_number, line_number, uom, max(acked_qty) AS acked
  FROM po_ack_lines{shipped}
  GROUP BY supplier_id, po_number, line_number, uom) a
  ON a.supplier_id = s.supplier_id AND a.po_number = s.po_number
 AND a.line_number = s.po_line_number AND a.uom = s.uom
WHERE s.shipped > a.acked"""


# A run's over-shipped lines: those of the POs it wrote ship notice or acknowledgment
# lines for (either side can tip a line over).
_RUN_POS: Final = """ AND (supplier_id, po_number) IN (
    SELECT supplier_id, po_number FROM ship_notice_lines WHERE run_id = ?
    UNION SELECT supplier_id, po_number FROM po_ack_lines WHERE run_id = ?)"""


def _over_shipped_sql(dialect: str, where: str, run: str) -> str:
    if dialect == "sqlite":
        return _OVER_SHIPPED_SQLITE.format(where=where + run)
    # Unfiltered, every PO is shipped: the IN list would only cost a hash of 200k lines.
    shipped = "\n  WHERE (supplier_id, po_number) IN (SELECT supplier_id, po_number FROM s)"
    narrowed = bool(where or run)
    return _OVER_SHIPPED.format(where=where, run=run, shipped=shipped if narrowed else "")


async def _over_shipped_rows(reader: Reader, filters: Filters, run_id: str | None) -> list[Finding]:
    where, params = where_clause(filters, _LINES, "AND")
    run = "" if run_id is None else _RUN_POS
    params += [] if run_id is None else [run_id, run_id]
    return [
        Finding("shipped_exceeds_acknowledged", "warning", row["supplier_id"],
                f"po {row['po_number']} line {row['po_line_number']}", row["uom"],
                f"shipped {row['shipped']} {row['uom']}, acknowledged {row['acked']}",
                row["sku"])
        for row in await reader.fetch(_over_shipped_sql(reader.dialect, where, run), params)
    ]  # fmt: skip


async def _delivery_before_ship_rows(
    reader: Reader, filters: Filters, run_id: str | None
) -> list[Finding]:
    if filters.sku is not None:  # a whole-document rule: about no one SKU
        return []
    where, params = _where(filters, _HEADERS, run_id)
    sql = (
        "SELECT supplier_id, asn_number, ship_date, expected_delivery FROM ship_notices "
        f"WHERE expected_delivery < ship_date{where}"
    )
    return [
        Finding("delivery_before_ship", "error", row["supplier_id"],
                f"ship_notice {row['asn_number']}", "",
                f"expected {row['expected_delivery']}, shipped {row['ship_date']}")
        for row in await reader.fetch(sql, params)
    ]  # fmt: skip


# -- GS1 check digits -----------------------------------------------------------------------

_ALL_DIGITS: Final = {"sqlite": "{} NOT GLOB '*[^0-9]*'", "postgresql": "{} ~ '^[0-9]+$'"}


def gs1_check_digit_sql(column: str, length: int) -> str:
    """The GS1 check digit (GTIN-8/12/13/14, SSCC-18) of ``column``'s first ``length - 1``
    digits, as SQL: weights 3 and 1 alternate from the right, 3 next to the check digit."""
    terms = [
        f"CAST(substr({column}, {i}, 1) AS INTEGER) * {3 if (length - 1 - i) % 2 == 0 else 1}"
        for i in range(1, length)
    ]
    return f"(10 - ({' + '.join(terms)}) % 10) % 10"


def _gs1_valid_sql(dialect: str, column: str, lengths: Sequence[int]) -> str:
    """1 when ``column`` is all digits, of one of ``lengths``, with a right check digit;
    else 0. Left zeros change no GS1 check digit, so every length is checked as 18 digits.
    A CASE, so PostgreSQL never casts a non-digit."""
    # An 18-digit id needs no padding (SSCCs: 17 string builds a row fewer).
    padded = (
        column
        if tuple(lengths) == (18,)
        else f"substr('00000000000000000' || {column}, length({column}), 18)"
    )
    shape = f"length({column}) IN ({', '.join(map(str, lengths))}) AND " + _ALL_DIGITS[
        dialect
    ].format(column)
    check = f"CAST(substr({padded}, 18, 1) AS INTEGER) = {gs1_check_digit_sql(padded, 18)}"
    return f"CASE WHEN {shape} THEN CASE WHEN {check} THEN 1 ELSE 0 END ELSE 0 END"


def gs1_problem(kind: str, ident: str) -> str:
    """Why ``ident`` is not a valid GTIN or SSCC (``kind``), in words."""
    lengths = (18,) if kind == "SSCC" else _GTIN_LENGTHS
    if not (ident.isascii() and ident.isdigit()) or len(ident) not in lengths:
        wanted = "18" if kind == "SSCC" else "8, 12, 13 or 14"
        return f"is not {wanted} digits"
    return "fails its check digit"


async def _container_rows(reader: Reader, filters: Filters, run_id: str | None) -> list[Finding]:
    """Ship notice lines whose container id looks like an SSCC (18 digits: an X12 856
    MAN*GM, an EDIFACT GIN+BJ) but has a wrong check digit."""
    valid = _gs1_valid_sql(reader.dialect, "container_id", (18,))
    digits = _ALL_DIGITS[reader.dialect].format("container_id")
    where, params = _where(filters, _LINES, run_id)
    sql = (
        "SELECT supplier_id, asn_number, line_seq, sku, container_id FROM ship_notice_lines "
        # the filters (and the run) before the check digit: SQLite tests in this order
        f"WHERE length(container_id) = 18{where} AND {digits} AND {valid} = 0"
    )
    return [
        Finding("sscc_check_digit", "error", row["supplier_id"], f"ship_notice {row['asn_number']}",
                str(row["line_seq"]),
                f"line {row['line_seq']}: SSCC {row['container_id']} fails its check digit",
                row["sku"])
        for row in await reader.fetch(sql, params)
    ]  # fmt: skip


# Where an identifier claims to be a GTIN or an SSCC: the line's SKU when its qualifier
# (codes.sku) is a GTIN qualifier, or a codes entry named gtin/ean/upc/sscc or an EDIFACT
# PIA id of type SRV or EN (kept in codes as "PIA<function>:<type>").
_CODES_EACH: Final = {"sqlite": "json_each(t.codes) j", "postgresql": "jsonb_each_text(t.codes) j"}
_CLAIMS: Final = """
SELECT {columns},
       CASE WHEN j.key = 'sku' THEN t.sku ELSE j.value END AS ident,
       CASE WHEN lower(j.key) = 'sscc' THEN 'SSCC' ELSE 'GTIN' END AS kind,
       CASE WHEN j.key = 'sku' THEN 'SKU (' || j.value || ')' ELSE j.key END AS field
FROM {table} t, {each}
WHERE t.codes IS NOT NULL{where}
  AND ((j.key = 'sku' AND j.value IN ({qualifiers}))
       OR lower(j.key) IN ({keys}) OR j.key LIKE 'PIA%:SRV' OR j.key LIKE 'PIA%:EN')"""
# inventory_current with the lines' codes (the view shows none): the view's own query.
_CURRENT_WITH_CODES: Final = (
    "("
    + current_positions_select("p.supplier_id, p.warehouse_id, p.as_of, p.sku, p.codes, p.run_id")
    + ")"
)
_CLAIM_TABLES: Final = (
    (_CURRENT_WITH_CODES, "t.supplier_id, t.warehouse_id, t.as_of, t.sku, '' AS doc, "
     "t.sku AS line", _STOCK),
    ("po_ack_lines", "t.supplier_id, NULL AS warehouse_id, NULL AS as_of, t.sku, "
     "'po_ack ' || t.po_number || ' ' || t.ack_number AS doc, t.line_number AS line", _LINES),
    ("ship_notice_lines", "t.supplier_id, NULL AS warehouse_id, NULL AS as_of, t.sku, "
     "'ship_notice ' || t.asn_number AS doc, CAST(t.line_seq AS TEXT) AS line", _LINES),
)  # fmt: skip


async def _identifier_rows(reader: Reader, filters: Filters, run_id: str | None) -> list[Finding]:
    dialect = reader.dialect
    quoted = ", ".join(f"'{q}'" for q in GTIN_QUALIFIERS)
    keys = ", ".join(f"'{k}'" for k in (*_GTIN_KEYS, "sscc"))
    gtin = _gs1_valid_sql(dialect, "ident", _GTIN_LENGTHS)
    sscc = _gs1_valid_sql(dialect, "ident", (18,))
    selects, params = [], []
    for table, columns, filterable in _CLAIM_TABLES:
        columns_of = {k: f"t.{c}" for k, c in filterable.items()}
        where, table_params = _where(filters, columns_of, run_id, "t.run_id")
        selects.append(_CLAIMS.format(columns=columns, table=table, each=_CODES_EACH[dialect],
                                      where=where, qualifiers=quoted, keys=keys))  # fmt: skip
        params += table_params
    sql = (
        f"SELECT * FROM ({' UNION ALL '.join(selects)}) c WHERE ident IS NOT NULL AND "
        f"CASE WHEN kind = 'SSCC' THEN {sscc} ELSE {gtin} END = 0"
    )
    return [_identifier_finding(row) for row in await reader.fetch(sql, params)]


def _identifier_finding(row: Mapping[str, Any]) -> Finding:
    kind, ident = row["kind"], row["ident"]
    rule = "sscc_check_digit" if kind == "SSCC" else "gtin_check_digit"
    document = row["doc"] or _snapshot(row)
    where = f"SKU {row['sku']}" if row["as_of"] is not None else f"line {row['line']}"
    article = "an" if kind == "SSCC" else "a"
    detail = f"{where}: {row['field']} {ident} {gs1_problem(kind, ident)} ({article} {kind})"
    return Finding(rule, "error", row["supplier_id"], document, f"{row['line']} {row['field']}",
                   detail, row["sku"], row["warehouse_id"])  # fmt: skip


# -- parts by source (docs/contract.md §6) -------------------------------------------------

# A source's deliveries, newest first, from the inventory parts sf_documents keeps (one
# row per part: the snapshot key + source + page, with the run that wrote it). The latest
# delivery counts only when complete: every ledger row of the source in that run loaded,
# and its written parts hold every record it decoded (a part found unchanged or stale is
# not written again, so a warehouse it still reports could look missing: then nothing is
# said). A warehouse of the delivery before it that the latest has no part for is missing.
_MISSING_PARTS: Final = """
WITH parts AS (
  SELECT d.source, d.run_id, r.started_at, d.records,
         {supplier} AS supplier_id, {warehouse} AS warehouse_id, {as_of} AS as_of
  FROM sf_documents d JOIN sf_runs r ON r.run_id = d.run_id
  WHERE d.doc_type = 'inventory_snapshot'),
deliveries AS (
  SELECT source, run_id, records,
         row_number() OVER (PARTITION BY source ORDER BY started_at DESC, run_id DESC) AS n
  FROM (SELECT source, run_id, started_at, sum(records) AS records FROM parts
        GROUP BY source, run_id, started_at) g),
ledger AS (
  SELECT l.source, l.run_id, l.records AS written, e.decoded, e.unfinished
  FROM deliveries l JOIN (
    SELECT run_id, {source_of_key} AS source, sum(records) AS decoded,
           sum(CASE WHEN outcome = 'loaded' THEN 0 ELSE 1 END) AS unfinished
    FROM sf_endpoints WHERE run_id IN (SELECT run_id FROM deliveries WHERE n = 1)
    GROUP BY run_id, {source_of_key}) e ON e.run_id = l.run_id AND e.source = l.source
  WHERE l.n = 1{latest})
SELECT p.supplier_id, p.warehouse_id, max(p.as_of) AS as_of, p.source,
       latest.run_id, previous.run_id AS previous_run
FROM ledger latest
JOIN deliveries previous ON previous.source = latest.source AND previous.n = 2
JOIN parts p ON p.source = previous.source AND p.run_id = previous.run_id
WHERE latest.unfinished = 0 AND latest.written = latest.decoded{where}
  AND NOT EXISTS (SELECT 1 FROM parts q WHERE q.source = latest.source
                  AND q.run_id = latest.run_id AND q.supplier_id = p.supplier_id
                  AND q.warehouse_id = p.warehouse_id)
GROUP BY p.supplier_id, p.warehouse_id, p.source, latest.run_id, previous.run_id"""
# An endpoint key's source (``Endpoint.source``: the key up to its first page suffix),
# so the ledger joins the deliveries by equality, not by a prefix test per pair (that was
# quadratic in the endpoints of a run).
_SOURCE_OF_KEY: Final = {
    "sqlite": "CASE WHEN instr(endpoint_key, '{s}') > 0 "
    "THEN substr(endpoint_key, 1, instr(endpoint_key, '{s}') - 1) ELSE endpoint_key END",
    "postgresql": "CASE WHEN strpos(endpoint_key, '{s}') > 0 "
    "THEN left(endpoint_key, strpos(endpoint_key, '{s}') - 1) ELSE endpoint_key END",
}
_PART_KEY: Final = {
    "sqlite": "json_extract(d.doc_key, '$[{}]')",
    "postgresql": "(d.doc_key::jsonb ->> {})",
}


async def _missing_part_rows(reader: Reader, filters: Filters, run_id: str | None) -> list[Finding]:
    if filters.sku is not None:  # about a warehouse, not a SKU
        return []
    part = _PART_KEY[reader.dialect]
    columns = {"supplier": "p.supplier_id", "warehouse": "p.warehouse_id"}
    where, params = where_clause(filters, columns, "AND")
    latest, latest_params = run_clause(run_id, "l.run_id")  # the run is the latest delivery
    params = [*latest_params, *params]
    sql = _MISSING_PARTS.format(
        supplier=part.format(0), warehouse=part.format(1), as_of=part.format(2),
        source_of_key=_SOURCE_OF_KEY[reader.dialect].format(s=PAGE_SUFFIX), where=where,
        latest=latest,
    )  # fmt: skip
    return [
        Finding("part_missing", "warning", row["supplier_id"],
                f"inventory_snapshot {row['warehouse_id']} {row['as_of']}", row["source"],
                f"{row['source']}: its latest delivery (run {row['run_id']}) has no part for "
                f"warehouse {row['warehouse_id']}; the one before (run {row['previous_run']}) "
                f"reported it as of {row['as_of']}", None, row["warehouse_id"])
        for row in await reader.fetch(sql, params)
    ]  # fmt: skip
