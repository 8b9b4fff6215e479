"""A small PNG reader (8-bit RGB/RGBA, not interlaced: what Chromium's screenshots are),
so the HTML report's screenshot can be checked pixel by pixel without an imaging library."""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from dataclasses import dataclass

__all__ = ["Image", "read_png"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {2: 3, 6: 4}  # colour type: RGB, RGBA


@dataclass(frozen=True, slots=True)
class Image:
    width: int
    height: int
    channels: int
    rows: list[bytes]  # unfiltered, ``width * channels`` bytes each

    def colours(self) -> Counter[tuple[int, int, int]]:
        """How many pixels have each RGB colour."""
        counts: Counter[tuple[int, int, int]] = Counter()
        c = self.channels
        for row in self.rows:
            counts.update(zip(row[0::c], row[1::c], row[2::c], strict=True))
        return counts


def read_png(data: bytes) -> Image:
    if not data.startswith(_SIGNATURE):
        raise ValueError("not a PNG file")
    pos, idat, header = len(_SIGNATURE), [], b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour not in _CHANNELS or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}")
    channels = _CHANNELS[colour]
    raw = zlib.decompress(b"".join(idat))
    return Image(width, height, channels, _unfilter(raw, width * channels, height, channels))


def _unfilter(raw: bytes, stride: int, height: int, bpp: int) -> list[bytes]:
    rows: list[bytes] = []
    prior = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        _FILTERS[kind](line, prior, bpp)
        prior = bytes(line)
        rows.append(prior)
    return rows


def _none(line: bytearray, prior: bytes, bpp: int) -> None:
    pass


def _sub(line: bytearray, prior: bytes, bpp: int) -> None:
    for i in range(bpp, len(line)):
        line[i] = (line[i] + line[i - bpp]) & 0xFF


def _up(line: bytearray, prior: bytes, bpp: int) -> None:
    for i in range(len(line)):
        line[i] = (line[i] + prior[i]) & 0xFF


def _average(line: bytearray, prior: bytes, bpp: int) -> None:
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        line[i] = (line[i] + ((left + prior[i]) >> 1)) & 0xFF


def _paeth(line: bytearray, prior: bytes, bpp: int) -> None:
    for i in range(len(line)):
        a = line[i - bpp] if i >= bpp else 0
        b = prior[i]
        c = prior[i - bpp] if i >= bpp else 0
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        predictor = a if pa <= pb and pa <= pc else b if pb <= pc else c
        line[i] = (line[i] + predictor) & 0xFF


_FILTERS = (_none, _sub, _up, _average, _paeth)
