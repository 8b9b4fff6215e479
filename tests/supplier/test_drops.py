"""Drop sources: file:// shares and sftp:// servers (asyncssh's own server, in process)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
import orjson
import pytest
import yaml

from supplyfeed._config import SupplierSpec
from supplyfeed._feedsfile import parse_feeds
from supplyfeed._sink.memory import MemorySink

from .helpers import QUICK, run

ENV = {"SFTP_PW": "drop-secret-pw"}


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


def feeds(url: str, auth: dict[str, Any] | None = None, **drop: str) -> tuple[SupplierSpec, ...]:
    feed: dict[str, Any] = {"kind": "inventory_snapshot", "format": "json", "urls": [url]}
    if drop:
        feed["drop"] = drop
    supplier: dict[str, Any] = {"id": "D", "feeds": [feed], **({"auth": auth} if auth else {})}
    doc = {"defaults": dict(QUICK), "suppliers": [supplier]}
    return parse_feeds(yaml.safe_dump(doc), "feeds.yaml", ENV).suppliers


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


async def test_local_drop_can_delete_after_loading(tmp_path: Path) -> None:
    """after: delete removes each file once its rows committed."""
    _drop(tmp_path, [f"W{i}.json" for i in range(8)])
    suppliers = feeds(f"{tmp_path.as_uri()}/W*.json", after="delete")
    sink = MemorySink()
    summary = await run(suppliers, sink, suppliers[0].config)
    assert summary.outcomes == {"loaded": 8}
    assert await _warehouses(sink) == [f"W{i}" for i in range(8)]
    assert _names(tmp_path) == ["readme.txt"]


# -- SFTP ------------------------------------------------------------------------------------


class _Server(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == "edi" and password == ENV["SFTP_PW"]


class SftpDrop:
    def __init__(self, root: Path, keys: Path) -> None:
        self.root = root
        self.keys = keys
        self.port = 0
        self._server: asyncssh.SSHAcceptor | None = None

    async def __aenter__(self) -> SftpDrop:
        host_key = asyncssh.generate_private_key("ssh-ed25519")
        client_key = asyncssh.generate_private_key("ssh-ed25519")
        client_key.write_private_key(str(self.keys / "client_key"))
        root = str(self.root).encode()
        self._server = await asyncssh.listen(
            "127.0.0.1",
            0,
            server_host_keys=[host_key],
            authorized_client_keys=asyncssh.import_authorized_keys(
                client_key.export_public_key().decode()
            ),
            server_factory=_Server,
            sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=root),
        )
        self.port = self._server.sockets[0].getsockname()[1]
        line = f"[127.0.0.1]:{self.port} {host_key.export_public_key().decode()}"
        (self.keys / "known_hosts").write_text(line)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def sftp(tmp_path: Path) -> AsyncIterator[SftpDrop]:
    (tmp_path / "root").mkdir()
    (tmp_path / "keys").mkdir()
    async with SftpDrop(tmp_path / "root", tmp_path / "keys") as server:
        yield server


async def test_sftp_drop_with_a_key(sftp: SftpDrop) -> None:
    """sftp:// with a client key and a checked host key: files load, then move to done/."""
    _drop(sftp.root / "out", [f"E{i}.json" for i in range(6)])
    auth = {
        "username": "edi",
        "ssh_key": str(sftp.keys / "client_key"),
        "known_hosts": str(sftp.keys / "known_hosts"),
    }
    suppliers = feeds(f"sftp://127.0.0.1:{sftp.port}/out/*.json", auth)
    sink = MemorySink()
    summary = await run(suppliers, sink, suppliers[0].config)
    assert summary.outcomes == {"loaded": 6}
    assert await _warehouses(sink) == [f"E{i}" for i in range(6)]
    done = _names(sftp.root / "out" / "done")
    assert done == [f"E{i}.json" for i in range(6)]


async def test_sftp_drop_with_a_password_from_env(sftp: SftpDrop) -> None:
    """The password comes from ${ENV} in the URL and never reaches the ledger."""
    _drop(sftp.root / "out", ["P1.json", "P2.json", "broken.json"], bad=("broken.json",))
    url = f"sftp://edi:${{SFTP_PW}}@127.0.0.1:{sftp.port}/out/*.json"
    suppliers = feeds(url, {"known_hosts": str(sftp.keys / "known_hosts")})
    sink = MemorySink()
    summary = await run(suppliers, sink, suppliers[0].config)
    assert summary.outcomes == {"loaded": 2, "quarantined": 1}
    assert await _warehouses(sink) == ["P1", "P2"]
    assert _exists(sftp.root / "out" / "broken.json")
    assert len(summary.warnings) == 1
    assert "broken.json" in summary.warnings[0]
    ledger = repr(await sink.endpoints(summary.run_id)) + repr(summary.to_dict())
    assert ENV["SFTP_PW"] not in ledger


async def test_sftp_unknown_host_key_is_refused(sftp: SftpDrop, tmp_path: Path) -> None:
    """Host keys are checked: an empty known_hosts fails the listing, nothing is read."""
    _drop(sftp.root / "out", ["X.json"])
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    url = f"sftp://edi:${{SFTP_PW}}@127.0.0.1:{sftp.port}/out/*.json"
    suppliers = feeds(url, {"known_hosts": str(empty)})
    sink = MemorySink()
    summary = await run(suppliers, sink, suppliers[0].config)
    assert summary.outcomes == {"failed": 1}
    assert _exists(sftp.root / "out" / "X.json")
