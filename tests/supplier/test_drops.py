"""Drop sources: file:// shares, and sftp:// against the sim's SFTP server (asyncssh)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
import orjson
import pytest
import yaml

from supplyfeed._config import SupplierSpec
from supplyfeed._feedsfile import parse_feeds
from supplyfeed._fetch.drops import free_names
from supplyfeed._sink.memory import MemorySink
from supplyfeed.sim import TABLES, Fault, FleetSpec, GroundTruth, SftpDrop

from .helpers import QUICK, assert_rows_match, run, table_keys


def _drop(folder: Path, names: list[str], *, bad: tuple[str, ...] = ()) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        doc = {
            "supplier_id": "D",
            "warehouse_id": Path(name).stem,
            "as_of": "2026-11-28T07:45:00Z",
            "items": [{"sku": "SKU-1", "on_hand": 1, "available": 1}],
        }
        data = b"{not json" if name in bad else orjson.dumps(doc)
        (folder / name).write_bytes(data)
    (folder / "readme.txt").write_text("not matched by *.json")


def feeds(url: str, **drop: str) -> tuple[SupplierSpec, ...]:
    feed: dict[str, Any] = {"kind": "inventory_snapshot", "format": "json", "urls": [url]}
    if drop:
        feed["drop"] = drop
    supplier: dict[str, Any] = {"id": "D", "feeds": [feed]}
    doc = {"defaults": dict(QUICK), "suppliers": [supplier]}
    return parse_feeds(yaml.safe_dump(doc), "feeds.yaml", {}).suppliers


def _names(folder: Path, *, files_only: bool = False) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file() or not files_only)


def _exists(path: Path) -> bool:
    return path.exists()


async def _warehouses(sink: MemorySink) -> list[str]:
    return sorted(r["warehouse_id"] for r in await sink.table_rows("inventory_positions"))


async def test_local_drop_moves_loaded_files_and_leaves_failed_ones(tmp_path: Path) -> None:
    """file:// lists *.json; loaded files go to done/, the undecodable one stays and is named."""
    drop = tmp_path / "in"
    _drop(drop, ["W1.json", "W2.json", "W3.json", "bad.json"], bad=("bad.json",))
    suppliers = feeds(f"{drop.as_uri()}/*.json")
    sink = MemorySink()
    summary = await run(suppliers, sink, suppliers[0].config)
    assert summary.outcomes == {"loaded": 3, "quarantined": 1}
    assert await _warehouses(sink) == ["W1", "W2", "W3"]
    assert _names(drop / "done") == ["W1.json", "W2.json", "W3.json"]
    assert _names(drop, files_only=True) == ["bad.json", "readme.txt"]
    assert summary.warnings == [f"drop file not loaded, left in place: {drop.as_uri()}/bad.json"]
    again = await run(suppliers, sink, suppliers[0].config)  # only the failed file is left
    assert again.outcomes == {"quarantined": 1}
    assert await _warehouses(sink) == ["W1", "W2", "W3"]  # nothing duplicated


async def test_a_re_dropped_identical_file_is_unchanged_and_still_moved(tmp_path: Path) -> None:
    """A partner drops the same bytes again: nothing is written twice, and the file goes
    to done/ like a loaded one (left in place, it would be listed on every poll)."""
    drop = tmp_path / "in"
    _drop(drop, ["W1.json", "W2.json"])
    suppliers = feeds(f"{drop.as_uri()}/*.json")
    sink = MemorySink()
    first = await run(suppliers, sink, suppliers[0].config)
    assert first.outcomes == {"loaded": 2}
    (drop / "done" / "W1.json").unlink()
    _drop(drop, ["W1.json"])  # the identical file, dropped again
    again = await run(suppliers, sink, suppliers[0].config)
    assert again.outcomes == {"unchanged": 1}
    assert _names(drop, files_only=True) == ["readme.txt"]
    assert _names(drop / "done") == ["W1.json", "W2.json"]
    assert await _warehouses(sink) == ["W1", "W2"]  # nothing duplicated
    assert again.warnings == []


async def test_local_drop_can_delete_after_loading(tmp_path: Path) -> None:
    """after: delete removes each file once its rows committed."""
    _drop(tmp_path, [f"W{i}.json" for i in range(8)])
    suppliers = feeds(f"{tmp_path.as_uri()}/W*.json", after="delete")
    sink = MemorySink()
    summary = await run(suppliers, sink, suppliers[0].config)
    assert summary.outcomes == {"loaded": 8}
    assert await _warehouses(sink) == [f"W{i}" for i in range(8)]
    assert _names(tmp_path) == ["readme.txt"]


# -- SFTP (supplyfeed.sim.SftpDrop) -----------------------------------------------------


@pytest.fixture
async def sftp(tmp_path: Path) -> AsyncIterator[SftpDrop]:
    """Eight EDI and JSON files of supplier D; file 5 is malformed."""
    base = FleetSpec.generate(
        endpoints=8,
        hosts=1,
        suppliers=["D"],
        records_per_endpoint=3,
        formats=("x12", "edifact", "json"),
        seed=11,
    )
    eps = tuple(
        dataclasses.replace(ep, fault=Fault.malformed() if i == 5 else None)
        for i, ep in enumerate(base.endpoints)
    )
    async with SftpDrop(dataclasses.replace(base, endpoints=eps), tmp_path / "sftp") as server:
        yield server


def sftp_feeds(server: SftpDrop, login: str, **auth: str) -> tuple[SupplierSpec, ...]:
    doc = server.feeds_document(defaults=QUICK, login=login)
    for supplier in doc["suppliers"]:
        supplier["auth"].update(auth)
    return parse_feeds(yaml.safe_dump(doc), "feeds.yaml", server.env).suppliers


def _outcomes(truth: GroundTruth) -> dict[str, int]:
    return dict(Counter(truth.outcomes.values()))


async def test_sftp_drop_with_a_key(sftp: SftpDrop) -> None:
    """sftp:// with a client key and a checked host key: every EDI and JSON file is read,
    the rows are exactly the truth's, loaded files move to done/, the bad one stays."""
    suppliers = sftp_feeds(sftp, "key")
    truth = sftp.expected()
    assert _outcomes(truth) == {"loaded": 7, "quarantined": 1}
    sink = MemorySink()
    summary = await run(suppliers, sink, suppliers[0].config)
    assert summary.outcomes == _outcomes(truth)
    assert await assert_rows_match(sink, truth) > 0
    for ep in sftp.spec.endpoints:
        loaded = truth.outcomes[sftp.url_of(ep)] == "loaded"
        path = sftp.local_path(ep)
        assert _exists(path.parent / "done" / path.name) is loaded
        assert _exists(path) is not loaded


async def test_sftp_drop_with_a_password_from_env(sftp: SftpDrop) -> None:
    """The password comes from ${ENV} in the URL and never reaches the ledger; the
    undecodable file stays and is named in the summary."""
    suppliers = sftp_feeds(sftp, "password")
    assert "${SIM_SFTP_PASSWORD}" in yaml.safe_dump(sftp.feeds_document())
    sink = MemorySink()
    summary = await run(suppliers, sink, suppliers[0].config)
    truth = sftp.expected()
    assert summary.outcomes == _outcomes(truth)
    await assert_rows_match(sink, truth)
    bad = next(ep for ep in sftp.spec.endpoints if ep.fault is not None)
    assert _exists(sftp.local_path(bad))
    assert len(summary.warnings) == 1
    assert sftp.local_path(bad).name in summary.warnings[0]
    ledger = repr(await sink.endpoints(summary.run_id)) + repr(summary.to_dict())
    assert sftp.password not in ledger
    again = await run(suppliers, sink, suppliers[0].config)  # only the bad file is left
    assert again.outcomes == {"quarantined": 1}
    await assert_rows_match(sink, truth)  # nothing duplicated


async def test_sftp_unknown_host_key_is_refused(sftp: SftpDrop, tmp_path: Path) -> None:
    """Host keys are checked: an empty known_hosts fails the listing, nothing is read."""
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    suppliers = sftp_feeds(sftp, "password", known_hosts=str(empty))
    sink = MemorySink()
    summary = await run(suppliers, sink, suppliers[0].config)
    feeds = sum(len(f.urls) for s in suppliers for f in s.feeds)
    assert summary.outcomes == {"failed": feeds}
    assert all(_exists(sftp.local_path(ep)) for ep in sftp.spec.endpoints)
    assert (await table_keys(sink)) == {t: [] for t in TABLES}


async def test_local_move_onto_a_taken_name_keeps_both_under_a_numbered_name(
    tmp_path: Path,
) -> None:
    """file://: done/ already holds W1.json; the new W1.json is archived as W1-1.json (was:
    silently replaced), the old copy keeps its bytes, and the summary's warnings say so."""
    drop = tmp_path / "in"
    _drop(drop, ["W1.json", "W2.json"])
    (drop / "done").mkdir()
    (drop / "done" / "W1.json").write_bytes(b"archived yesterday")
    (drop / "done" / "W1-1.json").write_bytes(b"archived the day before")
    new = (drop / "W1.json").read_bytes()
    suppliers = feeds(f"{drop.as_uri()}/*.json")
    sink = MemorySink()
    summary = await run(suppliers, sink, suppliers[0].config)
    assert summary.outcomes == {"loaded": 2}
    assert await _warehouses(sink) == ["W1", "W2"]
    assert _names(drop / "done") == ["W1-1.json", "W1-2.json", "W1.json", "W2.json"]
    assert (drop / "done" / "W1.json").read_bytes() == b"archived yesterday"
    assert (drop / "done" / "W1-1.json").read_bytes() == b"archived the day before"
    assert (drop / "done" / "W1-2.json").read_bytes() == new
    assert _names(drop, files_only=True) == ["readme.txt"]
    assert summary.warnings == [
        f"drop file moved as W1-2.json, its name was taken in done: {drop.as_uri()}/W1.json"
    ]


async def test_a_missing_local_drop_folder_is_permanent_and_named(tmp_path: Path) -> None:
    """file:// to a folder that does not exist: one permanent not_found naming it, no retry."""
    suppliers = feeds(f"{(tmp_path / 'nope').as_uri()}/*.json")
    sink = MemorySink()
    summary = await run(suppliers, sink, suppliers[0].config)
    assert summary.outcomes == {"failed": 1}
    (row,) = await sink.endpoints(summary.run_id)
    assert (row.error_kind, row.permanent, row.attempts) == ("not_found", True, 1)
    assert str(tmp_path / "nope") in (row.error_message or "")


def test_free_names_skip_every_taken_name() -> None:
    """The numbered suffix goes before the extension and skips names already taken."""
    names = free_names("W1.edi", {"W1.edi", "W1-1.edi", "W1-3.edi"})
    assert [next(names), next(names)] == ["W1-2.edi", "W1-4.edi"]
    assert next(free_names("noext", set())) == "noext"
    assert next(free_names("noext", {"noext"})) == "noext-1"


async def test_sftp_move_onto_a_taken_name_is_numbered_not_a_crash(sftp: SftpDrop) -> None:
    """SFTP rename refuses an existing name (was: the error escaped and crashed the run);
    the file is archived under the next free numbered name, the old copy untouched."""
    ep = next(ep for ep in sftp.spec.endpoints if ep.fault is None)
    path = sftp.local_path(ep)
    (path.parent / "done").mkdir()
    (path.parent / "done" / path.name).write_bytes(b"archived yesterday")
    new = path.read_bytes()
    suppliers = sftp_feeds(sftp, "key")
    sink = MemorySink()
    summary = await run(suppliers, sink, suppliers[0].config)
    truth = sftp.expected()
    assert summary.outcomes == _outcomes(truth)
    await assert_rows_match(sink, truth)
    assert (path.parent / "done" / path.name).read_bytes() == b"archived yesterday"
    stem, ext = path.name.rsplit(".", 1)
    assert (path.parent / "done" / f"{stem}-1.{ext}").read_bytes() == new
    assert not path.exists()
    assert any(f"moved as {stem}-1.{ext}" in w for w in summary.warnings)


async def test_sftp_channels_stay_under_max_sessions(tmp_path: Path) -> None:
    """A server that allows 10 sessions per connection, 40 files, limit_per_host 40: at most
    8 channels are open at once (sftp_max_channels), none is refused, every file loads
    exactly once (was: refused channels, and a refused move crashed the run)."""
    spec = FleetSpec.generate(
        endpoints=40, hosts=1, suppliers=["D"], records_per_endpoint=2, formats=("json",), seed=3
    )
    async with SftpDrop(spec, tmp_path / "sftp", max_sessions=10) as server:
        suppliers = sftp_feeds(server, "key")
        config = suppliers[0].config
        config = config.replace(
            limits=dataclasses.replace(config.limits, per_host=40), max_concurrency=40
        )
        sink = MemorySink()
        summary = await run(suppliers, sink, config)
        truth = server.expected()
        assert summary.outcomes == _outcomes(truth) == {"loaded": 40}
        await assert_rows_match(sink, truth)
        assert server.stats.refused_sessions == 0
        assert 1 < server.stats.peak_sessions <= 8
        assert server.stats.logins == 1
        assert all(not server.local_path(ep).exists() for ep in spec.endpoints)


async def test_a_missing_sftp_drop_folder_is_permanent_and_named(sftp: SftpDrop) -> None:
    """sftp:// to a folder that does not exist: permanent not_found naming the folder
    (was: a transient 'connection' failure, retried, with no path named)."""
    doc = sftp.feeds_document(defaults=QUICK, login="key")
    feed = doc["suppliers"][0]["feeds"][0]
    feed["urls"] = [f"sftp://127.0.0.1:{sftp.port}/no/such/folder/*.edi"]
    doc["suppliers"][0]["feeds"] = [feed]
    suppliers = parse_feeds(yaml.safe_dump(doc), "feeds.yaml", {}).suppliers
    sink = MemorySink()
    summary = await run(suppliers, sink, suppliers[0].config)
    assert summary.outcomes == {"failed": 1}
    (row,) = await sink.endpoints(summary.run_id)
    assert (row.error_kind, row.permanent, row.attempts) == ("not_found", True, 1)
    assert "/no/such/folder" in (row.error_message or "")
    assert (await table_keys(sink)) == {t: [] for t in TABLES}


async def test_sftp_home_relative_paths_load_like_absolute_ones(sftp: SftpDrop) -> None:
    """sftp://host/~/out/*.edi is relative to the login's home (here the chroot root): the
    same files load, and their ledger URLs keep the /~/ form."""
    doc = sftp.feeds_document(defaults=QUICK, login="key")
    for supplier in doc["suppliers"]:
        for feed in supplier["feeds"]:
            feed["urls"] = [u.replace(f":{sftp.port}/", f":{sftp.port}/~/") for u in feed["urls"]]
    suppliers = parse_feeds(yaml.safe_dump(doc), "feeds.yaml", {}).suppliers
    sink = MemorySink()
    summary = await run(suppliers, sink, suppliers[0].config)
    assert summary.outcomes == {"loaded": 7, "quarantined": 1}
    urls = [r.endpoint.url for r in await sink.endpoints(summary.run_id)]
    assert all(f":{sftp.port}/~/" in u for u in urls), urls
    assert sum(sftp.local_path(ep).exists() for ep in sftp.spec.endpoints) == 1


def _as_supplier(doc: dict[str, Any], sid: str, **auth: str) -> dict[str, Any]:
    supplier = dict(doc["suppliers"][0], id=sid)
    supplier["auth"] = {**supplier["auth"], **auth}
    return supplier


async def test_two_suppliers_on_one_host_each_get_their_own_trust(
    sftp: SftpDrop, tmp_path: Path
) -> None:
    """Three suppliers, one host and user: D logs in with the key; B's password is wrong;
    C's known_hosts holds another key. D loads everything; B fails auth after one login
    for all its patterns; C fails naming the offered fingerprint and its known_hosts
    file, having never logged in (was: B and C loaded over D's connection)."""
    other = tmp_path / "other_known_hosts"
    stranger = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    other.write_text(f"[127.0.0.1]:{sftp.port} {stranger}")
    key_doc = sftp.feeds_document(defaults=QUICK, login="key")
    pw_doc = sftp.feeds_document(defaults=QUICK, login="password")
    doc = {
        **key_doc,
        "suppliers": [
            _as_supplier(key_doc, "D"),
            _as_supplier(pw_doc, "B"),
            _as_supplier(key_doc, "C", known_hosts=str(other)),
        ],
    }
    env = {sftp.password_env: "not-the-password"}
    suppliers = parse_feeds(yaml.safe_dump(doc), "feeds.yaml", env).suppliers
    patterns = sum(len(f.urls) for f in suppliers[1].feeds)
    assert patterns > 1  # one login must serve them all
    sink = MemorySink()
    summary = await run(suppliers, sink, suppliers[0].config)
    rows = await sink.endpoints(summary.run_id)
    by_supplier: dict[str, Counter[str]] = {}
    for r in rows:
        by_supplier.setdefault(r.endpoint.supplier_id, Counter())[r.outcome.value] += 1
    assert by_supplier == {
        "D": Counter(loaded=7, quarantined=1),
        "B": Counter(failed=patterns),
        "C": Counter(failed=patterns),
    }
    truth = sftp.expected()
    await assert_rows_match(sink, truth)  # D's rows only, each once
    b = [r for r in rows if r.endpoint.supplier_id == "B"]
    assert {(r.error_kind, r.permanent, r.attempts) for r in b} == {("auth", True, 1)}
    c = [r for r in rows if r.endpoint.supplier_id == "C"]
    assert {(r.error_kind, r.permanent) for r in c} == {("tls", True)}
    fingerprint = (await _server_key(sftp)).get_fingerprint()
    assert all(fingerprint in (r.error_message or "") for r in c)
    assert all(str(other) in (r.error_message or "") for r in c)
    assert (sftp.stats.logins, sftp.stats.refused_passwords) == (2, 1)  # D once, B once


async def _server_key(server: SftpDrop) -> asyncssh.SSHKey:
    key = await asyncssh.get_server_host_key("127.0.0.1", server.port)
    assert key is not None
    return key


async def test_a_refused_channel_is_transient_and_retried(tmp_path: Path) -> None:
    """A server that refuses every SFTP channel (a MaxSessions of 0): a transient
    'channel' failure, retried to retry_attempts, that names the host; nothing loads."""
    spec = FleetSpec.generate(
        endpoints=2, hosts=1, suppliers=["D"], records_per_endpoint=2, formats=("json",), seed=3
    )
    async with SftpDrop(spec, tmp_path / "sftp", max_sessions=0) as server:
        suppliers = sftp_feeds(server, "key")
        sink = MemorySink()
        summary = await run(suppliers, sink, suppliers[0].config)
        rows = await sink.endpoints(summary.run_id)
        assert summary.outcomes == {"failed": len(rows)}
        attempts = suppliers[0].config.retry_attempts
        assert {(r.error_kind, r.permanent, r.attempts) for r in rows} == {
            ("channel", False, attempts)
        }
        assert all(f"127.0.0.1:{server.port}" in (r.error_message or "") for r in rows)
        assert server.stats.refused_sessions >= attempts
        assert server.stats.logins == 1  # one login for every attempt
        assert (await table_keys(sink)) == {t: [] for t in TABLES}


async def test_a_move_that_fails_is_a_warning_and_the_next_run_moves_it(tmp_path: Path) -> None:
    """done_dir cannot be made (a file has its name): the rows still load once, the run
    finishes with a warning naming the file, and once fixed the next run moves it as
    unchanged (was: the move's error escaped the run)."""
    drop = tmp_path / "in"
    _drop(drop, ["W1.json"])
    (drop / "done").write_text("a file where the folder should be")
    suppliers = feeds(f"{drop.as_uri()}/*.json")
    sink = MemorySink()
    summary = await run(suppliers, sink, suppliers[0].config)
    assert summary.outcomes == {"loaded": 1}
    assert await _warehouses(sink) == ["W1"]
    assert len(summary.warnings) == 1
    assert summary.warnings[0].startswith("drop file loaded but not moved: ")
    assert f"{drop.as_uri()}/W1.json" in summary.warnings[0]
    assert (drop / "W1.json").exists()
    (drop / "done").unlink()
    again = await run(suppliers, sink, suppliers[0].config)
    assert again.outcomes == {"unchanged": 1}
    assert _names(drop / "done") == ["W1.json"]
    assert await _warehouses(sink) == ["W1"]  # nothing duplicated


async def test_sftp_done_dir_can_be_home_relative(sftp: SftpDrop) -> None:
    """done_dir: ~/archive moves every loaded file into the home's archive folder (here
    the chroot root), not into a folder named '~' beside it."""
    doc = sftp.feeds_document(defaults=QUICK, login="key")
    for supplier in doc["suppliers"]:
        for feed in supplier["feeds"]:
            feed["drop"] = {"after": "move", "done_dir": "~/archive"}
    suppliers = parse_feeds(yaml.safe_dump(doc), "feeds.yaml", {}).suppliers
    sink = MemorySink()
    summary = await run(suppliers, sink, suppliers[0].config)
    assert summary.outcomes == {"loaded": 7, "quarantined": 1}
    await assert_rows_match(sink, sftp.expected())
    loaded = [ep for ep in sftp.spec.endpoints if ep.fault is None]
    assert sorted(p.name for p in (sftp.root / "archive").iterdir()) == sorted(
        sftp.local_path(ep).name for ep in loaded
    )
    assert not list(sftp.root.rglob("~"))


@pytest.mark.slow  # waits out a real connect timeout
async def test_an_sftp_server_that_never_speaks_fails_within_connect_timeout() -> None:
    """A port that accepts and then says nothing: the listing gives up after
    connect_timeout, a transient connect failure, and the run finishes (was: asyncssh's
    two-minute login timeout, with the run stuck planning)."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        doc = {
            "defaults": {**QUICK, "connect_timeout": 0.3, "retry_attempts": 2},
            "suppliers": [
                {
                    "id": "D",
                    "feeds": [
                        {
                            "kind": "inventory_snapshot",
                            "format": "json",
                            "urls": [f"sftp://edi@127.0.0.1:{port}/out/*.json"],
                        }
                    ],
                }
            ],
        }
        suppliers = parse_feeds(yaml.safe_dump(doc), "feeds.yaml", {}).suppliers
        sink = MemorySink()
        async with asyncio.timeout(10):
            summary = await run(suppliers, sink, suppliers[0].config)
    (row,) = await sink.endpoints(summary.run_id)
    assert (row.outcome.value, row.error_kind, row.permanent, row.attempts) == (
        "failed",
        "connect",
        False,
        2,
    )
    assert f"127.0.0.1:{port}" in (row.error_message or "")


async def test_closing_the_sftp_sessions_leaves_the_server_nothing_to_send_into_the_void(
    sftp: SftpDrop, caplog: pytest.LogCaptureFixture
) -> None:
    """The run's end closes each SFTP channel and waits for the server's answer before it
    drops the connection. Before, the simulated server (on the same loop, as in the demo)
    answered into a closed connection and asyncio logged "socket.send() raised
    exception" at the end of every demo."""
    suppliers = sftp_feeds(sftp, "key")
    with caplog.at_level("WARNING", logger="asyncio"):
        summary = await run(suppliers, MemorySink(), suppliers[0].config)
        await asyncio.sleep(0.2)  # the server's side of the close, on this loop
    assert summary.outcomes == _outcomes(sftp.expected())
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
