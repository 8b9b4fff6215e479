"""``redact_url`` hides passwords and secret query values and leaves every other URL as
it was given: a database URL it rebuilt lost the "//" of its absolute path."""

from __future__ import annotations

import pytest

from supplyfeed._cli.report_html import html_report_command
from supplyfeed._redact import REDACTED, redact_url


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////var/lib/supplyfeed/x.db",
        "sqlite:///relative.db",
        "file:///srv/drops/a.json",
        "sftp://127.0.0.1/~/out/*.edi",
        "https://127.0.0.1:8443/feed/1.json",
    ],
)
def test_a_url_with_nothing_to_hide_is_left_as_given(url: str) -> None:
    assert redact_url(url) == url


def test_passwords_and_secret_query_values_are_hidden() -> None:
    assert redact_url("postgresql://u:pw@127.0.0.1/db") == f"postgresql://u:{REDACTED}@127.0.0.1/db"
    assert (
        redact_url("http://127.0.0.1/a?token=x&page=2")
        == f"http://127.0.0.1/a?token={REDACTED}&page=2"
    )


def test_the_html_report_hint_names_an_absolute_sqlite_database_as_given() -> None:
    hint = html_report_command("RUN", "demo", "sqlite:////tmp/demo.db")
    assert "--db sqlite:////tmp/demo.db " in hint
