"""A few SVG and HTML elements as strings, every value escaped on the way in.

The HTML report draws its charts with these (no JavaScript, nothing fetched). Text that
came from a supplier (a URL, an error message) only ever reaches the page through
:func:`esc`, in element content or in a quoted attribute, so it cannot open a tag.
"""

from __future__ import annotations

import html
import math

__all__ = ["el", "esc", "fmt", "nice_ticks", "rect", "svg", "text"]


def esc(value: object) -> str:
    """Text for element content or a double-quoted attribute."""
    return html.escape(str(value), quote=True)


def fmt(value: float) -> str:
    """A coordinate, short: ``12``, ``12.5``."""
    return f"{value:.1f}".removesuffix(".0")


def _attrs(attrs: dict[str, object]) -> str:
    """``class_="a" stroke_width=2`` as `` class="a" stroke-width="2"``; None leaves it out."""
    out = []
    for name, value in attrs.items():
        if value is None:
            continue
        key = name.rstrip("_").replace("_", "-")
        shown = fmt(value) if isinstance(value, float) else esc(value)
        out.append(f' {key}="{shown}"')
    return "".join(out)


def el(tag: str, content: str = "", **attrs: object) -> str:
    """An element; ``content`` is markup already built (escape text with :func:`esc`)."""
    return f"<{tag}{_attrs(attrs)}>{content}</{tag}>"


def text(x: float, y: float, value: object, **attrs: object) -> str:
    return el("text", esc(value), x=float(x), y=float(y), **attrs)


def rect(x: float, y: float, w: float, h: float, tip: str = "", **attrs: object) -> str:
    """A rectangle with an optional tooltip (an SVG ``<title>``)."""
    title = el("title", esc(tip)) if tip else ""
    return el(
        "rect", title, x=float(x), y=float(y), width=float(max(w, 0.5)), height=float(h), **attrs
    )


def svg(width: float, height: float, body: str, label: str) -> str:
    return el(
        "svg",
        body,
        xmlns="http://www.w3.org/2000/svg",
        width=float(width),
        height=float(height),
        viewBox=f"0 0 {fmt(width)} {fmt(height)}",
        role="img",
        aria_label=label,
    )


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``top`` (1, 2 or 5 times a power of ten)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    n = math.ceil(top / step - 1e-9)
    return [i * step for i in range(n + 1)]
