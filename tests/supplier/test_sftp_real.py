"""SFTP drops against a real OpenSSH sshd on 127.0.0.1 (tests/supplier/sshd.py).

The in-process server (``supplyfeed.sim.SftpDrop``) is asyncssh's and forgives what
OpenSSH does not; these tests pin the behaviour against the real thing: password and key
logins, known_hosts, ``MaxSessions 10``, and a rename onto a name that exists.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import asyncssh
import pytest
import yaml

from supplyfeed._config import SupplierSpec
from supplyfeed._feedsfile import parse_feeds
from supplyfeed._run.summary import RunSummary
from supplyfeed._sink.memory import MemorySink
from supplyfeed.sim import TABLES, Fault, FleetSpec
from supplyfeed.sim.sftp import DropBatch, drop_path

from .helpers import QUICK, assert_rows_match, run, table_keys
from .sshd import HOST, RealSshd, unavailable

pytestmark = pytest.mark.slow  # a real sshd per test

PW_ENV = "SUPPLYFEED_TEST_SFTP_PASSWORD"


@pytest.fixture(scope="session")
def sshd() -> Iterator[RealSshd]:
    reason = unavailable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true needs a real sshd: {reason}")
        pytest.skip(f"no real sshd: {reason}")
    server = RealSshd()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def server(sshd: RealSshd) -> RealSshd:
    """The session's sshd with an empty home folder."""
    sshd.reset_home()
    return sshd


def _spec(endpoints: int, *, formats: tuple[str, ...], bad: int | None = None) -> FleetSpec:
    base = FleetSpec.generate(
        endpoints=endpoints,
        hosts=1,
        suppliers=["D"],
        records_per_endpoint=3,
        formats=formats,
        seed=17,
    )
    eps = tuple(
        dataclasses.replace(ep, fault=Fault.malformed() if i == bad else None)
        for i, ep in enumerate(base.endpoints)
    )
    return dataclasses.replace(base, endpoints=eps)


def _drop(server: RealSshd, spec: FleetSpec) -> DropBatch:
    """The spec's files in ~/out, owned by the user."""
    batch = DropBatch(spec)
    batch.write(server.home / "out")
    server.give(server.home / "out")
    return batch


def _base(server: RealSshd, *, login: str, home_relative: bool) -> str:
    userinfo = f"{server.user}:${{{PW_ENV}}}@" if login == "password" else f"{server.user}@"
    folder = "/~/out" if home_relative else f"{server.home}/out"
    return f"sftp://{userinfo}{HOST}:{server.port}{folder}"


def _supplier(
    server: RealSshd,
    batch: DropBatch,
    sid: str,
    *,
    login: str,
    home_relative: bool = True,
    **auth: str,
) -> dict[str, Any]:
    base_auth: dict[str, Any] = {"known_hosts": str(server.known_hosts)}
    if login == "key":
        base_auth["ssh_key"] = str(server.client_key)
    (supplier,) = batch.suppliers(
        _base(server, login=login, home_relative=home_relative), {**base_auth, **auth}
    )
    return dict(supplier, id=sid)


def _parse(
    server: RealSshd, suppliers: list[dict[str, Any]], password: str | None = None, **defaults: Any
) -> tuple[SupplierSpec, ...]:
    doc = {"defaults": {**QUICK, **defaults}, "suppliers": suppliers}
    env = {PW_ENV: server.password if password is None else password}
    return parse_feeds(yaml.safe_dump(doc), "feeds.yaml", env).suppliers


async def _run(suppliers: tuple[SupplierSpec, ...], sink: MemorySink) -> RunSummary:
    return await run(suppliers, sink, suppliers[0].config)


def _outcomes(batch: DropBatch) -> dict[str, int]:
    return dict(Counter(batch.truth("").outcomes.values()))


def _left(server: RealSshd, batch: DropBatch) -> list[str]:
    """The drop files still in their folder (not moved)."""
    root = server.home / "out"
    return sorted(f.path for f in batch.files if (root / f.path.lstrip("/")).exists())


def _fingerprint(server: RealSshd) -> str:
    return asyncssh.read_public_key(f"{server.host_key}.pub").get_fingerprint()


async def test_password_login_with_a_home_relative_path(server: RealSshd) -> None:
    """sftp://user:${PW}@host/~/out/...: one password login, every good file loaded once and
    moved to done/, the malformed one quarantined and left in place."""
    batch = _drop(server, _spec(9, formats=("x12", "edifact", "json"), bad=4))
    suppliers = _parse(server, [_supplier(server, batch, "D", login="password")])
    accepted = server.log_count("Accepted password")
    sink = MemorySink()
    summary = await _run(suppliers, sink)
    assert summary.outcomes == _outcomes(batch) == {"loaded": 8, "quarantined": 1}
    assert await assert_rows_match(sink, batch.truth("")) > 0
    assert _left(server, batch) == [drop_path(batch.spec.endpoints[4])]
    assert server.log_count("Accepted password") == accepted + 1
    again = await _run(suppliers, sink)  # only the bad file is left
    assert again.outcomes == {"quarantined": 1}
    await assert_rows_match(sink, batch.truth(""))  # nothing duplicated


async def test_key_login_with_an_absolute_path(server: RealSshd) -> None:
    """sftp://user@host/home/user/out/... with auth.ssh_key: one public-key login; the
    rows are exactly the truth's and every file moves."""
    batch = _drop(server, _spec(6, formats=("json", "x12")))
    supplier = _supplier(server, batch, "D", login="key", home_relative=False)
    suppliers = _parse(server, [supplier])
    accepted = server.log_count("Accepted publickey")
    sink = MemorySink()
    summary = await _run(suppliers, sink)
    assert summary.outcomes == {"loaded": 6}
    await assert_rows_match(sink, batch.truth(""))
    assert _left(server, batch) == []
    assert server.log_count("Accepted publickey") == accepted + 1


async def test_an_unknown_host_key_is_refused_naming_fingerprint_and_file(
    server: RealSshd,
) -> None:
    """known_hosts holding another key: every pattern fails permanently (tls) with the
    fingerprint sshd offered and the known_hosts path; nobody logs in, nothing moves."""
    batch = _drop(server, _spec(4, formats=("json",)))
    wrong = server.dir / "wrong_known_hosts"
    stranger = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    wrong.write_text(f"[{HOST}]:{server.port} {stranger}")
    supplier = _supplier(server, batch, "D", login="key", known_hosts=str(wrong))
    logins = server.log_count("Accepted") + server.log_count("Failed")
    sink = MemorySink()
    summary = await _run(_parse(server, [supplier]), sink)
    rows = await sink.endpoints(summary.run_id)
    assert summary.outcomes == {"failed": len(rows)}
    assert {(r.error_kind, r.permanent) for r in rows} == {("tls", True)}
    for r in rows:
        assert _fingerprint(server) in (r.error_message or "")
        assert str(wrong) in (r.error_message or "")
    assert server.log_count("Accepted") + server.log_count("Failed") == logins
    assert len(_left(server, batch)) == 4
    assert (await table_keys(sink)) == {t: [] for t in TABLES}


async def test_a_move_onto_an_existing_name_is_numbered(server: RealSshd) -> None:
    """OpenSSH's rename refuses an existing name (was: the error crashed the run): each
    file is archived as name-1.ext beside the old copy, which keeps its bytes."""
    batch = _drop(server, _spec(5, formats=("json", "edifact")))
    archived: dict[str, bytes] = {}
    for f in batch.files:
        done = server.home / "out" / os.path.dirname(f.path.lstrip("/")) / "done"
        done.mkdir(parents=True, exist_ok=True)
        name = os.path.basename(f.path)
        (done / name).write_bytes(f"yesterday's {name}".encode())
        archived[f.path] = (done / name).read_bytes()
    server.give(server.home / "out")
    sink = MemorySink()
    supplier = _supplier(server, batch, "D", login="key", home_relative=False)
    summary = await _run(_parse(server, [supplier]), sink)
    assert summary.outcomes == {"loaded": 5}
    await assert_rows_match(sink, batch.truth(""))
    assert _left(server, batch) == []
    for f in batch.files:
        done = server.home / "out" / os.path.dirname(f.path.lstrip("/")) / "done"
        stem, ext = os.path.splitext(os.path.basename(f.path))
        assert (done / f"{stem}{ext}").read_bytes() == archived[f.path]
        assert (done / f"{stem}-1{ext}").read_bytes() == f.body
    moved = [w for w in summary.warnings if "its name was taken" in w]
    assert len(moved) == 5


async def test_max_sessions_10_loads_every_file_in_ten_runs(server: RealSshd) -> None:
    """Stock MaxSessions 10, 40 files, limit_per_host 40: in each of 10 runs every file
    loads exactly once and moves, no channel is refused (was: 4 of 11 runs crashed)."""
    spec = _spec(40, formats=("json",))
    for attempt in range(10):
        server.reset_home()
        batch = _drop(server, spec)
        supplier = _supplier(server, batch, "D", login="key", home_relative=False)
        suppliers = _parse(server, [supplier], limit_per_host=40, max_concurrency=40)
        sink = MemorySink()
        summary = await _run(suppliers, sink)
        assert summary.outcomes == {"loaded": 40}, (attempt, summary.outcomes)
        await assert_rows_match(sink, batch.truth(""))
        assert _left(server, batch) == [], attempt
    assert server.log_lines("no more sessions") == []


async def test_two_suppliers_on_one_host_each_get_their_own_trust(server: RealSshd) -> None:
    """D logs in with the key, B with a wrong password, C with a wrong known_hosts entry,
    all as one user on one host: D loads everything, B fails auth after exactly one
    failed login per run for all its patterns, C fails tls without logging in (was: B
    and C loaded over D's connection)."""
    batch = _drop(server, _spec(6, formats=("json", "x12", "edifact")))
    wrong = server.dir / "wrong_known_hosts_2"
    stranger = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    wrong.write_text(f"[{HOST}]:{server.port} {stranger}")
    suppliers = _parse(
        server,
        [
            _supplier(server, batch, "D", login="key"),
            _supplier(server, batch, "B", login="password"),
            _supplier(server, batch, "C", login="key", known_hosts=str(wrong)),
        ],
        password="not-the-password",
    )
    patterns = sum(len(f.urls) for f in suppliers[1].feeds)
    assert patterns > 1  # one login must serve them all
    failed = server.log_count(f"Failed password for {server.user}")
    sink = MemorySink()
    summary = await _run(suppliers, sink)
    rows = await sink.endpoints(summary.run_id)
    by_supplier: dict[str, Counter[str]] = {}
    for r in rows:
        by_supplier.setdefault(r.endpoint.supplier_id, Counter())[r.outcome.value] += 1
    assert by_supplier == {
        "D": Counter(loaded=6),
        "B": Counter(failed=patterns),
        "C": Counter(failed=patterns),
    }
    await assert_rows_match(sink, batch.truth(""))
    assert {
        (r.error_kind, r.permanent, r.attempts) for r in rows if r.endpoint.supplier_id == "B"
    } == {("auth", True, 1)}
    assert {(r.error_kind, r.permanent) for r in rows if r.endpoint.supplier_id == "C"} == {
        ("tls", True)
    }
    assert server.log_count(f"Failed password for {server.user}") == failed + 1
    await _run(suppliers, MemorySink())  # the next run: again one attempt, no more
    assert server.log_count(f"Failed password for {server.user}") == failed + 2
