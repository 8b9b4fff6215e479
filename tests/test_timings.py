"""``run --timings`` (issue 17): the process's time, phase by phase."""

from __future__ import annotations

from pathlib import Path

import pytest

from supplyfeed._cli.main import main
from supplyfeed._run.timings import PHASES, PhaseTimer

from .threaded_fleet import served_feeds


def test_phases_are_consecutive_and_add_up() -> None:
    now = [100.0]
    timer = PhaseTimer(started=99.5, clock=lambda: now[0])
    for phase, seconds in zip(PHASES, (0.5, 0.25, 2.0, 0.125, 0.25, 0.125), strict=True):
        timer.mark(phase)
        now[0] += seconds
    assert timer.seconds == {"start": 0.5, "plan": 0.5, "fetch": 0.25, "drain": 2.0,
                             "checks": 0.125, "report": 0.25}  # fmt: skip
    assert timer.total == pytest.approx(3.625)
    lines = timer.lines()
    assert [line.split()[0] for line in lines] == ["phase", *PHASES, "total"]
    assert lines[-1].split()[1] == "3.625"


def test_run_timings_prints_every_phase(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A real ``supplyfeed run --timings`` against a simulator served from a thread."""
    with served_feeds(tmp_path, 4) as feeds:
        assert main(["run", str(feeds), "--quiet", "--timings"]) == 0
    err = capsys.readouterr().err.splitlines()
    table = err[err.index(next(line for line in err if line.startswith("phase"))) :]
    assert [line.split()[0] for line in table] == ["phase", *PHASES, "total"]
    seconds = {line.split()[0]: float(line.split()[1]) for line in table[1:]}
    assert all(s >= 0 for s in seconds.values())
    # each figure is rounded to the millisecond: the sum of six may drift by 6 x 0.5 ms,
    # and the total's own rounding by 0.5 ms more
    rounding = 0.0005 * (len(PHASES) + 1)
    assert seconds["total"] == pytest.approx(sum(seconds[p] for p in PHASES), abs=rounding)
    assert seconds["start"] > 0  # the interpreter's start and the imports count


def test_the_process_start_comes_from_the_os() -> None:
    """Not from an import of ours: the interpreter's own start-up is in ``start``."""
    from supplyfeed._run.timings import process_started

    now = [5_000.0]
    age = now[0] - process_started(clock=lambda: now[0])
    assert 0 < age < 24 * 3600  # this test process began before the call, today


def test_the_database_is_closed_when_the_printed_run_returns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sink closes while the summary prints (``report``), and the command returns
    only once it has: the worker's last checkpoint has deleted the WAL."""
    with served_feeds(tmp_path, 4) as feeds:
        assert main(["run", str(feeds), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "records loaded" in out
    assert "HTML report: supplyfeed report" in out  # printed beside the close, not instead
    assert (tmp_path / "run.db").is_file()
    assert not list(tmp_path.glob("run.db-*"))  # no -wal, no -shm: closed
