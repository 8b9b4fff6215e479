"""``supplyfeed report [RUN_ID] --html FILE``: the run's HTML report, written to FILE."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from .._exceptions import ConfigError
from .._redact import redact_url
from .._sink.factory import DEFAULT_SINK_URL, open_sink
from .._telemetry.html_data import RunData
from .._telemetry.html_report import render_html_report

__all__ = ["html_report_command", "load_run_data", "write_html_report"]


async def load_run_data(url: str, run_id: str | None) -> RunData | None:
    """The run (default: the latest), its ledger rows and the dead letters; None: no run."""
    sink = open_sink(url, lock=False)
    await sink.open()
    try:
        run = await sink.get_run(run_id)
        if run is None:
            return None
        records = await sink.endpoints(run.run_id)
        letters = await sink.dead_letters(include_resolved=True)
    finally:
        await sink.close()
    return RunData(run, records, letters)


async def write_html_report(url: str, run_id: str | None, path: Path) -> int:
    data = await load_run_data(url, run_id)
    if data is None:
        which = f"run {run_id}" if run_id else "any run"
        print(f"error: no record of {which} in {url}", file=sys.stderr)
        return 1
    _write(path, render_html_report(data))
    print(f"wrote {path} (run {data.run.run_id})")
    return 0


def _write(path: Path, page: str) -> None:
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:  # a missing folder, a directory, no permission: exit 2
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc


def html_report_command(run_id: str, label: str, sink_url: str) -> str:
    """The command that writes a run's HTML report, as the run summary's last line shows
    it: the database found through the run's feeds file, else named (a demo's ``--db``)."""
    if label and label != "demo":
        where = f" --feeds {shlex.quote(label)}"
    elif sink_url != DEFAULT_SINK_URL:
        where = f" --db {shlex.quote(redact_url(sink_url))}"
    else:
        where = ""
    return f"supplyfeed report {run_id}{where} --html {shlex.quote(f'run-{run_id}.html')}"
