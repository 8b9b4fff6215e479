"""Start-up (issue 17): a command imports what it needs and nothing more.

Each check runs a fresh interpreter, as the user's shell does, and reads its
``sys.modules``; no timing is asserted (the benchmark measures it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .threaded_fleet import served_feeds

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


def _run_modules(feeds: Path, *flags: str) -> tuple[set[str], str]:
    """The modules ``supplyfeed run FEEDS FLAGS`` held at exit, in the real command's own
    process, and its stdout."""
    code = (
        "import atexit, json, sys\n"
        "atexit.register(lambda: sys.stderr.write(json.dumps(sorted(sys.modules))))\n"
        "from supplyfeed._cli.main import main\n"
        f"raise SystemExit(main(['run', {str(feeds)!r}, *{list(flags)!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stderr.strip().splitlines()[-1])), done.stdout


def test_a_run_without_drop_folders_or_postgresql_imports_neither(tmp_path: Path) -> None:
    """``supplyfeed run`` of an HTTP fleet into SQLite imports no asyncssh and no asyncpg."""
    with served_feeds(tmp_path, 3) as feeds:
        loaded, _ = _run_modules(feeds, "--quiet")
    assert "supplyfeed._run.pipeline" in loaded  # it did run
    assert not [m for m in ("asyncssh", "asyncpg", "supplyfeed._fetch.drops") if m in loaded]
    assert "rich" in loaded  # the summary table is rich's


def test_a_json_run_imports_no_rich(tmp_path: Path) -> None:
    """``run --json`` draws no progress and prints one JSON line: rich is not imported,
    nor the decode-file command's modules, nor (the SQLite worker decodes) the envelope
    readers."""
    with served_feeds(tmp_path, 3) as feeds:
        loaded, out = _run_modules(feeds, "--json")
    assert json.loads(out.strip().splitlines()[-1])["outcomes"]["loaded"] == 3
    unused = ("rich", "supplyfeed._cli.display", "supplyfeed._cli.decode_file",
              "supplyfeed._formats.detect")  # fmt: skip
    assert not [m for m in unused if m in loaded]


def test_the_commands_module_leaves_the_run_modules_for_the_run() -> None:
    """``commands.py`` imports the pipeline (and aiohttp) only inside a run, after it
    has started the SQLite worker process, so the two start up side by side."""
    loaded = _modules_after("import supplyfeed._cli.commands\n")
    assert not [m for m in ("aiohttp", "supplyfeed._run.pipeline", "prometheus_client")
                if m in loaded]  # fmt: skip


def test_a_local_run_without_metrics_imports_no_exposition_nor_backends(tmp_path: Path) -> None:
    """Prometheus' client (and wsgiref) load only for ``--metrics-port`` or
    ``--metrics-file``; the process and Dask backends only for ``--executor``."""
    exposition = ("prometheus_client", "wsgiref.simple_server", "supplyfeed._telemetry.exposition")
    backends = ("supplyfeed._scale.executors", "supplyfeed._scale.dask_executor")
    with served_feeds(tmp_path, 3) as feeds:
        loaded, out = _run_modules(feeds, "--json")
        textfile = tmp_path / "run.prom"
        with_file, _ = _run_modules(feeds, "--json", "--metrics-file", str(textfile))
    assert json.loads(out.strip().splitlines()[-1])["outcomes"]["loaded"] == 3
    assert "supplyfeed._telemetry.metrics" in loaded  # the counters are still kept
    assert not [m for m in exposition + backends if m in loaded]
    assert set(exposition) <= with_file
    assert "supplyfeed_records_total" in textfile.read_text()
