"""The HTML report's charts as inline SVG: the request waterfall, in flight per host,
latency histograms and failures by reason. Each takes plain data and returns markup."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .html_data import CATEGORIES, Bar, by_host, in_flight, stack_rows
from .stats import quantile
from .svg import el, esc, fmt, nice_ticks, rect, svg, text

__all__ = ["failure_bars", "in_flight_charts", "latency_histograms", "legend", "waterfall"]

MAX_BARS = 6000  # beyond this the page gets slow to draw; the note says how many were left
_MAX_ROWS = 24  # rows per lane: more concurrent attempts share the last row
_ROW, _GAP = 5, 1
_LABEL = 200  # left column of the waterfall (host names)
_WIDTH = 1100
_SMALL_W, _SMALL_H = 340, 110
_MAX_SMALL = 24  # small multiples (hosts, suppliers) drawn
# Latency bins (seconds), log-spaced: under 1 ms ... over 30 s.
_EDGES = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
_EDGE_LABELS = {0.001: "1ms", 0.01: "10ms", 0.1: "100ms", 1.0: "1s", 10.0: "10s"}


def _seconds(t: float) -> str:
    return f"{t:g} s"


@dataclass(frozen=True, slots=True)
class _Axis:
    """Seconds to x pixels over ``[left, left + width]``."""

    left: float
    width: float
    span: float

    def x(self, t: float) -> float:
        return self.left + t / self.span * self.width


def _time_grid(axis: _Axis, top: float, bottom: float) -> str:
    out = []
    for t in nice_ticks(axis.span, 8):
        if t > axis.span:
            break
        x = axis.x(t)
        out.append(el("line", x1=x, x2=x, y1=float(top), y2=float(bottom), class_="grid"))
        out.append(text(x, top - 4, _seconds(t), class_="tick", text_anchor="middle"))
    return "".join(out)


def waterfall(bars: Sequence[Bar]) -> str:
    """One lane per host; each attempt a bar coloured by outcome, stacked so concurrent
    attempts never hide each other; a retry is joined to the attempt before it by a dashed
    line (the backoff and the wait for a slot); a hedge is outlined."""
    shown = bars[:MAX_BARS]
    span = max((b.end for b in shown), default=0.0) or 1.0
    axis = _Axis(_LABEL, _WIDTH - _LABEL - 10, span)
    y, body = 24.0, []
    for host, lane in by_host(shown).items():
        rows = [min(r, _MAX_ROWS - 1) for r in stack_rows(lane)]
        height = (max(rows) + 1) * (_ROW + _GAP) + 8
        body.append(_lane(host, lane, rows, axis, y))
        y += height
    grid = _time_grid(axis, 20, y)
    note = ""
    if len(bars) > len(shown):
        note = el(
            "p",
            esc(f"The first {len(shown):,} of {len(bars):,} attempts are drawn."),
            class_="note",
        )
    return svg(_WIDTH, y + 4, grid + "".join(body), "request waterfall") + note


def _lane(host: str, lane: Sequence[Bar], rows: Sequence[int], axis: _Axis, y: float) -> str:
    parts = [
        el("line", x1=0.0, x2=float(_WIDTH), y1=y, y2=y, class_="lane"),
        text(4, y + 13, _clip(host, 28), class_="host"),
        text(4, y + 25, f"{len(lane):,} attempts", class_="tick"),
    ]
    for bar, row in zip(lane, rows, strict=True):
        top = y + 4 + row * (_ROW + _GAP)
        if bar.after is not None:  # a retry: the wait since the attempt before it
            mid = top + _ROW / 2
            parts.append(
                el(
                    "line",
                    x1=axis.x(bar.after),
                    x2=axis.x(bar.start),
                    y1=mid,
                    y2=mid,
                    class_="wait",
                )
            )
        cls = f"bar c-{bar.category}" + (" hedge" if bar.hedge else "")
        cls += " retry" if bar.after is not None else ""
        x0 = axis.x(bar.start)
        parts.append(rect(x0, top, axis.x(bar.end) - x0, _ROW, bar.tip, class_=cls))
    return el("g", "".join(parts), class_="host-lane", data_host=host)


def _clip(value: str, n: int) -> str:
    return value if len(value) <= n else value[: n - 1] + "…"


def legend(categories: Sequence[str], *, hedges: bool) -> str:
    """Swatches for the categories drawn, the retry wait and (when any) hedges."""
    items = [
        el("span", el("i", "", class_=f"swatch c-{c}") + esc(c), class_="key")
        for c in CATEGORIES
        if c in categories
    ]
    items.append(el("span", el("i", "", class_="swatch wait-key") + "retry wait", class_="key"))
    if hedges:
        items.append(el("span", el("i", "", class_="swatch hedge") + "hedge", class_="key"))
    return el("div", "".join(items), class_="legend")


def in_flight_charts(bars: Sequence[Bar], limit: int | None) -> str:
    """Attempts in flight to each host over the run, against ``limit_per_host``."""
    hosts = sorted(by_host(bars).items(), key=lambda kv: -len(kv[1]))
    span = max((b.end for b in bars), default=0.0) or 1.0
    charts = [_in_flight(host, lane, span, limit) for host, lane in hosts[:_MAX_SMALL]]
    return _grid(charts, len(hosts), "hosts")


def _in_flight(host: str, lane: Sequence[Bar], span: float, limit: int | None) -> str:
    steps = in_flight(lane)
    peak = max((n for _, n in steps), default=0)
    top = max(peak, limit or 0, 1)
    axis = _Axis(30, _SMALL_W - 40, span)
    base, height = _SMALL_H - 18.0, _SMALL_H - 40.0

    def y(n: float) -> float:
        return base - n / top * height

    path = [f"M{fmt(axis.x(0))} {fmt(base)}"]
    for t, n in steps:
        path.append(f"H{fmt(axis.x(t))}V{fmt(y(n))}")
    parts = [
        text(4, 12, _clip(host, 40), class_="host"),
        text(
            _SMALL_W - 4,
            12,
            f"peak {peak}" + (f" / limit {limit}" if limit else ""),
            class_="tick",
            text_anchor="end",
        ),
        el("line", x1=axis.left, x2=axis.left + axis.width, y1=base, y2=base, class_="axis"),
        text(axis.left - 4, y(top) + 4, top, class_="tick", text_anchor="end"),
        text(axis.left - 4, base + 4, 0, class_="tick", text_anchor="end"),
        text(
            axis.left + axis.width,
            base + 14,
            _seconds(round(span, 2)),
            class_="tick",
            text_anchor="end",
        ),
        el("path", d="".join(path), class_="in-flight"),
    ]
    if limit:
        parts.append(
            el(
                "line",
                x1=axis.left,
                x2=axis.left + axis.width,
                y1=y(limit),
                y2=y(limit),
                class_="limit",
            )
        )
    return svg(_SMALL_W, _SMALL_H, "".join(parts), f"in flight to {host}")


def latency_histograms(bars: Sequence[Bar]) -> str:
    """Attempt latency (time on the wire) per supplier, on log-spaced bins."""
    by_supplier: dict[str, list[float]] = {}
    for b in bars:
        by_supplier.setdefault(b.supplier, []).append(b.end - b.start)
    ranked = sorted(by_supplier.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    charts = [_histogram(s, sorted(v)) for s, v in ranked[:_MAX_SMALL]]
    return _grid(charts, len(ranked), "suppliers")


def _histogram(supplier: str, values: Sequence[float]) -> str:
    counts = [0] * (len(_EDGES) + 1)
    for v in values:
        counts[next((i for i, e in enumerate(_EDGES) if v < e), len(_EDGES))] += 1
    top = max(counts) or 1
    left, width = 30.0, _SMALL_W - 40.0
    step = width / len(counts)
    base, height = _SMALL_H - 18.0, _SMALL_H - 40.0
    summary = (
        f"n {len(values):,}  p50 {quantile(values, 0.5):.3f} s  p95 {quantile(values, 0.95):.3f} s"
    )
    parts = [
        text(4, 12, _clip(supplier, 24), class_="host"),
        text(_SMALL_W - 4, 12, summary, class_="tick", text_anchor="end"),
        el("line", x1=left, x2=left + width, y1=base, y2=base, class_="axis"),
        text(left - 4, base - height + 4, top, class_="tick", text_anchor="end"),
    ]
    for i, n in enumerate(counts):
        h = n / top * height
        lo = "0" if i == 0 else _seconds(_EDGES[i - 1])
        hi = _seconds(_EDGES[i]) if i < len(_EDGES) else "∞"
        parts.append(
            rect(left + i * step + 1, base - h, step - 2, h, f"{lo} – {hi}: {n:,}", class_="hist")
        )
        if i < len(_EDGES) and _EDGES[i] in _EDGE_LABELS:
            parts.append(
                text(
                    left + (i + 1) * step,
                    base + 12,
                    _EDGE_LABELS[_EDGES[i]],
                    class_="tick",
                    text_anchor="middle",
                )
            )
    return svg(_SMALL_W, _SMALL_H, "".join(parts), f"latency of {supplier}")


def _grid(charts: Sequence[str], total: int, what: str) -> str:
    note = ""
    if total > len(charts):
        note = el(
            "p", esc(f"The busiest {len(charts)} of {total} {what} are drawn."), class_="note"
        )
    return el("div", "".join(charts), class_="small-multiples") + note


def failure_bars(reasons: Mapping[str, int]) -> str:
    """Failed and quarantined endpoints by reason, most first."""
    ranked = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    if not ranked:
        return el("p", "No endpoint failed.", class_="note")
    top = ranked[0][1]
    left, width, row = 220.0, 520.0, 22
    parts = []
    for i, (reason, n) in enumerate(ranked):
        y = i * row + 4.0
        parts.append(text(left - 8, y + 13, _clip(reason, 32), class_="reason", text_anchor="end"))
        parts.append(rect(left, y, n / top * width, row - 6, f"{reason}: {n:,}", class_="fail-bar"))
        parts.append(text(left + n / top * width + 6, y + 13, f"{n:,}", class_="tick"))
    return svg(left + width + 80, len(ranked) * row + 8, "".join(parts), "failures by reason")
