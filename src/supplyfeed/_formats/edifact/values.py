"""Reading EDIFACT data values: numbers (QTY, PRI) and dates (DTM).

Numbers accept ``.`` or ``,`` as the decimal mark whatever UNA says: ISO 9735 version 4
allows both, and senders mix them. An integer stays ``int`` so that ``QTY+12:48`` gives
``48``, not ``48.0``; arithmetic is done in ``Decimal`` so that derived quantities are exact.

Dates: DTM C507 is ``qualifier:value:format``. Formats 102 (CCYYMMDD), 101 (YYMMDD),
203 (CCYYMMDDHHMM), 204 (CCYYMMDDHHMMSS) and 201 (YYMMDDHHMM) are read; without a format
code the length decides (8, 6, 12 or 14 digits). EDIFACT times carry no zone, so they are
taken as UTC, which keeps ``issued_at`` and ``as_of`` comparable across formats. Any other
format (718 ranges, 616 weeks ...) gives ``None``: the DTM is skipped, not guessed at.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final, TypeVar

from ..._exceptions import PayloadError
from .tokenizer import Segment

__all__ = [
    "DateValue",
    "first_of",
    "number_text",
    "parse_decimal",
    "parse_dtm",
    "parse_exact",
    "parse_quantity",
    "pick_sku",
    "read_pia",
    "to_number",
]

_T = TypeVar("_T")

_FORMATS: Final[dict[str, tuple[str, int, bool]]] = {
    "102": ("%Y%m%d", 8, False),
    "101": ("%y%m%d", 6, False),
    "203": ("%Y%m%d%H%M", 12, True),
    "204": ("%Y%m%d%H%M%S", 14, True),
    "201": ("%y%m%d%H%M", 10, True),
}
_BY_LENGTH: Final[dict[int, str]] = {8: "102", 6: "101", 12: "203", 14: "204"}


@dataclass(frozen=True, slots=True)
class DateValue:
    """A DTM value: its qualifier, the instant (UTC) and whether it had a time of day."""

    qualifier: str
    when: dt.datetime
    has_time: bool

    @property
    def date(self) -> dt.date:
        return self.when.date()


def parse_exact(text: str, segment: Segment) -> int | Decimal:
    """A numeric value, exactly: ``int`` for plain digits (the fast, common case)."""
    if text.isdigit() and len(text) <= 30:
        return int(text)
    return parse_decimal(text, segment)


def parse_decimal(text: str, segment: Segment) -> Decimal:
    """A numeric data value as ``Decimal``; ``PayloadError`` naming the segment otherwise."""
    try:
        value = Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise PayloadError(f"not a number: {text[:40]!r}", where=segment.where, kind="validation")
    if value and value.adjusted() > 30:  # far past n..15; float() would overflow to inf
        raise PayloadError(
            f"number too large: {text[:40]!r}", where=segment.where, kind="validation"
        )
    return value


def to_number(value: int | Decimal) -> int | float:
    """``int`` for an integral value written without decimals, ``float`` otherwise."""
    if isinstance(value, int):
        return value
    if value.as_tuple().exponent == 0:
        return int(value)
    return float(value)


def parse_quantity(text: str, segment: Segment) -> int | float:
    value = parse_decimal(text, segment)
    if value.adjusted() > 30:  # far past n..15; float() would overflow to inf
        raise PayloadError(
            f"number too large: {text[:40]!r}", where=segment.where, kind="validation"
        )
    return to_number(value)


def number_text(value: int | float | Decimal, decimal_mark: str = ".") -> str:
    """A number as EDIFACT writes it: plain digits, no exponent (the renderer's inverse)."""
    if isinstance(value, int):
        return str(value)
    exact = value if isinstance(value, Decimal) else Decimal(repr(value))
    text = format(exact, "f")
    return text.replace(".", decimal_mark) if decimal_mark != "." else text


def parse_dtm(segment: Segment) -> DateValue | None:
    """The DTM segment's date, or None for an empty value or a format not read here."""
    qualifier = segment.value(1, 1).upper()
    text = segment.value(1, 2).strip()
    if not text:
        return None
    fmt_code = segment.value(1, 3).strip() or _BY_LENGTH.get(len(text), "")
    fmt = _FORMATS.get(fmt_code)
    if fmt is None:
        return None
    pattern, length, has_time = fmt
    try:
        if len(text) != length or not text.isdigit():
            raise ValueError(f"expected {length} digits")
        when = dt.datetime.strptime(text, pattern).replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise PayloadError(
            f"invalid date {text[:40]!r} for format {fmt_code}",
            where=segment.where,
            kind="validation",
        ) from exc
    return DateValue(qualifier, when, has_time)


def first_of(
    found: dict[str, _T],
    order: tuple[str, ...],
    codes: dict[str, str],
    key: str,
    *,
    any_: bool = False,
) -> _T | None:
    """The value of the first qualifier of ``order`` in ``found`` (else any, when ``any_``).

    The qualifier used is recorded as ``codes[key]`` so the mapping can be audited.
    """
    for qualifier in (*order, *(found if any_ else ())):
        if qualifier in found:
            codes[key] = qualifier
            return found[qualifier]
    return None


def read_pia(segment: Segment, ids: dict[str, str]) -> None:
    """Record the item ids of a PIA segment as ``PIA<function>:<type> -> id``."""
    function = segment.value(1)
    for element in range(2, 7):
        item_id = segment.value(element, 1)
        if item_id:
            ids.setdefault(f"PIA{function}:{segment.value(element, 2).upper()}", item_id)


def pick_sku(
    item: str, ids: dict[str, str], codes: dict[str, str], item_type: str = ""
) -> str | None:
    """LIN03, else PIA function 5, else a supplier article number, else the first PIA id.

    The PIA ids not chosen are kept in ``codes``; LIN03's item type (7143: SRV a GTIN,
    EN an EAN ...) as ``codes["sku"]``, as the X12 decoders keep the id's qualifier.
    """
    if item and item_type:
        codes["sku"] = item_type
    sku = item or next(
        (v for k, v in ids.items() if k.startswith("PIA5:")),
        ids.get("PIA1:SA") or next(iter(ids.values()), None),
    )
    for key, value in ids.items():
        if value != sku:
            codes[key] = value
    return sku or None
