"""The CLI imports aiohttp with its default TLS contexts' CA loads deferred
(``_fetch/tls_defaults.py``): a plain-http run never pays for them, and an HTTPS feed,
verified against the system's CA certificates (here ``SSL_CERT_FILE``, a test CA), still
loads, through ``supplyfeed run`` in its own process."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml

from .test_auth import AuthServer
from .tls_certs import make_pki

PROBE = """
import json, sys
from supplyfeed._fetch.tls_defaults import import_aiohttp, load_deferred
import_aiohttp()
import aiohttp.connector as connector
before = connector._SSL_CONTEXT_VERIFIED.cert_store_stats()["x509_ca"]
load_deferred()
after = connector._SSL_CONTEXT_VERIFIED.cert_store_stats()["x509_ca"]
print(json.dumps([before, after]))
"""


def _env(ca: Path, empty: Path) -> dict[str, str]:
    return {**os.environ, "SSL_CERT_FILE": str(ca), "SSL_CERT_DIR": str(empty)}


def test_the_ca_certificates_load_only_when_asked(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    (tmp_path / "no-certs").mkdir()
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60,
        env=_env(pki.ca, tmp_path / "no-certs"), check=True,
    )  # fmt: skip
    assert json.loads(done.stdout) == [0, 1]  # none at import; then the test CA


async def test_an_https_feed_verified_by_the_system_cas_loads_through_the_cli(
    tmp_path: Path,
) -> None:
    pki = make_pki(tmp_path)
    (tmp_path / "no-certs").mkdir()
    db = tmp_path / "tls.db"
    async with AuthServer(pki.server_context(require_client=False)) as server:
        doc = {
            "sink": f"sqlite:///{db}",
            "suppliers": [{"id": "T", "feeds": [
                {"kind": "inventory_snapshot", "format": "json", "urls": server.urls("open", 2)},
            ]}],
        }  # fmt: skip
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text(yaml.safe_dump(doc))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "supplyfeed", "run", str(feeds), "--quiet", "--json",
            env=_env(pki.ca, tmp_path / "no-certs"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert json.loads(out.decode().splitlines()[-1])["outcomes"] == {"loaded": 2}
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM inventory_positions").fetchone() == (4,)
    conn.close()
