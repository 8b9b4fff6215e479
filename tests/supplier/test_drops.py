"""Drop sources: file:// shares, and sftp:// against the sim's SFTP server (asyncssh)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from supplyfeed._config import SupplierSpec
from supplyfeed._feedsfile import parse_feeds
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
