"""``supplyfeed reconcile --json`` speed on SQLite and PostgreSQL (issue 15).

The issue's dataset, by default: 50 warehouses x 10 snapshots x 10,000 lines = 5M
inventory rows over a catalogue of 100,000 SKUs (each warehouse stocks 10,000 of them,
each SKU is in about 5 warehouses), plus 200,000 ship notice lines (20,000 notices) and
200,000 acknowledgment lines, and the ledger rows a real load leaves (a run per snapshot
round, one part per warehouse and round in ``sf_documents``, one endpoint per supplier
and run). It is written with SQL straight into the tables (number series, rows in key
order: no decoding, no sink), once: the SQLite file stays under
``$TMPDIR/supplyfeed-bench-reconcile/`` and the PostgreSQL database
(``supplyfeed_bench_reconcile_<hash of the shape>``) on its server, and later runs reuse them
(``--rebuild`` builds again, ``--drop`` removes them).

Then, per database and question, median of ``--runs``:

- whole process: ``python -m supplyfeed reconcile --db URL --json [filter]`` as the user
  runs it (interpreter start, imports, schema check, every query, JSON to stdout);
- stream: the same answer in-process as the command writes it (``reconcile_json.write_json``:
  the database spells the JSON), to /dev/null, without start-up;
- rows: the same answer in-process the way it was written before (``reconcile.answer``:
  every row a dict, then ``msgspec.json.encode``), and rows / stream, the ratio;
- rows returned: every row of every section of the JSON.

The questions: ``--sku`` (how much of one SKU, where, in transit, exceptions),
``--warehouse``, ``--supplier`` and no filter (every current position: 500k rows out).

PostgreSQL: the server of ``SUPPLYFEED_BENCH_PG`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``); ``--no-pg`` skips it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final

import asyncpg
import msgspec

from supplyfeed._cli.reconcile import ReconcileOptions, answer
from supplyfeed._sink.factory import open_sink
from supplyfeed._sink.findings_store import record_findings
from supplyfeed._sink.reconcile_json import refresh_position_json, write_json
from supplyfeed._sink.reconcile_query import Filters, open_reader
from supplyfeed._sink.schema import create_statements

ADMIN_URL = os.environ.get("SUPPLYFEED_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SUPPLIERS = 5
BUILT = "bench_reconcile_built"  # a marker table: the fill finished


@dataclass(frozen=True, slots=True)
class Shape:
    warehouses: int
    snapshots: int
    lines: int  # per snapshot of a warehouse
    catalogue: int  # distinct SKUs
    asn_lines: int
    ack_lines: int

    @property
    def rows(self) -> int:
        return self.warehouses * self.snapshots * self.lines

    @property
    def name(self) -> str:
        return (
            f"w{self.warehouses}_s{self.snapshots}_l{self.lines}_c{self.catalogue}"
            f"_a{self.asn_lines}_k{self.ack_lines}"
        )


# -- the fill, in SQL ---------------------------------------------------------------------
#
# Spelled per dialect: a number series, zero-padded text, and times (fixed ones, so a
# rebuilt database holds the same rows; "now" moves on, so stale feeds and in transit
# depend on the day the database was built).

_SQLITE: dict[str, str] = {
    "series": "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {n} - 1)",
    "pad": "printf('%0{width}d', {value})",
    "as_of": "strftime('%Y-%m-%dT%H:00:00Z', 'now', '-' || ({k_back}) || ' hours')",
    "day": "date('now', ({days}) || ' days')",
    "now": "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
}
_PG: dict[str, str] = {
    "series": "WITH n(i) AS (SELECT generate_series(0, {n} - 1))",
    "pad": "lpad(({value})::text, {width}, '0')",
    "as_of": "date_trunc('hour', now()) - ({k_back}) * interval '1 hour'",
    "day": "current_date + ({days})",
    "now": "now()",
}
_PROV = "'bench', 'bench://feed', 'bench://feed'"  # run_id, source_url, source


def _fill(shape: Shape, d: dict[str, str]) -> list[str]:
    """INSERT ... SELECT over number series; inventory rows come in primary-key order
    (supplier, warehouse, as_of, sku) so each insert appends to the key's b-tree."""
    pad = d["pad"].format
    per_wh = shape.snapshots * shape.lines
    per_supplier = shape.rows // SUPPLIERS
    # Row i: supplier s = i / per_supplier; its warehouses are s, s + 5, s + 10 ...
    s = f"(i / {per_supplier})"
    wh = f"((i % {per_supplier}) / {per_wh} * {SUPPLIERS} + {s})"
    k = f"(i / {shape.lines} % {shape.snapshots})"
    j = f"(i % {shape.lines})"
    # Warehouse w's SKUs start at w * catalogue / warehouses: each SKU in a few of them.
    stride = shape.catalogue // shape.warehouses
    sku = "'SKU-' || " + pad(width=6, value=f"({wh} * {stride} + {j}) % {shape.catalogue}")
    as_of = d["as_of"].format(k_back=f"{shape.snapshots} - 1 - {k}")
    qty = "(i * 7) % 500"
    asn, po = (
        "'ASN-' || " + pad(width=6, value="i / 10"),
        "'PO-' || " + pad(width=6, value="i / 10"),
    )
    line_sku = "'SKU-' || " + pad(width=6, value=f"(i * 7919) % {shape.catalogue}")
    line_supplier = f"'SUP-' || (i / 10 % {SUPPLIERS})"
    series = d["series"].format
    return [
        f"{series(n=shape.rows)} INSERT INTO inventory_positions (supplier_id, warehouse_id, "
        "as_of, sku, on_hand, available, uom, run_id, source_url, source) "
        f"SELECT 'SUP-' || {s}, 'W' || {pad(width=2, value=wh)}, {as_of}, {sku}, {qty}, "
        # available <= on_hand, except one row in 100,003 (a finding to find)
        f"CASE WHEN i % 100003 = 0 THEN {qty} + 1 WHEN {qty} < 2 THEN 0 ELSE {qty} - i % 3 END, "
        f"CASE WHEN {j} % 7 = 0 THEN 'CA' ELSE 'EA' END, {_PROV} FROM n",
        f"{series(n=shape.asn_lines // 10)} INSERT INTO ship_notices (supplier_id, asn_number, "
        "ship_date, expected_delivery, run_id, source_url, source) "
        f"SELECT 'SUP-' || (i % {SUPPLIERS}), 'ASN-' || {pad(width=6, value='i')}, "
        f"{d['day'].format(days='-(i % 30)')}, {d['day'].format(days='-(i % 30) + (i % 7) * 3')}, "
        f"{_PROV} FROM n",
        f"{series(n=shape.asn_lines)} INSERT INTO ship_notice_lines (supplier_id, asn_number, "
        "line_seq, po_number, po_line_number, sku, shipped_qty, uom, run_id, source_url, source) "
        f"SELECT {line_supplier}, {asn}, i % 10, {po}, '' || (i % 10 + 1), {line_sku}, "
        # as acknowledged (4 on the changed lines), one line in 9,973 over-shipped
        "CASE WHEN i % 9973 = 0 THEN 11 WHEN i % 10 = 0 THEN 4 ELSE 1 + i % 10 END, 'EA', "
        f"{_PROV} FROM n",
        f"{series(n=shape.ack_lines)} INSERT INTO po_ack_lines (supplier_id, po_number, "
        "ack_number, line_number, sku, ordered_qty, acked_qty, uom, line_status, run_id, "
        f"source_url, source) SELECT {line_supplier}, {po}, '1', '' || (i % 10 + 1), {line_sku}, "
        "10, CASE WHEN i % 10 = 0 THEN 4 ELSE 10 END, 'EA', "
        f"CASE WHEN i % 20 = 0 THEN 'backordered' ELSE 'accepted' END, {_PROV} FROM n",
        *_ledger(shape, d),
        f"CREATE TABLE {BUILT} (built_at text)",
        f"INSERT INTO {BUILT} VALUES ({d['now']})",
    ]


def _ledger(shape: Shape, d: dict[str, str]) -> list[str]:
    """What a real load leaves: a run per snapshot round, a part per warehouse and round
    in sf_documents, an endpoint per supplier and run (its source reports the supplier's
    warehouses), so the part_missing rule reads a ledger of the real shape."""
    pad, series, runs = d["pad"].format, d["series"].format, shape.snapshots
    run_of = "'bench-' || " + pad(width=3, value="{}")
    wh, rnd = f"(i / {runs})", f"(i % {runs})"
    source = f"'bench://SUP-' || ({wh} % {SUPPLIERS})"
    key = " || ".join([
        "'[\"SUP-'", f"({wh} % {SUPPLIERS})", "'\",\"W'", pad(width=2, value=wh), "'\",\"'",
        _as_of_text(d, f"{runs} - 1 - {rnd}"), "'\",\"'", source, "'\",\"'", source, "'\"]'",
    ])  # fmt: skip
    records = shape.lines * shape.warehouses // SUPPLIERS
    false = "false" if d is _PG else "0"
    return [
        f"{series(n=runs)} INSERT INTO sf_runs (run_id, started_at, status, feeds, summary) "
        f"SELECT {run_of.format('i')}, {d['as_of'].format(k_back=f'{runs} - 1 - i')}, "
        "'finished', 'bench', '{}' FROM n",
        f"{series(n=runs * shape.warehouses)} INSERT INTO sf_documents (doc_type, doc_key, "
        "content_hash, run_id, source_url, source, records) SELECT 'inventory_snapshot', "
        f"{key}, 'h' || i, {run_of.format(rnd)}, {source}, {source}, {shape.lines} FROM n",
        f"{series(n=runs * SUPPLIERS)} INSERT INTO sf_endpoints (run_id, endpoint_key, "
        "supplier_id, kind, format, url, outcome, attempts, permanent, bytes, records, "
        "documents, stale_documents, elapsed, retry_history, records_loaded, records_unchanged, "
        f"records_stale, records_superseded, records_conflict) SELECT "
        f"{run_of.format(f'i / {SUPPLIERS}')}, 'bench://SUP-' || (i % {SUPPLIERS}), "
        f"'SUP-' || (i % {SUPPLIERS}), 'inventory_snapshot', 'json', "
        f"'bench://SUP-' || (i % {SUPPLIERS}), 'loaded', 1, {false}, 0, {records}, "
        f"{shape.warehouses // SUPPLIERS}, 0, 0.0, '[]', {records}, 0, 0, 0, 0 FROM n",
    ]


def _as_of_text(d: dict[str, str], k_back: str) -> str:
    """The as_of of round ``k_back`` hours ago as ISO text with Z (as doc_key holds it)."""
    if d is _PG:
        return (
            "to_char(date_trunc('hour', now() AT TIME ZONE 'UTC') - "
            f"({k_back}) * interval '1 hour', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        )
    return d["as_of"].format(k_back=k_back)


def _sqlite_db(shape: Shape, args: argparse.Namespace) -> str | None:
    folder = Path(tempfile.gettempdir()) / "supplyfeed-bench-reconcile"
    path = folder / f"{shape.name}.db"
    if args.drop:
        for p in folder.glob(f"{shape.name}.db*"):
            p.unlink()
        return None
    if args.rebuild or not _sqlite_built(path):
        folder.mkdir(exist_ok=True)
        for p in folder.glob(f"{shape.name}.db*"):
            p.unlink()
        started = time.perf_counter()
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=WAL")
        for statement in [*create_statements("sqlite"), *_fill(shape, _SQLITE)]:
            conn.execute(statement)
        conn.commit()
        conn.execute("ANALYZE")
        conn.close()
        print(f"built {path} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return f"sqlite:///{path}"


def _sqlite_built(path: Path) -> bool:
    if not path.exists():
        return False
    conn = sqlite3.connect(path)
    try:
        return bool(conn.execute(f"SELECT count(*) FROM {BUILT}").fetchone()[0])
    except sqlite3.Error:
        return False
    finally:
        conn.close()


async def _pg_db(shape: Shape, args: argparse.Namespace) -> str | None:
    # PostgreSQL names are at most 63 characters: the shape's name is hashed.
    name = f"supplyfeed_bench_reconcile_{hashlib.sha256(shape.name.encode()).hexdigest()[:12]}"
    url = f"{ADMIN_URL.rpartition('/')[0]}/{name}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists and (args.drop or args.rebuild or not await _pg_built(url)):
            await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
            exists = False
        if args.drop:
            return None
        if not exists:
            started = time.perf_counter()
            await admin.execute(f"CREATE DATABASE {name}")
            conn = await asyncpg.connect(url)
            try:
                for statement in [*create_statements("postgresql"), *_fill(shape, _PG)]:
                    await conn.execute(statement, timeout=3600)
                await conn.execute("VACUUM ANALYZE")
            finally:
                await conn.close()
            print(f"built {name} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    finally:
        await admin.close()
    return url


async def _pg_built(url: str) -> bool:
    conn = await asyncpg.connect(url)
    try:
        return bool(await conn.fetchval(f"SELECT count(*) FROM {BUILT}"))
    except asyncpg.PostgresError:
        return False
    finally:
        await conn.close()


# -- the measurements ---------------------------------------------------------------------


def _questions(shape: Shape) -> list[tuple[str, list[str], Filters]]:
    sku = "SKU-001234"  # stocked by a few warehouses, shipped and acknowledged
    return [
        (f"--sku {sku}", ["--sku", sku], Filters(sku=sku)),
        ("--warehouse W07", ["--warehouse", "W07"], Filters(warehouse="W07")),
        ("--supplier SUP-3", ["--supplier", "SUP-3"], Filters(supplier="SUP-3")),
        ("no filter", [], Filters()),
    ]


def _whole_process(url: str, argv: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "supplyfeed", "reconcile", "--db", url, "--json", *argv],
        capture_output=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"reconcile failed: {done.stderr.decode(errors='replace')}")
    return wall, _rows(msgspec.json.decode(done.stdout))


def _rows(found: dict[str, list[Any]]) -> int:
    return sum(len(rows) for rows in found.values())


async def _rows_path(url: str, filters: Filters) -> float:
    started = time.perf_counter()
    msgspec.json.encode(await answer(url, ReconcileOptions(filters=filters, output="json")))
    return time.perf_counter() - started


async def _stream_path(url: str, filters: Filters, out: BinaryIO) -> float:
    started = time.perf_counter()
    await write_json(url, ReconcileOptions(filters=filters, output="json"), out)
    return time.perf_counter() - started


async def _run_end(url: str, shape: Shape, keep: bool = True) -> str:
    """What the last run's end leaves (``Runner.run``): its rule check stored and the
    database marked checked, and every latest snapshot's positions kept as JSON; or, with
    ``keep`` false, neither (the database as a crashed run leaves it). Timed."""
    sink = open_sink(url, lock=False)
    await sink.open()  # the tables and triggers of this supplyfeed
    run_id = f"bench-{shape.snapshots - 1:03d}"  # the latest run
    reader = await open_reader(url, write=True)
    try:
        started = time.perf_counter()
        if not keep:
            await reader.execute_many("DELETE FROM sf_position_json", [[]])
            await sink.finish_run(run_id, "finished", {})
            return "nothing kept, unchecked"
        found = await record_findings(url, run_id)
        checked = time.perf_counter()
        await sink.finish_run(run_id, "finished", {"findings_checked": found.checked})
        chunks = await refresh_position_json(reader)
        kept = time.perf_counter()
    finally:
        await reader.close()
        await sink.close()
    return (f"run end: rule check {checked - started:.2f} s ({found.new} new), "
            f"{chunks} partitions kept as JSON {kept - checked:.2f} s")  # fmt: skip


def _measure(database: str, url: str, shape: Shape, runs: int) -> None:
    print(f"{database}: {asyncio.run(_run_end(url, shape))}", file=sys.stderr)
    # Untimed: the first open after an upgrade makes new indexes and views; and it warms
    # the page cache as a second question of the day would find it.
    _whole_process(url, ["--sku", "SKU-000000"])
    for label, argv, filters in _questions(shape):
        walls, rows = [], 0
        for _ in range(runs):
            wall, rows = _whole_process(url, argv)
            walls.append(wall)
        streams, dicts = [], []
        for _ in range(runs):  # alternated, so both see the same machine
            with open(os.devnull, "wb") as out:
                streams.append(asyncio.run(_stream_path(url, filters, out)))
            dicts.append(asyncio.run(_rows_path(url, filters)))
        whole, stream = statistics.median(walls), statistics.median(streams)
        old = statistics.median(dicts)
        mark = "yes" if whole <= 2.0 else "NO"
        print(f"{database:<11} {label:<18} {whole:>8.2f} {stream:>8.2f} {old:>8.2f} "
              f"{old / stream:>6.1f}x {rows:>9,} {mark:>5}")  # fmt: skip
    _with_units(database, url, runs)
    _unkept(database, url, shape, runs)


# A feeds file with a uom: table (reconcile --feeds): the totals convert CA to EA, and the
# unknown_uom rule is checked live (no run carries the tables).
_FEEDS: Final = """\
sink: {url}
uom:
  CA: {{EA: 12}}
suppliers:
  - id: SUP-0
    feeds:
      - kind: inventory_snapshot
        format: json
        urls: ["http://127.0.0.1:9/stock"]
"""


def _with_units(database: str, url: str, runs: int) -> None:
    """The unfiltered question with a feeds file's uom: table, whole process."""
    with tempfile.TemporaryDirectory() as folder:
        feeds = Path(folder) / "feeds.yaml"
        feeds.write_text(_FEEDS.format(url=url))
        timed = [_whole_process(url, ["--feeds", str(feeds)]) for _ in range(runs)]
    whole, rows = statistics.median(t[0] for t in timed), timed[0][1]
    print(f"{database:<11} {'no filter, --feeds':<18} {whole:>8.2f} {'':>8} {'':>8} {'':>7} "
          f"{rows:>9,} {'yes' if whole <= 2.0 else 'NO':>5}")  # fmt: skip


def _unkept(database: str, url: str, shape: Shape, runs: int) -> None:
    """The unfiltered question without what a run's end keeps (no JSON kept, every rule
    checked live: the answer before either), whole process; then the run's end again."""
    asyncio.run(_run_end(url, shape, keep=False))
    try:
        walls = [_whole_process(url, [])[0] for _ in range(runs)]
    finally:
        print(f"{database}: {asyncio.run(_run_end(url, shape))}", file=sys.stderr)
    whole = statistics.median(walls)
    print(f"{database:<11} {'no filter, unkept':<18} {whole:>8.2f} {'':>8} {'':>8} {'':>7} "
          f"{'':>9} {'yes' if whole <= 2.0 else 'NO':>5}")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench reconcile --")
    p.add_argument("--warehouses", type=int, default=50)
    p.add_argument("--snapshots", type=int, default=10)
    p.add_argument("--lines", type=int, default=10_000, help="per snapshot of a warehouse")
    p.add_argument("--catalogue", type=int, default=100_000, help="distinct SKUs")
    p.add_argument("--asn-lines", type=int, default=200_000)
    p.add_argument("--ack-lines", type=int, default=200_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--no-pg", action="store_true", help="SQLite only")
    p.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    p.add_argument("--rebuild", action="store_true", help="build the databases again")
    p.add_argument("--drop", action="store_true", help="remove the cached databases, then stop")
    args = p.parse_args(argv)
    shape = Shape(args.warehouses, args.snapshots, args.lines, args.catalogue,
                  args.asn_lines, args.ack_lines)  # fmt: skip
    urls = []
    if not args.no_sqlite:
        urls.append(("sqlite", _sqlite_db(shape, args)))
    if not args.no_pg:
        urls.append(("postgresql", asyncio.run(_pg_db(shape, args))))
    if args.drop:
        print("cached databases removed")
        return
    print(f"reconcile --json: {shape.rows:,} inventory rows ({shape.warehouses} warehouses x "
          f"{shape.snapshots} snapshots x {shape.lines:,} lines, {shape.catalogue:,} SKUs), "
          f"{shape.asn_lines:,} ASN lines, {shape.ack_lines:,} ack lines")  # fmt: skip
    print(f"median of {args.runs}, seconds; whole = python -m supplyfeed reconcile as a process,")
    print("stream = the same answer in-process as the command writes it (the database spells")
    print("the JSON); dicts = in-process as rows of dicts + msgspec (the earlier way), and")
    print("dicts / stream; rows = every row of every JSON section\n")
    print(f"{'database':<11} {'question':<18} {'whole s':>8} {'stream s':>8} {'dicts s':>8} "
          f"{'ratio':>7} {'rows':>9} {'<=2s':>5}")  # fmt: skip
    for database, url in urls:
        assert url is not None
        _measure(database, url, shape, args.runs)
    startup = statistics.median(_startup() for _ in range(args.runs))
    print(f"\nstart-up alone (python -m supplyfeed --version, no database): {startup:.2f} s")


def _startup() -> float:
    """The floor under every whole-process time: the interpreter and supplyfeed's imports."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "supplyfeed", "--version"], capture_output=True,
                   check=True)  # fmt: skip
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
