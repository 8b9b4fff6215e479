"""Commands that read an existing database refuse a missing one instead of creating it."""

from __future__ import annotations

from pathlib import Path

import pytest

from supplyfeed._cli.main import main


@pytest.mark.parametrize(
    "command",
    [["report"], ["dead-letters"], ["trace", "abc123"], ["replay"], ["resume"], ["reconcile"]],
)
def test_a_missing_sqlite_database_is_bad_usage_and_stays_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """A mistyped --db exits 2 naming the path; no empty database file is left behind."""
    path = tmp_path / "typo.db"
    assert main([*command, "--db", f"sqlite:///{path}"]) == 2
    assert f"no database at {path}" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
