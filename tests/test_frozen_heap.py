"""The collector during a run of the command line (``_gcpolicy.py``): young collections
every ``BATCH_THRESHOLD`` allocations and the starting heap frozen, both undone when the
run ends; the SQLite worker collects at the same threshold."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest

from supplyfeed._cli.main import main
from supplyfeed._gcpolicy import BATCH_THRESHOLD, batch_collection, freeze_heap
from supplyfeed._sink.sqlite import SqliteSink

from .threaded_fleet import served_feeds


def test_a_run_collects_with_a_frozen_heap_and_leaves_it_unfrozen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A thread beside the run samples the collector's state every millisecond."""
    frozen: list[int] = []
    thresholds: set[int] = set()
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.001):
            frozen.append(gc.get_freeze_count())
            thresholds.add(gc.get_threshold()[0])

    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    with served_feeds(tmp_path, 20) as feeds:
        sampler = threading.Thread(target=sample, name="test-gc-sampler")
        sampler.start()
        try:
            assert main(["run", str(feeds), "--quiet", "--json"]) == 0
        finally:
            done.set()
            sampler.join()
    assert '"loaded":20' in capsys.readouterr().out.replace(" ", "")
    # the modules, classes and specs the run started with were left out of its collections
    assert max(frozen) > 10_000
    assert BATCH_THRESHOLD in thresholds  # and its young collections were the rare ones
    assert gc.get_freeze_count() == 0  # both undone: --every runs on
    assert gc.get_threshold() == before


def test_a_run_that_fails_to_start_unfreezes_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "not_sqlite.db").write_text("not a database")  # the sink cannot open it
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        f"sink: sqlite:///{tmp_path / 'not_sqlite.db'}\n"
        "suppliers:\n  - id: acme\n    feeds:\n"
        "      - {kind: inventory_snapshot, format: json, urls: ['http://127.0.0.1:9/x']}\n"
    )
    assert main(["run", str(feeds), "--quiet"]) != 0
    assert "Traceback" not in capsys.readouterr().err
    assert gc.get_freeze_count() == 0


def test_batch_collection_restores_what_it_changed() -> None:
    before = gc.get_threshold()
    with batch_collection():
        assert gc.get_threshold() == (BATCH_THRESHOLD, *before[1:])
        freeze_heap()
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


async def test_the_sqlite_worker_collects_at_the_batch_threshold(tmp_path: Path) -> None:
    """The worker process is supplyfeed's own: it is tuned whatever its parent's setting."""
    sink = SqliteSink(f"sqlite:///{tmp_path / 'w.db'}", worker="process")
    await sink.open()
    try:
        executor = sink._executor
        assert executor is not None
        assert executor.submit(gc.get_threshold).result(timeout=30)[0] == BATCH_THRESHOLD
    finally:
        await sink.close()
