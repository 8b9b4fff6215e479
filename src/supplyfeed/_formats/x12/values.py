"""Element values → Python values, shared by the X12 mappers.

- Text: the tokenizer reads bytes as latin-1; a value with non-ASCII characters is
  re-decoded as UTF-8 when its bytes are valid UTF-8, else as cp1252 (the usual Windows
  sender), else kept as latin-1. Values are stripped of the padding X12 senders add.
- Numbers (X12 type R): an optional sign, digits and at most one decimal point; integers
  stay ``int``. ``nan``, exponents and the like are rejected, not guessed at.
- Dates: CCYYMMDD, or YYMMDD (version 00200 and older) with years < 50 in the 2000s.
- Times: HHMM, HHMMSS, HHMMSSD, HHMMSSDD. Datetimes are timezone-aware: the DTM04 time
  code is honoured where given, and a time without a zone is taken as UTC (X12 envelopes
  carry no zone), so that every decoded datetime compares with every other.
- Control numbers (a document's version, docs/contract.md §6): ISA13 then ST02 as one string that
  orders a correction after its original (:func:`control_number`).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

from ..._exceptions import PayloadError
from ..._models import Quantity
from .tokenizer import Segment

__all__ = ["control_number", "element", "parse_date", "parse_datetime", "parse_number", "text"]

_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)")

# X12 element 623 (time code) → offset from UTC in hours. Daylight codes are one hour later.
_ZONES: Final[dict[str, int]] = {
    "UT": 0,
    "GM": 0,
    "Z": 0,
    "LT": 0,
    "AT": -4,
    "AS": -4,
    "AD": -3,
    "ET": -5,
    "ES": -5,
    "ED": -4,
    "CT": -6,
    "CS": -6,
    "CD": -5,
    "MT": -7,
    "MS": -7,
    "MD": -6,
    "PT": -8,
    "PS": -8,
    "PD": -7,
    "AK": -9,
    "HT": -10,
}


def element(seg: Segment, i: int) -> str:
    """Element ``i`` (1-based, as in BAK03) stripped, or "" when absent."""
    return seg[i].strip() if i < len(seg) else ""


def control_number(isa13: str, st02: str) -> str | None:
    """ISA13 (interchange) then ST02 (transaction set) as one orderable control number.

    Both all digits (ISA13 is N0 9/9; ST02 is AN 4/9 but digits in practice): each is
    zero-padded to 9 digits and the two are concatenated, ``"000000123" + "000000001"``.
    The sinks compare all-digit control numbers as numbers, so a later interchange orders
    after an earlier one whatever its ST02, and within one interchange ST02 decides. A
    separator (``"123/1"``) would compare as text, where ``"9/1"`` is above ``"10/1"``.
    Otherwise (an alphanumeric ST02) the two are joined by ``/`` and compare as text.
    """
    isa13, st02 = isa13.strip(), st02.strip()
    if not isa13 and not st02:
        return None
    if all(len(v) <= 9 and (not v or (v.isascii() and v.isdecimal())) for v in (isa13, st02)):
        return f"{int(isa13 or 0):09d}{int(st02 or 0):09d}"
    return f"{isa13}/{st02}"


def text(value: str) -> str:
    """A display value from latin-1 characters (see the module docstring)."""
    if value.isascii():
        return value
    raw = value.encode("latin-1")
    for encoding in ("utf-8", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return value


def parse_number(value: str, at: str, name: str) -> Quantity:
    """An X12 decimal (type R); ``at`` and ``name`` locate a bad one in the error."""
    if value.isdigit():
        return int(value)
    if _NUMBER.fullmatch(value) is None:
        raise PayloadError(f"{name} is not a number: {value[:40]!r}", where=at, kind="validation")
    if "." not in value:
        return int(value)
    return float(value)


def parse_date(value: str, at: str, name: str) -> dt.date:
    """A CCYYMMDD or YYMMDD date."""
    try:
        if len(value) == 8 and value.isdigit():
            return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
        if len(value) == 6 and value.isdigit():
            yy = int(value[:2])
            return dt.date(yy + (2000 if yy < 50 else 1900), int(value[2:4]), int(value[4:]))
    except ValueError:
        pass
    raise PayloadError(f"{name} is not a date: {value[:40]!r}", where=at, kind="validation")


def parse_datetime(date: str, time: str, zone: str, at: str, name: str) -> dt.datetime:
    """A date, an optional time and an optional X12 time code, as an aware datetime."""
    day = parse_date(date, at, name)
    hour = minute = second = micro = 0
    if time:
        if not time.isdigit() or len(time) not in (4, 6, 7, 8):
            raise PayloadError(f"{name} has a bad time: {time!r}", where=at, kind="validation")
        hour, minute = int(time[:2]), int(time[2:4])
        second = int(time[4:6]) if len(time) >= 6 else 0
        micro = int(time[6:].ljust(2, "0")) * 10_000 if len(time) > 6 else 0
    offset = _ZONES.get(zone, 0)
    try:
        local = dt.datetime(
            day.year,
            day.month,
            day.day,
            hour,
            minute,
            second,
            micro,
            tzinfo=dt.timezone(dt.timedelta(hours=offset)),
        )
    except ValueError:
        raise PayloadError(
            f"{name} has a bad time: {time!r}", where=at, kind="validation"
        ) from None
    return local.astimezone(dt.UTC)


def product_id(seg: Segment, first: int, priority: tuple[str, ...]) -> tuple[str | None, str]:
    """The preferred product id among qualifier/id pairs from element ``first`` on.

    Returns ``(id, qualifier)``; the first pair present wins when no preferred
    qualifier is.
    """
    found: dict[str, str] = {}
    for i in range(first, len(seg) - 1, 2):
        qualifier, value = seg[i].strip(), seg[i + 1].strip()
        if qualifier and value and qualifier not in found:
            found[qualifier] = value
    for qualifier in priority:
        if qualifier in found:
            return text(found[qualifier]), qualifier
    for qualifier, value in found.items():
        return text(value), qualifier
    return None, ""


# Our own identifier first: supplyfeed runs at the buyer, so the buyer's SKU / part /
# item number is what lines join on; then the vendor's numbers; then GTIN-like codes.
SKU_PRIORITY: Final[tuple[str, ...]] = (
    "SK",
    "BP",
    "IN",
    "CB",
    "VP",
    "VN",
    "VC",
    "MG",
    "MF",
    "UP",
    "UK",
    "EN",
    "EO",
    "UI",
    "ND",
)
