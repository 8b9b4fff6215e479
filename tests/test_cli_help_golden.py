"""``--help`` of every command, byte for byte, against a golden captured from the parser
before ``_cli/main._parser`` was split into one function per command group.

After a deliberate change to the help text, write the golden again with
``.venv/bin/python -m tests.test_cli_help_golden`` and review its diff.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
from pathlib import Path

import pytest

from supplyfeed._cli.main import _parser, main

GOLDEN = Path(__file__).parent / "golden" / "cli_help.txt"
_COLUMNS = "100"  # argparse wraps help to the terminal's width
_RULE = "=" * 20


def _command_words(
    parser: argparse.ArgumentParser, words: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    out = [words]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += _command_words(sub, (*words, name))
    return out


def _help(words: tuple[str, ...]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        main([*words, "--help"])
    assert exit_.value.code == 0
    return out.getvalue()


def helps() -> str:
    """Every command's ``--help``, each under a rule naming it."""
    return "".join(
        f"{_RULE} {' '.join(('supplyfeed', *words, '--help'))}\n{_help(words)}"
        for words in _command_words(_parser())
    )


def test_every_commands_help_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Top level, each subcommand and ``dead-letters show``: the same bytes as the golden."""
    monkeypatch.setenv("COLUMNS", _COLUMNS)
    expected = GOLDEN.read_text()
    assert expected.count(f"{_RULE} supplyfeed ") == len(_command_words(_parser()))
    assert helps() == expected


if __name__ == "__main__":
    os.environ["COLUMNS"] = _COLUMNS
    GOLDEN.write_text(helps())
