"""Every artefact a run leaves is scanned for the run's secrets.

Two real CLI runs (``python -m supplyfeed run F``: JSON logs with metrics, then
text logs) against local servers on 127.0.0.1, with credentials of every kind: an API key
header, an ``${ENV}`` header, an API key, a signature and an ``${ENV}`` account number in
the query, a bearer token.
The endpoints load, redirect to another origin, fail once, 404, loop, and one echoes the
request back as an undecodable body. Then the logs, stdout, ``report --json``,
``dead-letters --json``, the SQLite files, the metrics textfile and $TMPDIR are read:
the only place a secret may appear is the raw body of that echo's dead letter.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from .supplier.origins import Origin, redirect, serve, throwaway_secrets

pytestmark = pytest.mark.slow  # a whole run, then every artefact scanned

ENV = throwaway_secrets("API_KEY", "PARTNER", "SIG", "ACCOUNT", "BEARER")


async def cli(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, bytes, bytes]:
    """``python -m supplyfeed ARGS``: exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "supplyfeed",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(120):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out, err


@pytest.fixture
async def origins() -> AsyncIterator[tuple[Origin, Origin]]:
    async with Origin() as a, Origin() as b:
        flaky: list[int] = []

        async def once_500(request: web.Request) -> web.StreamResponse:
            flaky.append(1)
            if len(flaky) == 1:
                return web.Response(status=500)
            return await serve("flaky")(request)

        async def echo(request: web.Request) -> web.StreamResponse:
            raw = f"ECHO {request.path_qs} {dict(request.headers)}".encode()
            return web.Response(body=raw, content_type="application/json")

        a.routes.update(
            {
                "/doc/hdr": serve("hdr"),
                "/hop": redirect(lambda r: b.url(f"/doc/hop?{r.query_string}")),
                "/flaky": once_500,
                "/loop": redirect(lambda r: "/loop2"),
                "/loop2": redirect(lambda r: "/loop"),
                "/doc/qry": serve("qry"),
                "/doc/tok": serve("tok"),
                "/echo": echo,
            }
        )
        b.routes["/doc/hop"] = serve("hop")
        yield a, b


def feeds_file(path: Path, a: Origin, db: Path) -> Path:
    def supplier(sid: str, urls: list[str], **extra: Any) -> dict[str, Any]:
        feed = {"kind": "inventory_snapshot", "format": "json", "urls": urls}
        return {"id": sid, "feeds": [feed], **extra}

    doc = {
        "sink": f"sqlite:///{db}",
        "defaults": {"backoff_initial": 0.01, "backoff_max": 0.02, "timeout_seconds": 5.0},
        "suppliers": [
            supplier(
                "HDR",
                [a.url(p) for p in ("/doc/hdr", "/hop", "/flaky", "/gone", "/loop")],
                auth={"type": "api_key", "key_value": "${API_KEY}"},
                headers={"X-Partner-Token": "${PARTNER}"},
            ),
            supplier(
                "QRY",
                [a.url("/doc/qry?region=eu&sig=${SIG}&account=${ACCOUNT}")],
                auth={
                    "type": "api_key",
                    "key_in": "query",
                    "key_name": "api_key",
                    "key_value": "${API_KEY}",
                },
            ),
            supplier(
                "TOK",
                [a.url("/doc/tok"), a.url("/echo")],
                auth={"type": "bearer", "token": "${BEARER}"},
            ),
        ],
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def dead_letter_bodies(db: Path) -> list[bytes]:
    with sqlite3.connect(db) as conn:
        return [bytes(r[0]) for r in conn.execute("SELECT body FROM sf_dead_letters")]


def logical_dump(db: Path) -> str:
    """Every value of every table, except the raw dead-letter bodies."""
    out: list[str] = []
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}"')
            columns = [c[0] for c in cursor.description]
            for row in cursor:
                out += [
                    repr(v)
                    for c, v in zip(columns, row, strict=True)
                    if (table, c) != ("sf_dead_letters", "body")
                ]
    return "\n".join(out)


def files_under(*roots: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for root in roots for p in root.rglob("*") if p.is_file()}


async def test_no_secret_is_left_in_any_artefact_but_an_echoed_dead_letter_body(
    tmp_path: Path, origins: tuple[Origin, Origin]
) -> None:
    a, b = origins
    db_dir, tmpdir = tmp_path / "db", tmp_path / "tmp"
    db_dir.mkdir()
    tmpdir.mkdir()
    db = db_dir / "feeds.db"
    feeds = feeds_file(tmp_path / "feeds.yaml", a, db)
    env = {**os.environ, **ENV, "TMPDIR": str(tmpdir)}
    env.pop("SUPPLYFEED_FAILPOINTS", None)
    prom = tmp_path / "metrics.prom"
    run = ("run", str(feeds), "--quiet")
    first = await cli(
        *run, "--log-format", "json", "--metrics-port", "0", "--metrics-file", str(prom),
        env=env, cwd=tmp_path,
    )  # fmt: skip
    second = await cli(*run, "--log-format", "text", "--json", env=env, cwd=tmp_path)
    report = await cli("report", "--json", "--db", f"sqlite:///{db}", env=env, cwd=tmp_path)
    letters = await cli("dead-letters", "--json", "--db", f"sqlite:///{db}", env=env, cwd=tmp_path)
    assert first[0] == 1, first[2].decode()  # finished, with the planned failures
    assert b"metrics on http://127.0.0.1:" in first[2]  # loopback unless told otherwise
    assert report[0] == 0
    assert b"redirect_loop" in report[1]
    assert b"region=eu" in first[2]  # the JSON log has a line a fetch, URLs included
    assert letters[0] == 0
    bodies = dead_letter_bodies(db)
    assert len(bodies) == 2  # one a run: each echo holds its own request id
    assert all(ENV["BEARER"].encode() in body for body in bodies)  # a secret came back

    artefacts: dict[str, bytes] = {
        "run 1 stdout": first[1],
        "run 1 log (json)": first[2],
        "run 2 stdout (--json)": second[1],
        "run 2 log (text)": second[2],
        "report --json": report[1],
        "dead-letters --json": letters[1],
        "database, table by table": logical_dump(db).encode(),
    }
    for path, data in files_under(db_dir, tmpdir).items():
        for body in bodies:
            data = data.replace(body, b"")
        artefacts[str(path)] = data
    artefacts["metrics textfile"] = prom.read_bytes()
    assert any(k.endswith("feeds.db") for k in artefacts)
    for secret in ENV.values():
        assert secret.encode() in a.received_bytes  # every secret was in use
        assert secret.encode() not in b.received_bytes  # the other origin got none
        for name, data in artefacts.items():
            assert secret.encode() not in data, f"{secret} in {name}"
    assert not list(tmpdir.iterdir())  # no spool file left behind
