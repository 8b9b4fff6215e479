"""The README's "Polling every 15 minutes" recipes, run as written (issue 18): the cron
line under ``sh`` (quiet on success and on a held lock, one line on a failed run), the
systemd service's ``ExecStart`` and exit statuses, and the Airflow task against a real
run (``airflow`` and ``pendulum`` are stood in for by the few names the task uses: the
test is of supplyfeed's side of it)."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import shlex
import sqlite3
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from supplyfeed._sink.sqlite import SqliteSink
from supplyfeed.sim import FleetSpec, LatencyModel, SupplierFleet

from ..reliability.checker import write_feeds

pytestmark = pytest.mark.slow  # whole runs through the CLI

README = Path(__file__).resolve().parents[2] / "README.md"
SRV = "/srv/supplyfeed"
LINE_TABLES = ("inventory_positions", "po_ack_lines", "ship_notice_lines")

_FLEET = FleetSpec.generate(
    endpoints=6,
    hosts=1,
    records_per_endpoint=3,
    formats=("json", "csv"),
    fault_rate=0.0,
    latency=LatencyModel(median=0.005, sigma=0.2, max=0.02),
    seed=61,
)


def block(language: str, containing: str) -> str:
    """The README's fenced ``language`` block that contains ``containing``."""
    blocks = re.findall(rf"^```{language}\n(.*?)^```$", README.read_text(), re.M | re.S)
    (found,) = [b for b in blocks if containing in b]
    return str(found)


def install(tmp_path: Path) -> Path:
    """``/srv/supplyfeed`` of the recipes: a folder with ``.venv/bin/supplyfeed``."""
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "supplyfeed").symlink_to(Path(sys.executable).parent / "supplyfeed")
    return tmp_path


async def cron_line(folder: Path) -> tuple[int, str]:
    """The README's cron entry: its command (after the five time fields) under ``sh``."""
    entry = block("cron", "supplyfeed run").strip()
    command = entry.split(None, 5)[5].replace(SRV, str(folder))
    proc = await asyncio.create_subprocess_exec(
        "sh", "-c", command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_the_cron_line_mails_only_a_failed_run(tmp_path: Path) -> None:
    """Success: no output (nothing mailed), the run in run.log. A held lock (exit 75): no
    output. A failed run: one line naming its exit status."""
    folder = install(tmp_path)
    db = f"sqlite:///{folder / 'x.db'}"
    async with SupplierFleet(_FLEET, seed=61) as fleet:
        feeds = write_feeds(fleet, folder / "feeds.yaml", db)
        assert await cron_line(folder) == (0, "")
        assert "records loaded" in (folder / "run.log").read_text()
        async with SqliteSink(db):  # another run holds the database
            assert await cron_line(folder) == (0, "")
        assert "lock" in (folder / "run.log").read_text().splitlines()[-1]
        doc = yaml.safe_load(feeds.read_text())
        doc["suppliers"][0]["feeds"][0]["urls"].append(f"http://127.0.0.1:{fleet.ports[0]}/nope")
        doc["defaults"]["error_rate_threshold"] = 0.0
        feeds.write_text(yaml.safe_dump(doc))
        code, output = await cron_line(folder)
    assert code == 0  # the `[ ... ] || echo` list ends with echo's status
    assert output == "supplyfeed run: exit 1, see run.log\n"


async def test_the_systemd_service_runs_as_written(tmp_path: Path) -> None:
    """``ExecStart`` in ``WorkingDirectory`` loads the feeds file with JSON logs; 75 is a
    success status, as a held lock exits."""
    folder = install(tmp_path)
    service = block("ini", "ExecStart=")
    settings = dict(line.split("=", 1) for line in service.splitlines() if "=" in line)
    assert settings["SuccessExitStatus"] == "75"
    assert settings["WorkingDirectory"] == SRV
    argv = shlex.split(settings["ExecStart"].replace(SRV, str(folder)))
    async with SupplierFleet(_FLEET, seed=61) as fleet:
        write_feeds(fleet, folder / "feeds.yaml", "sqlite:///x.db")
        truth = fleet.expected(attempts=3, timeout=2.0)
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=folder, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    with sqlite3.connect(folder / "x.db") as conn:
        stored = [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in LINE_TABLES]
    assert stored == [len(truth.rows(t)) for t in LINE_TABLES]
    assert all(line.startswith("{") for line in err.decode().splitlines()), err.decode()


def _airflow_stand_in() -> dict[str, types.ModuleType]:
    """``airflow.decorators.dag/task``, ``AirflowSkipException`` and ``pendulum.datetime``:
    decorators that call straight through, as a test run of one task does."""

    def passthrough(*_a: Any, **_k: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return lambda fn: fn

    def task(fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            RESULTS.append(fn(*args, **kwargs))

        return run

    decorators = types.ModuleType("airflow.decorators")
    decorators.dag = passthrough  # type: ignore[attr-defined]
    decorators.task = task  # type: ignore[attr-defined]
    exceptions = types.ModuleType("airflow.exceptions")
    exceptions.AirflowSkipException = type("AirflowSkipException", (Exception,), {})  # type: ignore[attr-defined]
    pendulum = types.ModuleType("pendulum")
    pendulum.datetime = lambda y, m, d: dt.datetime(y, m, d, tzinfo=dt.UTC)  # type: ignore[attr-defined]
    airflow = types.ModuleType("airflow")
    return {
        "airflow": airflow,
        "airflow.decorators": decorators,
        "airflow.exceptions": exceptions,
        "pendulum": pendulum,
    }


RESULTS: list[Any] = []


@pytest.fixture
def airflow(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, module in _airflow_stand_in().items():
        monkeypatch.setitem(sys.modules, name, module)
    RESULTS.clear()
    yield
    RESULTS.clear()


def test_the_airflow_task_returns_the_summary_and_skips_on_a_held_lock(
    tmp_path: Path, airflow: None
) -> None:
    """The DAG file's task runs the feeds file through ``supplyfeed.run_feeds`` and
    returns the summary; with the database held it raises Airflow's skip."""
    code = block("python", "AirflowSkipException")
    folder = install(tmp_path)

    lines: list[int] = []

    async def serve_and(act: Callable[[], None]) -> None:
        async with SupplierFleet(_FLEET, seed=61) as fleet:
            write_feeds(fleet, folder / "feeds.yaml", f"sqlite:///{folder / 'x.db'}")
            truth = fleet.expected(attempts=3, timeout=2.0)
            lines[:] = [len(truth.rows(t)) for t in LINE_TABLES]
            await asyncio.to_thread(act)

    def dag_file() -> None:
        exec(compile(code.replace(SRV, str(folder)), "README.md", "exec"), {})

    asyncio.run(serve_and(dag_file))
    (summary,) = RESULTS
    assert summary["outcomes"] == {"loaded": 6}
    assert summary["records_loaded"] == sum(lines) > 0
    skip = sys.modules["airflow.exceptions"].AirflowSkipException

    async def held() -> None:
        async with SqliteSink(f"sqlite:///{folder / 'x.db'}"):
            await serve_and(dag_file)

    with pytest.raises(skip, match="another run holds the database"):
        asyncio.run(held())
