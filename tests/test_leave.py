"""``leave``: the console entry point ends the process without the interpreter's
teardown, but with everything the teardown would do that anyone can see: the exit
status, stdout and stderr flushed, non-daemon threads finished, atexit handlers run
(temporary folders removed)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

PROGRAM = """
import atexit, sys, tempfile, threading, time
from pathlib import Path
from supplyfeed._cli.leave import leave

out = Path(sys.argv[1])
kept = tempfile.TemporaryDirectory(dir=out)  # removed by its atexit finalizer
(Path(kept.name) / "f").write_text("x")
atexit.register(lambda: (out / "atexit").write_text("ran"))

def late() -> None:
    time.sleep(0.2)
    (out / "thread").write_text("done")

threading.Thread(target=late).start()
sys.stdout.write("buffered, no newline")
sys.stderr.write("to stderr")
leave(7)
print("never")
"""


def test_leave_keeps_the_status_the_output_threads_and_exit_handlers(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PROGRAM), str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 7, done.stderr
    assert (done.stdout, done.stderr) == ("buffered, no newline", "to stderr")
    assert (tmp_path / "thread").read_text() == "done"
    assert (tmp_path / "atexit").read_text() == "ran"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["atexit", "thread"]


def test_the_command_leaves_with_its_status_and_a_usage_error_as_usual() -> None:
    run = [sys.executable, "-m", "supplyfeed"]
    version = subprocess.run([*run, "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0
    assert version.stdout.startswith("supplyfeed ")
    bad = subprocess.run([*run, "report", "--db", "nope:x"], capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert bad.returncode == 2, bad.stderr
    assert "error:" in bad.stderr
