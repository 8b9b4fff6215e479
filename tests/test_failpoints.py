"""Crash points are armed by the CLI (or a parent process), never by importing the module."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from supplyfeed._failpoints import ENV, FailpointError, arm, armed_spec, failpoint


def test_an_armed_point_raises_once_on_its_count() -> None:
    arm("fetch=raise:2,decode=raise:1")
    try:
        assert armed_spec() == "fetch=raise:2,decode=raise:1"
        failpoint("fetch")  # the 1st pass: armed for the 2nd
        failpoint("mid_batch")  # not armed
        with pytest.raises(FailpointError, match="failpoint fetch"):
            failpoint("fetch")
        failpoint("fetch")  # a point fires once
        with pytest.raises(FailpointError, match="failpoint decode"):
            failpoint("decode")
    finally:
        arm("")
    assert armed_spec() == ""


def test_importing_the_module_does_not_read_the_environment() -> None:
    """With the variable set, a process that only imports the module is not armed."""
    code = (
        "from supplyfeed._failpoints import failpoint, armed_spec\n"
        "failpoint('fetch')\n"
        "print(repr(armed_spec()))\n"
    )
    env = {**os.environ, ENV: "fetch=raise:1"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "''"


def test_a_sigterm_point_signals_the_process_once() -> None:
    """``name=sigterm:N``: the Nth pass sends this process a SIGTERM (a stand-in for an
    operator's stop at that moment); here a handler counts it."""
    code = (
        "import signal\n"
        "from supplyfeed._failpoints import arm, failpoint\n"
        "seen = []\n"
        "signal.signal(signal.SIGTERM, lambda *_: seen.append(1))\n"
        "arm('run_modules=sigterm:2')\n"
        "for _ in range(4):\n"
        "    failpoint('run_modules')\n"
        "print(len(seen))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "1"


def test_an_unknown_failpoint_action_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown action 'explode'"):
        arm("fetch=explode:1")
    arm("")
