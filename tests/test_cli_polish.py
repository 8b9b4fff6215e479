"""CLI polish (issue 18): ``validate``, ``decode`` of mapped feeds, duplicate URLs,
``--version``, help text for every option, ``run --db`` and ``-v`` / ``--log-level``."""

from __future__ import annotations

import argparse
import socket
import sqlite3
from contextlib import closing, nullcontext
from pathlib import Path

import pytest
import yaml

from supplyfeed import __version__
from supplyfeed._cli.main import _parser, main
from supplyfeed._feedsfile import parse_feeds
from supplyfeed.sim import FleetSpec, LatencyModel, SupplierFleet

from .reliability.checker import cli, finish, write_feeds
from .sink.conftest import PG_ADMIN_URL, _require_postgres

_XML = b"""<?xml version="1.0"?>
<Stock><Head><Site>W01</Site><At>2026-03-02T06:00:00Z</At></Head>
  <Line code="A-1"><Qty>12</Qty></Line><Line code="B-2"><Qty>3</Qty></Line></Stock>"""
_JSON = b'{"site": "W01", "at": "2026-03-02T06:00:00Z", "lines": [{"code": "A-1", "q": 12}]}'
_CSV = b"site,at,code,q\nW01,2026-03-02T06:00:00Z,A-1,12\nW01,2026-03-02T06:00:00Z,B-2,3\n"
_MAPPINGS = {
    "xml": {"records": "Stock/Line", "fields": {"warehouse_id": "$.Head/Site",
            "as_of": "$.Head/At", "sku": "@code", "on_hand": "Qty"}},
    "json": {"records": "lines", "fields": {"warehouse_id": "$.site", "as_of": "$.at",
             "sku": "code", "on_hand": "q"}},
    "csv": {"fields": {"warehouse_id": "site", "as_of": "at", "sku": "code", "on_hand": "q"}},
}  # fmt: skip
_BODIES = {"xml": (_XML, ["A-1", "B-2"]), "json": (_JSON, ["A-1"]), "csv": (_CSV, ["A-1", "B-2"])}


def _feeds(tmp_path: Path, sink: str = "", **extra: object) -> Path:
    """A feeds file: ACME with one mapped feed per format, BETA with one JSON feed."""
    doc: dict[str, object] = {
        "suppliers": [
            {"id": "ACME", "feeds": [
                {"kind": "inventory_snapshot", "format": fmt, "mapping": mapping,
                 "urls": [f"http://127.0.0.1:9/stock.{fmt}"]}
                for fmt, mapping in _MAPPINGS.items()]},
            {"id": "BETA", "feeds": [{"kind": "po_ack", "format": "json",
                                      "urls": ["http://127.0.0.1:9/acks.json"]}]},
        ],
        **extra,
    }  # fmt: skip
    if sink:
        doc["sink"] = sink
    path = tmp_path / "feeds.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


# -- decode ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(_BODIES))
def test_decode_a_mapped_file_through_its_feed(
    tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """decode FILE --feeds F --feed ACME/N: the feed's format, kind, supplier and mapping
    decode a generic XML, JSON or CSV file; every SKU once."""
    body, skus = _BODIES[fmt]
    (tmp_path / f"stock.{fmt}").write_bytes(body)
    feeds = _feeds(tmp_path)
    n = list(_MAPPINGS).index(fmt) + 1
    assert main(["decode", str(tmp_path / f"stock.{fmt}"), "--feeds", str(feeds),
                 "--feed", f"ACME/{n}"]) == 0  # fmt: skip
    [doc] = [yaml.safe_load(line) for line in capsys.readouterr().out.splitlines()]
    assert doc["supplier_id"] == "ACME"
    assert doc["warehouse_id"] == "W01"
    assert [i["sku"] for i in doc["items"]] == skus


def test_decode_with_a_mapping_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--mapping M.yaml: the same keys as a feed's mapping; kind and supplier from options.
    Without a mapping generic XML is refused, as before, in one line."""
    (tmp_path / "stock.xml").write_bytes(_XML)
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(_MAPPINGS["xml"]))
    args = ["decode", str(tmp_path / "stock.xml"), "--kind", "inventory_snapshot"]
    assert main([*args, "--mapping", str(tmp_path / "m.yaml"), "--supplier", "S9"]) == 0
    [doc] = [yaml.safe_load(line) for line in capsys.readouterr().out.splitlines()]
    assert (doc["supplier_id"], [i["sku"] for i in doc["items"]]) == ("S9", ["A-1", "B-2"])
    assert main(args) == 1
    assert "needs a field mapping" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--feed", "ACME/1"], "--feed needs --feeds"),
        (["--feeds", "{feeds}"], "--feed is needed (feeds: ACME/1 (inventory_snapshot, xml)"),
        (["--feeds", "{feeds}", "--feed", "ACME"], "--feed ACME matches 3 feeds"),
        (["--feeds", "{feeds}", "--feed", "NOPE/1"], "--feed NOPE/1 matches no feed"),
        (["--feeds", "{feeds}", "--mapping", "{mapping}"], "--mapping or --feeds, not both"),
        (["--mapping", "{bad}"], "bad.yaml:1: key 'recrods': unknown key"),
        (["--kind", "invoice"], "invalid choice: 'invoice'"),
    ],
)
def test_decode_option_errors_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    """Bad combinations and files: exit 2, one line saying what to do, no traceback."""
    (tmp_path / "stock.xml").write_bytes(_XML)
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(_MAPPINGS["xml"]))
    (tmp_path / "bad.yaml").write_text("recrods: Stock/Line\n")
    names = {
        "feeds": _feeds(tmp_path),
        "mapping": tmp_path / "m.yaml",
        "bad": tmp_path / "bad.yaml",
    }
    argv = [a.format(**names) for a in extra]
    with pytest.raises(SystemExit) if "invalid choice" in message else nullcontext():
        assert main(["decode", str(tmp_path / "stock.xml"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err
    if "invalid choice" not in message:  # argparse prints usage first
        assert len(err.strip().splitlines()) == 1, err


# -- duplicate URLs ------------------------------------------------------------------------


def test_duplicate_urls_are_warned_with_their_lines() -> None:
    """A URL twice in one feed (fetched once) and once more under another supplier
    (fetched and loaded twice): one warning each, naming file:line, key and the first."""
    text = """\
suppliers:
  - id: A
    feeds:
      - kind: po_ack
        format: json
        urls:
          - http://127.0.0.1:9/x.json
          - http://127.0.0.1:9/y.json
          - http://127.0.0.1:9/x.json
  - id: B
    feeds:
      - kind: po_ack
        format: json
        urls: [http://127.0.0.1:9/x.json]
"""
    warnings = parse_feeds(text, "f.yaml", {}).warnings
    assert warnings == (
        "f.yaml:9: key 'suppliers[0].feeds[0].urls[2]': URL http://127.0.0.1:9/x.json is "
        "listed again (first at line 7); fetched once, the copy is ignored",
        "f.yaml:14: key 'suppliers[1].feeds[0].urls[0]': URL http://127.0.0.1:9/x.json is "
        "listed again (first at line 7); also listed for A po_ack: fetched and loaded once "
        "for each",
    )
    distinct = text.replace("x.json\n  - id", "z.json\n  - id").replace(
        "[http://127.0.0.1:9/x", "[http://127.0.0.1:9/w"
    )
    assert parse_feeds(distinct, "f.yaml", {}).warnings == ()


# -- validate ------------------------------------------------------------------------------


def test_validate_checks_without_creating_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A good feeds file and a SQLite sink not made yet: exit 0, counts, nothing created;
    an existing database is read for its schema version."""
    db = tmp_path / "new.db"
    feeds = _feeds(tmp_path, f"sqlite:///{db}")
    assert main(["validate", str(feeds)]) == 0
    out = capsys.readouterr().out
    assert "ok: " in out
    assert "2 supplier(s), 4 feed(s), 4 endpoint(s)" in out
    assert "a new database will be created" in out
    assert not db.exists()
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE sf_schema_version (version INTEGER, applied_at TEXT)")
        conn.execute("INSERT INTO sf_schema_version VALUES (99, 'later')")
        conn.commit()
    assert main(["validate", str(feeds)]) == 2
    assert "schema version 99, this supplyfeed uses 2 (newer: upgrade supplyfeed)" in (
        capsys.readouterr().err
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("sink", "message"),
    [
        ("sqlite:///{tmp}/missing/x.db", "the folder of the SQLite database"),
        ("postgresql://postgres@127.0.0.1:{port}/x", "cannot connect to 127.0.0.1:{port}"),
        ("mysql://127.0.0.1/x", "unknown sink scheme 'mysql'"),
    ],
)
def test_validate_an_unreachable_sink_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sink: str, message: str
) -> None:
    """A sink that cannot be reached: exit 2 and one line, as `run` would fail."""
    port = _closed_port()
    feeds = _feeds(tmp_path, sink.format(tmp=tmp_path, port=port))
    assert main(["validate", str(feeds)]) == 2
    err = capsys.readouterr().err
    assert message.format(port=port) in err, err
    assert len(err.strip().splitlines()) == 1, err


def test_validate_reaches_a_postgresql_sink(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server that accepts the connection: exit 0, and it says so."""
    _require_postgres()
    assert main(["validate", str(_feeds(tmp_path)), "--db", PG_ADMIN_URL]) == 0
    assert "reachable" in capsys.readouterr().out


def test_validate_a_bad_feeds_file_and_a_missing_drop_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A feeds-file error names file:line and key; a file:// drop folder that does not
    exist is an error too (every run would fail on it)."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("suppliers:\n  - id: A\n    feeds:\n      - kind: invoice\n")
    assert main(["validate", str(bad)]) == 2
    assert f"{bad}:4" in capsys.readouterr().err
    drop = _feeds(tmp_path)
    doc = yaml.safe_load(drop.read_text())
    doc["suppliers"][1]["feeds"][0]["urls"] = [f"file://{tmp_path}/nowhere/*.json"]
    drop.write_text(yaml.safe_dump(doc))
    assert main(["validate", str(drop)]) == 2
    assert f"drop folder {tmp_path}/nowhere/ of" in capsys.readouterr().err


# -- --version and help ----------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"supplyfeed {__version__}"


def _commands(
    parser: argparse.ArgumentParser, path: str = "supplyfeed"
) -> list[tuple[str, argparse.ArgumentParser]]:
    out = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += _commands(sub, f"{path} {name}")
    return out


def test_every_option_has_help_and_no_markup_leaks() -> None:
    """Every option and argument of every command has help text; no help shows RST
    markup (``x``, :class:); an option with a real default names it."""
    for path, parser in _commands(_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
                continue
            assert action.help, f"{path} {action.option_strings or action.dest}: no help"
        text = parser.format_help()
        assert "``" not in text, (path, text)
        assert ":class:" not in text, (path, text)
    demo = dict(_commands(_parser()))["supplyfeed demo"].format_help()
    assert "(default: 500)" in demo
    assert "(default: 0.1)" in demo
    top = _parser().format_help()
    for code in ("0 ", "1 ", "2 ", "3 ", "75 "):
        assert f"\n  {code}" in top, top


# -- run --db, -v, --log-level ----------------------------------------------------------------

_FLEET = FleetSpec.generate(
    endpoints=6,
    hosts=1,
    records_per_endpoint=2,
    formats=("json",),
    fault_rate=0.2,
    fault_mix={"not_found": 1.0},
    latency=LatencyModel(median=0.005, sigma=0.2, max=0.02),
    seed=3,
)


@pytest.mark.slow  # whole runs through the CLI
async def test_run_db_and_log_levels(tmp_path: Path) -> None:
    """run --db writes there (the feeds file's sink stays untouched); the default shows
    warnings, --log-level error hides them, -v adds info lines."""
    named, other = tmp_path / "named.db", tmp_path / "other.db"
    async with SupplierFleet(_FLEET, seed=3) as fleet:
        feeds = write_feeds(fleet, tmp_path / "feeds.yaml", f"sqlite:///{named}")
        runs = {}
        for name, flags in {"default": [], "error": ["--log-level", "ERROR"], "v": ["-v"]}.items():
            runs[name] = await finish(
                await cli("run", str(feeds), "--quiet", "--db", f"sqlite:///{other}", *flags)
            )
    assert not named.exists()
    with closing(sqlite3.connect(other)) as conn:
        assert conn.execute("SELECT count(*) FROM sf_runs").fetchone()[0] == 3
    for code, _output in runs.values():
        assert code == 1
    assert "WARNING" in runs["default"][1]
    assert "INFO" not in runs["default"][1]
    assert "WARNING" not in runs["error"][1]
    assert "INFO" in runs["v"][1]
    assert "run finished" in runs["v"][1]
