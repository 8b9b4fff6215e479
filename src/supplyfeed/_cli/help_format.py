"""``--help`` text: every option shows its default, and no docstring markup reaches it.

argparse's own ArgumentDefaultsHelpFormatter prints ``(default: None)`` and
``(default: False)`` for flags and for options whose default depends on something else;
this formatter names a default only when there is a real one and the help does not
already say it.
"""

from __future__ import annotations

import argparse
import re

__all__ = ["HelpFormatter", "plain", "polish_help"]

_MARKUP = re.compile(r"``|:[a-z]+:`([^`]*)`|`")


def plain(text: str) -> str:
    """Docstring text without reStructuredText markup (````x````, ``:class:`X```)."""
    return _MARKUP.sub(lambda m: m.group(1) or "", text)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's layout and appends ``(default: X)`` where X is informative."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default in (None, False, "", argparse.SUPPRESS)
            or isinstance(action, argparse._StoreConstAction | argparse._CountAction)
            or not (action.option_strings or action.nargs in ("?", "*"))
        ):
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


def polish_help(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` and each subcommand the formatter; a subcommand without a
    description takes its one-line help as one."""
    parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {a.dest: a.help for a in action._choices_actions}
        for name, sub in action.choices.items():
            if sub.description is None and helps.get(name):
                sub.description = helps[name]
            polish_help(sub)
