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
