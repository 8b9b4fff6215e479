"""Start-up (issue 17): a command imports what it needs and nothing more.

Each check runs a fresh interpreter, as the user's shell does, and reads its
``sys.modules``; no timing is asserted (the benchmark measures it).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("aiohttp", "asyncssh", "asyncpg", "rich", "yaml", "prometheus_client", "duckdb")
OURS = ("supplyfeed._run.pipeline", "supplyfeed._fetch.engine", "supplyfeed._sink.sqlite")


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after ``code`` (its stdout is discarded)."""
    probe = (
        "import contextlib, io, json, sys\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        + "".join(f"    {line}\n" for line in code.splitlines())
        + "sys.stderr.write(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "argv", [["--help"], ["run", "--help"], ["--version"]], ids=["help", "run-help", "version"]
)
def test_help_imports_no_client_library(argv: list[str]) -> None:
    loaded = _modules_after(
        "from supplyfeed._cli.main import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
    )
    assert "supplyfeed._cli.main" in loaded
    assert not [m for m in HEAVY + OURS if m in loaded]


def test_importing_the_package_loads_names_on_first_use() -> None:
    loaded = _modules_after("import supplyfeed\nsupplyfeed.FeedConfig\n")
    assert "supplyfeed._config" in loaded
    assert not [m for m in ("aiohttp", "asyncssh", "supplyfeed._fetch.engine") if m in loaded]
    loaded = _modules_after("import supplyfeed\nsupplyfeed.AsyncBatchIngestor\n")
    assert "aiohttp" in loaded  # the engine itself does need it


def test_an_unknown_package_name_is_an_attribute_error() -> None:
    import supplyfeed

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        supplyfeed.Nope  # noqa: B018
