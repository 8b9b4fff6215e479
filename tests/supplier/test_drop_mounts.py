"""A run reads drop folders through the transport mounted for file:// (``_fetch/mounts.py``),
under the same hooks as HTTP endpoints; a scheme nothing serves fails only its endpoint."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from supplyfeed._run.pipeline import RunOptions
from supplyfeed._sink.memory import MemorySink
from supplyfeed.sim import SupplierFleet

from ..fetch.test_mounts import SchemeCount
from .helpers import fleet_spec, run, suppliers_of
from .test_drops import _drop, feeds


async def test_drop_files_and_http_share_the_hooks_and_an_unknown_scheme_fails_alone(
    tmp_path: Path,
) -> None:
    """Three files, four HTTP endpoints and one ftp:// URL (a spec built in code: the
    feeds file refuses it): the files and endpoints load once each, the files are moved,
    the ftp endpoint fails after one attempt with a message naming its scheme."""
    drop = tmp_path / "in"
    _drop(drop, ["W1.json", "W2.json", "W3.json"])
    [local] = feeds(f"{drop.as_uri()}/*.json")
    ftp_feed = dataclasses.replace(local.feeds[0], urls=("ftp://127.0.0.1/out/x.json",))
    ftp = dataclasses.replace(local, id="X", feeds=(ftp_feed,))
    hook = SchemeCount()
    sink = MemorySink()
    async with SupplierFleet(fleet_spec(4, hosts=1)) as fleet:
        http, config = suppliers_of(fleet)
        summary = await run((*http, local, ftp), sink, config, RunOptions(hooks=[hook]))
        served = sum(s.requests for s in fleet.stats.endpoints.values())
    assert summary.outcomes == {"failed": 1, "loaded": 7}
    assert summary.failures_by_reason == {"invalid_url": 1}
    assert hook.sent == {"file": 3, "http": 4, "ftp": 1}
    assert served == 4
    assert sorted(p.name for p in (drop / "done").iterdir()) == ["W1.json", "W2.json", "W3.json"]
    [failed] = [r for r in await sink.endpoints(summary.run_id) if r.error_kind]
    assert (failed.endpoint.supplier_id, failed.attempts, failed.permanent) == ("X", 1, True)
    assert failed.error_message is not None
    assert "no transport for ftp:// URLs (this run reads file, http, https, sftp)" in (
        failed.error_message
    )
