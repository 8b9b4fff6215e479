"""The command line's runs freeze the heap they start with for the garbage collector,
and unfreeze it when they end (``_cli/commands.py``: ``_execute_async``)."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from supplyfeed._cli.main import main

from .threaded_fleet import served_feeds


def test_a_run_collects_with_a_frozen_heap_and_leaves_it_unfrozen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frozen_at_collections: list[int] = []

    def seen(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            frozen_at_collections.append(gc.get_freeze_count())

    assert gc.get_freeze_count() == 0
    with served_feeds(tmp_path, 4) as feeds:
        gc.callbacks.append(seen)
        try:
            assert main(["run", str(feeds), "--quiet", "--json"]) == 0
        finally:
            gc.callbacks.remove(seen)
    assert '"loaded":4' in capsys.readouterr().out.replace(" ", "")
    # the modules, classes and specs the run started with were left out of its collections
    assert max(frozen_at_collections) > 10_000
    assert gc.get_freeze_count() == 0  # and may be collected again: --every runs on


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
