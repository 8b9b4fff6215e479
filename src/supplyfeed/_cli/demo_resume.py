"""``supplyfeed resume`` after ``supplyfeed demo``: the simulator is started again.

A demo's run records, as its feeds label, what it served: ``demo?endpoints=500&hosts=10
...&port_base=27500&round=0``. ``resume`` reads that back, serves the same fleet on the
same fixed ports in the same poll round (the endpoints keep their ledger keys) and
continues the run. A demo on ephemeral ports cannot be served at the same URLs again;
``resume`` then says so in one line.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

from .._exceptions import ConfigError

__all__ = ["DemoState", "demo_label", "is_demo_label", "read_demo_label", "resume_args"]

_PREFIX: Final = "demo?"
# The demo options that decide what is served, with their types (``formats``: a string).
_FIELDS: Final[Mapping[str, type]] = {
    "endpoints": int,
    "hosts": int,
    "records": int,
    "fault_rate": float,
    "latency_ms": float,
    "seed": int,
    "formats": str,
    "port_base": int,
}


class DemoState:
    """What a demo run served: its options, the poll round, and whether its ports were
    the fixed ones (``fixed=False``: ephemeral, so not servable at the same URLs again)."""

    def __init__(self, options: Mapping[str, Any], round_: int, fixed: bool) -> None:
        self.options = dict(options)
        self.round = round_
        self.fixed = fixed


def demo_label(args: argparse.Namespace, port_base: int, round_: int, fixed: bool) -> str:
    values = {name: getattr(args, name) for name in _FIELDS if name != "port_base"}
    values.update(port_base=port_base, round=round_, ports="fixed" if fixed else "ephemeral")
    return _PREFIX + urlencode(values)


def is_demo_label(label: str) -> bool:
    return label == "demo" or label.startswith(_PREFIX)


def read_demo_label(label: str, run_id: str) -> DemoState:
    """The state a demo run recorded; ``ConfigError`` when it cannot be served again."""
    if not label.startswith(_PREFIX):  # recorded by a supplyfeed older than this
        raise ConfigError(f"run {run_id} is an older demo run: start a new `supplyfeed demo`")
    raw = dict(parse_qsl(label.removeprefix(_PREFIX), keep_blank_values=True))
    try:
        options = {name: kind(raw[name]) for name, kind in _FIELDS.items()}
        state = DemoState(options, int(raw["round"]), raw["ports"] == "fixed")
    except (KeyError, ValueError):
        raise ConfigError(f"run {run_id}: unreadable demo label {label!r}") from None
    if not state.fixed:
        raise ConfigError(
            f"run {run_id} was a demo on ephemeral ports, which cannot be served at the same "
            "URLs again: start a new `supplyfeed demo`"
        )
    return state


def resume_args(args: argparse.Namespace, state: DemoState, db: str) -> argparse.Namespace:
    """``resume``'s own options (output, exit codes) with the demo's recorded ones."""
    merged = argparse.Namespace(**vars(args))
    for name, value in state.options.items():
        setattr(merged, name, value)
    merged.db = db
    return merged
