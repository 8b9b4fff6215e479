"""Decoding a response's ``Content-Encoding`` as it streams, under the bomb caps.

aiohttp would inflate for us, but it cannot say how many bytes came off the wire, so it
cannot tell a bomb (10 MB that inflates to 10 GB) from a large body. Here the transport
reads the raw bytes (``auto_decompress=False``) and :class:`BoundedDecoder` inflates them
in pieces of at most ``PIECE`` bytes, checking after every piece:

- the decoded size against ``max_payload_bytes``;
- the ratio of decoded to received bytes against ``max_decompression_ratio``, once more
  than ``RATIO_FLOOR`` bytes are decoded (a small, very repetitive body is no threat).

Either cap is a permanent ``too_large``: a bomb is never retried, and since the check
comes before a piece is kept, nothing past the cap is ever held or spooled.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Protocol

import brotli

from .._exceptions import PermanentFetchError, TransientFetchError

__all__ = ["ACCEPT_ENCODING", "PIECE", "RATIO_FLOOR", "BoundedDecoder"]

ACCEPT_ENCODING = "gzip, deflate, br"  # only what this module decodes
PIECE = 256 * 1024
RATIO_FLOOR = 1024 * 1024
_MAX_MEMBERS = 1024  # concatenated gzip members per body, as aiohttp allows


class _Step(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]: ...

    def end(self) -> None: ...


class _Zlib:
    """gzip (possibly several members) or deflate (zlib-wrapped, or raw as some servers send)."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding in ("gzip", "x-gzip")
        self._d: zlib._Decompress | None = None
        self._members = 0

    def _new(self, first: int) -> zlib._Decompress:
        self._members += 1
        if self._members > _MAX_MEMBERS:
            raise _corrupt("gzip", f"more than {_MAX_MEMBERS} members")
        if self._gzip:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        # RFC 1950 header: the low nibble of the first byte is 8 (deflate); else raw deflate.
        return zlib.decompressobj(zlib.MAX_WBITS if first & 0xF == 8 else -zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            while True:
                if self._d is not None and self._d.eof:
                    if not (self._gzip and data):
                        return  # trailing bytes after a deflate stream are ignored
                    self._d = None  # the next gzip member
                if self._d is None:
                    if not data:
                        return
                    self._d = self._new(data[0])
                out = self._d.decompress(data, PIECE)
                if out:
                    yield out
                data = self._d.unused_data if self._d.eof else self._d.unconsumed_tail
                if not self._d.eof and not data and len(out) < PIECE:
                    return  # input used up and no output pending
        except zlib.error as exc:
            raise _corrupt("gzip" if self._gzip else "deflate", str(exc)) from exc

    def end(self) -> None:
        if self._d is not None and not self._d.eof:
            raise _corrupt("gzip" if self._gzip else "deflate", "stream ends early")


class _Brotli:
    def __init__(self) -> None:
        self._d = brotli.Decompressor()
        self._fed = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        self._fed = self._fed or bool(data)
        try:
            out: bytes = self._d.process(data, output_buffer_limit=PIECE)
            yield out
            # A full buffer may hold more output even when more input would be accepted.
            while out and (len(out) >= PIECE or not self._d.can_accept_more_data()):
                out = self._d.process(b"", output_buffer_limit=PIECE)
                yield out
        except brotli.error as exc:
            raise _corrupt("br", str(exc)) from exc

    def end(self) -> None:
        if self._fed and not self._d.is_finished():
            raise _corrupt("br", "stream ends early")


class BoundedDecoder:
    """Decodes ``Content-Encoding`` (a list, applied in order) within the two caps."""

    def __init__(self, content_encoding: str, *, max_bytes: int, max_ratio: float) -> None:
        names = [e.strip().lower() for e in content_encoding.split(",") if e.strip()]
        self._steps = [_step(n) for n in reversed(names) if n != "identity"]
        self._max_bytes = max_bytes
        self._max_ratio = max_ratio
        self.received = 0
        self.decoded = 0

    @property
    def identity(self) -> bool:
        return not self._steps

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        """The decoded pieces of ``chunk``; raises ``too_large`` before a piece past a cap."""
        self.received += len(chunk)
        for piece in self._through(0, chunk):
            if piece:
                self._admit(len(piece))
                yield piece

    def end(self) -> None:
        """The body is complete: every encoding must have ended cleanly."""
        for step in self._steps:
            step.end()

    def _through(self, i: int, data: bytes) -> Iterator[bytes]:
        if i == len(self._steps):
            yield data
            return
        for out in self._steps[i].feed(data):
            if out:
                yield from self._through(i + 1, out)

    def _admit(self, size: int) -> None:
        decoded = self.decoded + size
        if decoded > self._max_bytes:
            raise PermanentFetchError(
                f"body exceeds max_payload_bytes {self._max_bytes} once decoded "
                f"({self.received} bytes received)",
                kind="too_large",
            )
        if (
            self._steps
            and decoded > RATIO_FLOOR
            and decoded > self._max_ratio * max(self.received, 1)
        ):
            raise PermanentFetchError(
                f"decompression bomb: {decoded} bytes decoded from {self.received} received "
                f"(ratio {decoded / max(self.received, 1):.0f}, "
                f"over max_decompression_ratio {self._max_ratio:g})",
                kind="too_large",
            )
        self.decoded = decoded


def _step(name: str) -> _Step:
    if name in ("gzip", "x-gzip", "deflate"):
        return _Zlib(name)
    if name == "br":
        return _Brotli()
    raise PermanentFetchError(
        f"unsupported Content-Encoding {name!r} (supported: {ACCEPT_ENCODING})",
        kind="unsupported_encoding",
    )


def _corrupt(encoding: str, detail: str) -> TransientFetchError:
    # Like aiohttp's ContentEncodingError, read as a truncated body: a retry may get it whole.
    return TransientFetchError(
        f"body truncated: cannot decode content-encoding {encoding}: {detail}", kind="truncated"
    )
