"""``--every``: slots aligned to the interval, runs never overlapping, missed slots skipped
and said, a stop between runs or during one. An injected clock and sleep: no waiting."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from supplyfeed import ConfigError
from supplyfeed._run.schedule import Poller, Slots, parse_interval

T0 = 1_800_000_000.0 + 7.0  # 7 s past a 15-minute slot (1_800_000_000 = 900 * 2_000_000)


class Time:
    """A clock, and a sleep that moves it (by less than asked when ``short`` is set)."""

    def __init__(self) -> None:
        self.now = T0
        self.naps: list[float] = []
        self.short = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.naps.append(seconds)
        self.now += max(0.0, seconds - self.short)
        self.short = 0.0
        await asyncio.sleep(0)


def _poller(
    time: Time, durations: list[float], statuses: list[int] | None = None
) -> tuple[Poller, list[float], list[str]]:
    """A poller whose n-th run lasts ``durations[n]``; it stops after the last one."""
    starts: list[float] = []
    said: list[str] = []
    codes = list(statuses or [0] * len(durations))

    async def once() -> int:
        starts.append(time.now)
        time.now += durations[len(starts) - 1]
        if len(starts) == len(durations):
            poller.stop()
        return codes[len(starts) - 1]

    poller = Poller(900.0, once, say=said.append, clock=time.clock, sleep=time.sleep)
    return poller, starts, said


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("15m", 900.0), ("1h", 3600.0), ("1h30m", 5400.0), ("1d", 86400.0),
     ("1.5m", 90.0), (" 2M ", 120.0), ("1s", 1.0)],
)  # fmt: skip
def test_durations_parse(text: str, seconds: float) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "15", "m", "15 m", "15x", "-5m", "0s", "0.5s", "1h 30m"])
def test_bad_durations_are_refused_with_one_line(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_interval(text)
    assert "\n" not in str(info.value)
    assert "--every" in str(info.value)


def test_slots_are_aligned_and_count_the_ones_a_run_passed() -> None:
    slots = Slots(900.0)
    assert slots.next_from(T0) == 1_800_000_900.0
    assert slots.next_from(1_800_000_900.0) == 1_800_000_900.0  # on a slot: that one
    assert slots.passed(T0, T0 + 100) == 0
    assert slots.passed(T0, 1_800_000_900.0) == 0  # ends on the next slot: not missed
    assert slots.passed(T0, 1_800_002_000.0) == 2  # :15 and :30 went by during the run


async def test_runs_start_now_then_on_each_aligned_slot() -> None:
    """The first run starts at once; later ones at :15, :30 whatever the run length."""
    time = Time()
    poller, starts, said = _poller(time, [40.0, 12.0, 300.0])
    assert await poller.run() == 0
    assert starts == [T0, 1_800_000_900.0, 1_800_001_800.0]
    assert poller.runs == 3
    assert "next run at 2027-01-15 08:15:00 UTC" in said[0]
    assert said[-1] == "every: stopped after 3 run(s)"


async def test_a_run_longer_than_the_interval_skips_the_missed_slots_and_says_so() -> None:
    """A 40-minute run from :00 passes :15 and :30: the next run is at :45, never two at
    once, and the poller says it skipped 2 slots."""
    time = Time()
    poller, starts, said = _poller(time, [2400.0, 10.0])
    await poller.run()
    assert starts == [T0, 1_800_002_700.0]
    assert "past 2 slot(s)" in said[0]
    assert "skipped" in said[0]
    assert starts[1] >= starts[0] + 2400.0  # the second began after the first ended


async def test_an_early_wake_up_sleeps_again_instead_of_running_before_the_slot() -> None:
    time = Time()
    time.short = 0.5  # the first sleep returns half a second early
    poller, starts, _ = _poller(time, [10.0, 10.0])
    await poller.run()
    assert starts[1] == 1_800_000_900.0
    assert len(time.naps) == 2
    assert time.naps[1] == pytest.approx(0.5)


async def test_a_stop_between_runs_ends_the_wait_at_once() -> None:
    """stop() while sleeping toward the next slot: no further run, the last status."""
    time = Time()
    starts: list[float] = []
    asleep = asyncio.Event()

    async def once() -> int:
        starts.append(time.now)
        return 1

    async def sleep(seconds: float) -> None:  # a sleep that would last forever
        asleep.set()
        await asyncio.Event().wait()

    poller = Poller(900.0, once, say=lambda _: None, clock=time.clock, sleep=sleep)
    task = asyncio.create_task(poller.run())
    await asleep.wait()
    poller.stop()
    assert await task == 1
    assert starts == [T0]


async def test_a_stop_during_a_run_ends_the_poller_after_that_run() -> None:
    time = Time()
    poller, starts, said = _poller(time, [20.0], statuses=[1])
    assert await poller.run() == 1
    assert len(starts) == 1
    assert time.naps == []  # no wait for a next slot
    assert said == ["every: stopped after 1 run(s)"]


@pytest.mark.slow  # CLI subprocesses
def test_a_bad_every_is_a_usage_error_with_exit_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "supplyfeed", "run", "feeds.yaml", "--every", "15x"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--every takes a duration" in done.stderr
    assert "Traceback" not in done.stderr
