"""A full ``$TMPDIR`` (a real 1 MiB tmpfs, filled up but 16 KiB) fails the endpoints
whose bodies do not fit as ``spool_full``; the others load, the run finishes and records
its summary, and once there is room ``resume`` loads them: nothing lost, duplicated or
unexpected."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from supplyfeed.sim import FleetSpec, LatencyModel, SupplierFleet

from .checker import check, cli, finish, write_feeds

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def small_tmpfs(where: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs at ``where``; skipped where mounting is not permitted (not in CI)."""
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
        pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def fill(directory: Path, room: int) -> Path:
    """Fill the file system but ``room`` bytes; return the filler file. (Some room stays:
    ``tempfile`` passes over a directory it cannot write 4 bytes to, and a run would then
    spool to /tmp; disks fill up while a run goes, after it chose its directory.)"""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as f:
        for size in (65536, 512, 1):  # smaller and smaller: not a byte left
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    os.truncate(filler, filler.stat().st_size - room)
    return filler


async def test_a_full_tmpdir_fails_spooled_endpoints_and_resume_loads_them(
    tmp_path: Path,
) -> None:
    """ENOSPC from the spool is a typed ``spool_full`` failure; the run finishes; resume
    loads every endpoint once the disk has room."""
    spec = FleetSpec.generate(
        endpoints=6,
        hosts=1,
        records_per_endpoint=200,
        formats=("json",),
        fault_rate=0.0,
        latency=LatencyModel(median=0.01, sigma=0.2, max=0.05),
        seed=11,
    )
    db_url = f"sqlite:///{tmp_path / 'full.db'}"
    with small_tmpfs(tmp_path / "tmpfs") as tmpdir:
        filler = fill(tmpdir, room=16 * 1024)  # every body is over 16 KiB
        async with SupplierFleet(spec, seed=11) as fleet:
            feeds = write_feeds(fleet, tmp_path / "feeds.yaml", db_url, spool_threshold_bytes=64)
            truth = fleet.expected(attempts=3, timeout=2.0)
            env = {"TMPDIR": str(tmpdir)}
            code, output = await finish(await cli("run", str(feeds), "--json", env=env))
            assert code == 1, output
            summary = orjson.loads(next(x for x in output.splitlines() if x.startswith("{")))
            # Bodies that fit in the room left load; the others fail, typed, alone.
            assert set(summary["failures_by_reason"]) == {"spool_full"}, summary
            assert summary["outcomes"]["failed"] >= 1, summary
            assert summary["outcomes"]["failed"] + summary["outcomes"].get("loaded", 0) == 6
            filler.unlink()
            code, output = await finish(
                await cli("resume", "--feeds", str(feeds), "--quiet", env=env)
            )
            assert code == 0, output
            verdict = await check(db_url, truth)
        assert list(tmpdir.iterdir()) == []  # no spool file left behind
    assert verdict.ok, verdict
    assert verdict.rows == sum(len(truth.rows(t)) for t in truth.table_rows)
