"""``supplyfeed decode FILE``: one local file to canonical JSON lines.

The kind comes from ``--kind``, else as the engine finds it (``_formats/detect.py``): from
the envelope; only JSON, CSV and plain XML, which have none, fall back to a guess over
their first bytes. Nothing is printed until the whole file has decoded: an interchange
refused at its trailer (IEA02 != ISA13) must not leave half its documents on stdout
looking valid. The lines wait in a spooled temporary file (in memory up to 8 MiB, then
on disk), so a large file is decoded once and never held whole in memory.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import msgspec

from .._config import FeedSpec, FieldMapping, SupplierSpec
from .._exceptions import ConfigError, PayloadError
from .._feedsfile import FeedsFile, load_feeds_file, load_mapping_file
from .._formats.base import DecodeContext
from .._formats.body import Body
from .._formats.detect import HEAD_BYTES, payload_kind
from .._formats.registry import get_decoder, sniff_format
from .._models import DocKind
from .pipes import copy_to_stdout

__all__ = ["DecodeSettings", "decode_file", "decode_settings", "select_feed"]

_IN_MEMORY = 8 * 1024 * 1024  # decoded lines held in memory before spilling to disk


class _Unsupported(Exception):
    """The envelope names a document type supplyfeed does not decode."""


@dataclass(frozen=True, slots=True)
class DecodeSettings:
    """What ``decode`` knows besides the file: from its options, or from a feed of a feeds
    file (``--feeds F --feed SUPPLIER[/KIND|/N]``), or a mapping file (``--mapping``)."""

    fmt: str | None = None
    kind: str | None = None
    supplier: str = ""
    mapping: FieldMapping | None = None
    envelope_policy: Literal["strict", "warn"] = "strict"


def decode_settings(
    fmt: str | None,
    kind: str | None,
    supplier: str,
    *,
    feeds: Path | None = None,
    feed: str | None = None,
    mapping: Path | None = None,
) -> DecodeSettings:
    """Options given on the command line win over the feed's."""
    if feed is not None and feeds is None:
        raise ConfigError("--feed needs --feeds FEEDS.yaml: the file that lists the feed")
    if mapping is not None and feeds is not None:
        raise ConfigError("give --mapping or --feeds, not both: the feed has its own mapping")
    if mapping is not None:
        return DecodeSettings(fmt, kind, supplier, load_mapping_file(mapping))
    if feeds is None:
        return DecodeSettings(fmt, kind, supplier)
    spec, found = select_feed(load_feeds_file(feeds), feed)
    return DecodeSettings(
        fmt or found.format,
        kind or found.kind.value,
        supplier or spec.id,
        found.mapping,
        found.envelope_policy,
    )


def select_feed(feeds: FeedsFile, selector: str | None) -> tuple[SupplierSpec, FeedSpec]:
    """The one feed ``selector`` names: ``SUPPLIER`` (its only feed), ``SUPPLIER/KIND``
    (its only feed of that kind), ``SUPPLIER/N`` (its N-th, from 1) or one of its URLs.
    Without a selector, the file's only feed."""
    chosen = _matching([(s, f) for s in feeds.suppliers for f in s.feeds], selector)
    if len(chosen) == 1:
        return chosen[0]
    names = ", ".join(_feed_names(feeds)) or "none"
    problem = "matches no feed" if not chosen else f"matches {len(chosen)} feeds"
    what = f"--feed {selector}" if selector else "the feeds file has several feeds: --feed"
    raise ConfigError(f"{what} {problem if selector else 'is needed'} (feeds: {names})")


_Feed = tuple[SupplierSpec, FeedSpec]


def _matching(every: list[_Feed], selector: str | None) -> list[_Feed]:
    """The feeds of ``every`` that ``selector`` (see :func:`select_feed`) names."""
    if selector is None:
        return every
    if "://" in selector:
        return [(s, f) for s, f in every if selector in f.urls]
    sid, _, which = selector.partition("/")
    mine = [(s, f) for s, f in every if s.id == sid]
    if which.isdigit():
        return mine[int(which) - 1 : int(which)] if int(which) >= 1 else []
    return [(s, f) for s, f in mine if not which or f.kind.value == which]


def _feed_names(feeds: FeedsFile) -> list[str]:
    return [
        f"{s.id}/{i} ({f.kind.value}, {f.format})"
        for s in feeds.suppliers
        for i, f in enumerate(s.feeds, start=1)
    ]


def decode_file(path: Path, settings: DecodeSettings) -> int:
    """Print the file's documents as JSON lines; exit status 0, or 1 with a typed error."""
    try:
        body = Body(path=path)
    except OSError as exc:
        print(f"error: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    with tempfile.SpooledTemporaryFile(max_size=_IN_MEMORY) as lines:
        try:
            ctx = _decode_into(lines, body, settings)
        except _Unsupported as exc:
            print(f"error: {path}: {exc}", file=sys.stderr)
            return 1
        except PayloadError as exc:
            where = f" at {exc.where}" if exc.where else ""
            print(
                f"error: {path}: payload_error[{exc.kind}]{where}: {exc.message}", file=sys.stderr
            )
            return 1
        lines.seek(0)
        copy_to_stdout(lines)
    for warning in ctx.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _decode_into(lines: IO[bytes], body: Body, settings: DecodeSettings) -> DecodeContext:
    fmt = settings.fmt or sniff_format(body.head(HEAD_BYTES))
    ctx = DecodeContext(
        kind=_kind(body, fmt, settings.kind),
        supplier_id=settings.supplier,
        mapping=settings.mapping,
        envelope_policy=settings.envelope_policy,
    )
    encoder = msgspec.json.Encoder()
    for doc in get_decoder(fmt)(body, ctx):
        lines.write(encoder.encode(doc) + b"\n")
    return ctx


def _kind(body: Body, fmt: str, kind: str | None) -> DocKind:
    """``--kind``, else what the engine's decoding finds (``_formats/detect.py``), its
    refusals worded for the command line."""
    if kind:
        return DocKind(kind)
    try:
        return payload_kind(fmt, body)
    except PayloadError as exc:
        if exc.kind == "unsupported":
            raise _Unsupported(exc.message) from exc
        raise ConfigError(
            "cannot tell the document kind from the file: pass --kind", key="kind"
        ) from exc
