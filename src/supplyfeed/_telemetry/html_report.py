"""``supplyfeed report RUN --html FILE``: one self-contained HTML page about a run.

Everything is computed from the ledger (so a resumed run shows the whole) and drawn as
inline SVG: no script, no style sheet or font fetched, and a Content-Security-Policy that
forbids both, so the page shows the same offline and a hostile supplier's URL or error
message (escaped by :mod:`.svg` wherever it appears) cannot run anything in it.

Sections: the run summary and findings, the request waterfall, in flight per host against
``limit_per_host``, latency per supplier, failures by reason (and the failed endpoints),
the dead letters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._run.summary import RunSummary, summarize
from .._sink.base import DeadLetter, EndpointRecord, Outcome
from .html_charts import failure_bars, in_flight_charts, latency_histograms, legend, waterfall
from .html_data import CATEGORIES, RunData, attempt_bars
from .svg import el, esc

__all__ = ["render_html_report"]

_OUTCOME_ORDER = ("loaded", "unchanged", "failed", "quarantined", "pending")
_WIDE = frozenset(("url", "message", "error"))
_MAX_ROWS = 200  # table rows (failures, dead letters); the note says how many more
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def render_html_report(data: RunData) -> str:
    bars = attempt_bars(data.records)
    figures = _figures(data)
    hedges = any(b.hedge for b in bars)
    sections = [
        _section("Run summary", _summary_table(data, figures) + _findings(data.report)),
        _section(
            "Request waterfall",
            legend(sorted({b.category for b in bars}), hedges=hedges)
            + (waterfall(bars) if bars else _none("No request was made.")),
        ),
        _section(
            "In flight per host",
            _limit_note(data.limit_per_host)
            + (in_flight_charts(bars, data.limit_per_host) if bars else _none("-")),
        ),
        _section(
            "Latency per supplier",
            latency_histograms(bars) if bars else _none("No request was made."),
        ),
        _section(
            "Failures by reason",
            failure_bars(figures.failures_by_reason) + _failure_table(data.records),
        ),
        _section("Dead letters", _letters_table(data.dead_letters, data.run.run_id)),
    ]
    return _page(f"supplyfeed run {data.run.run_id}", "".join(sections))


def _figures(data: RunData) -> RunSummary:
    """The summary's figures from the ledger rows (as the terminal summary computes them)."""
    s = data.run.summary
    return summarize(
        data.run.run_id,
        data.records,
        wall_seconds=float(s.get("wall_seconds", 0.0)),
        error_rate_threshold=float(s.get("error_rate_threshold", 0.05)),
        interrupted=data.run.status == "interrupted",
    )


def _page(title: str, body: str) -> str:
    head = (
        '<meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(_CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_css()}</style>"
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head>{head}</head><body>'
        f"<h1>{esc(title)}</h1>{body}</body></html>\n"
    )


def _section(title: str, content: str) -> str:
    slug = title.lower().replace(" ", "-")
    return el("section", el("h2", esc(title)) + content, id=slug)


def _none(message: str) -> str:
    return el("p", esc(message), class_="note")


def _limit_note(limit: int | None) -> str:
    if limit is None:
        return _none("limit_per_host was not recorded with this run.")
    return _none(f"The dashed line is limit_per_host ({limit}).")


def _summary_table(data: RunData, f: RunSummary) -> str:
    run = data.run
    rows: list[tuple[str, object]] = [
        ("run", run.run_id),
        ("status", run.status),
        ("feeds", run.feeds or "-"),
        ("started", run.started_at.isoformat(timespec="seconds")),
        ("finished", run.finished_at.isoformat(timespec="seconds") if run.finished_at else "-"),
        ("endpoints", f"{f.endpoints:,}"),
        *((f"\t{k}", f"{f.outcomes[k]:,}") for k in _OUTCOME_ORDER if f.outcomes.get(k)),
        ("records decoded", f"{f.records:,}"),
        *((f"\t{k}", f"{v:,}") for k, v in f.buckets.items() if v),
        ("documents", f"{f.documents:,} ({f.stale_documents:,} stale)"),
        ("bytes", f"{f.bytes:,}"),
        ("wall time", f"{f.wall_seconds:.2f} s"),
        ("error rate", f"{f.error_rate:.2%}" + ("  FLAGGED" if f.flagged else "")),
    ]
    body = "".join(el("tr", _label(k) + el("td", esc(v))) for k, v in rows)
    return el("table", body, class_="summary", id="summary")


def _label(key: str) -> str:
    """A row's header; a tab-led key is a part of the row above (indented)."""
    sub = key.startswith("\t")
    return el("th", esc(key.lstrip("\t")), class_="sub" if sub else None)


def _findings(report: Mapping[str, Any]) -> str:
    items = [
        el(
            "li",
            el("b", esc(f.get("severity", "info"))) + " " + esc(f.get("message", "")),
            class_=f"finding {f.get('severity', 'info')}",
        )
        for f in report.get("findings", [])
    ]
    return el("ul", "".join(items), class_="findings") if items else ""


def _table(cls: str, header: Sequence[str], rows: Sequence[Sequence[object]], total: int) -> str:
    head = el("tr", "".join(el("th", esc(h)) for h in header))
    wide = [h in _WIDE for h in header]  # may wrap anywhere; the rest (ids) never wrap
    body = "".join(
        el(
            "tr",
            "".join(
                el("td", esc(v), class_="wide" if w else None)
                for v, w in zip(row, wide, strict=True)
            ),
        )
        for row in rows
    )
    more = _none(f"{total - len(rows):,} more not shown.") if total > len(rows) else ""
    return el("table", el("thead", head) + el("tbody", body), class_=f"rows {cls}") + more


def _failure_table(records: Sequence[EndpointRecord]) -> str:
    failed = [r for r in records if r.outcome in (Outcome.FAILED, Outcome.QUARANTINED)]
    rows = [
        (
            r.endpoint.url,
            r.endpoint.supplier_id,
            r.endpoint.kind.value,
            r.outcome.value,
            r.error_kind or "",
            "" if r.http_status is None else r.http_status,
            r.attempts,
            r.request_id or "",
            _first_line(r.error_message),
        )
        for r in failed[:_MAX_ROWS]
    ]
    header = (
        "url",
        "supplier",
        "kind",
        "outcome",
        "error",
        "status",
        "attempts",
        "request id",
        "message",
    )
    return _table("failures", header, rows, len(failed)) if failed else ""


def _first_line(message: str | None) -> str:
    line = (message or "").partition("\n")[0]
    return line if len(line) <= 240 else line[:239] + "…"


def _letters_table(letters: Sequence[DeadLetter], run_id: str) -> str:
    """The letters this run created or met again (their bytes are not shown)."""
    mine = [
        d for d in letters if d.run_id == run_id or any(s.run_id == run_id for s in d.sightings)
    ]
    if not mine:
        return _none("No payload of this run was quarantined.")
    rows = [
        (
            d.id,
            "open" if d.resolved_at is None else "resolved",
            d.supplier_id,
            d.kind.value,
            d.format,
            d.url,
            f"{d.error_kind} at {d.error_where}",
            _first_line(d.error_message),
            f"{d.size:,}",
            d.request_id or "",
            d.occurrences,
        )
        for d in mine[:_MAX_ROWS]
    ]
    header = (
        "id",
        "state",
        "supplier",
        "kind",
        "format",
        "url",
        "error",
        "message",
        "bytes",
        "request id",
        "runs",
    )
    return _table("dead-letters", header, rows, len(mine))


def _css() -> str:
    colours = "".join(f".c-{name}{{fill:{c};background:{c}}}" for name, c in CATEGORIES.items())
    return _STYLE + colours


_STYLE = (
    "body{font:13px/1.4 system-ui,sans-serif;margin:16px 24px;color:#222;background:#fff}"
    "h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:20px 0 6px;"
    "border-bottom:1px solid #ddd}"
    "table{border-collapse:collapse;margin:4px 0}td,th{padding:2px 8px;text-align:left;"
    "vertical-align:top}table.rows td,table.rows th{border-bottom:1px solid #eee}"
    "table.rows td{white-space:nowrap}table.rows td.wide{white-space:normal;"
    "overflow-wrap:anywhere;max-width:420px}table.summary th{font-weight:600}"
    "table.summary th.sub{font-weight:normal;padding-left:24px}"
    "svg{max-width:100%;height:auto}svg text{font:11px system-ui,sans-serif;fill:#333}"
    "svg .host{font-weight:600}"
    "svg .tick{fill:#666;font-size:10px}.grid{stroke:#eee}.lane{stroke:#ccc}"
    ".axis{stroke:#999}.wait{stroke:#888;stroke-dasharray:2 2}"
    ".bar.retry{stroke:#333;stroke-width:.5}.hedge{stroke:#000;stroke-dasharray:2 1;"
    "stroke-width:1;fill-opacity:.55}.in-flight{fill:none;stroke:#0072B2;stroke-width:1.5}"
    ".limit{stroke:#D55E00;stroke-dasharray:4 3}.hist{fill:#56B4E9}.fail-bar{fill:#D55E00}"
    ".small-multiples{display:flex;flex-wrap:wrap;gap:8px}"
    ".small-multiples svg{border:1px solid #eee}"
    ".legend{margin:4px 0}.key{margin-right:12px}.swatch{display:inline-block;width:12px;"
    "height:9px;margin-right:4px;vertical-align:middle}"
    ".wait-key{border-top:1px dashed #888;height:0}span .hedge{border:1px dashed #000}"
    ".note{color:#666}.finding.error b{color:#c00}.finding.warning b{color:#b60}"
)
