"""The run report as terminal tables that fit 100 columns (``supplyfeed report``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .text_columns import fit_lines

__all__ = ["failures_table", "print_report"]

_MAX_SUPPLIERS = 20
_MAX_HOSTS = 10
_MAX_FAILURES = 20  # in the report; `supplyfeed failures` lists them all
_MARK = {"error": "[bold red]ERROR[/]", "warning": "[yellow]WARN[/]", "info": "[dim]info[/]"}


def print_report(console: Console, report: Mapping[str, Any]) -> None:
    """Suppliers, slowest endpoints, hosts, then the findings an operator acts on."""
    if not report:
        return
    whole = not console.is_terminal  # a pipe or a file: names in full, never cut
    console.print(_suppliers(report, whole))
    if report.get("slowest"):
        console.print(_slowest(report["slowest"]))
    if report.get("failures"):
        width = console.width if console.is_terminal else None
        shown = failures_table(report["failures"], limit=_MAX_FAILURES, width=width)
        console.print(shown, soft_wrap=True)  # lines fit already: never wrap one
    if report.get("hosts"):
        console.print(_hosts(report["hosts"], whole))
    console.print(_health(report))
    console.print(_findings(report.get("findings", [])))


def _table(title: str) -> Table:
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _records(by_kind: Mapping[str, int]) -> str:
    short = {"inventory_snapshot": "inv", "po_ack": "ack", "ship_notice": "asn"}
    return " ".join(f"{short.get(k, k)} {v:,}" for k, v in by_kind.items() if v) or "-"


def _clip(text: str, width: int, whole: bool) -> str:
    return text if whole else text[:width]


def _suppliers(report: Mapping[str, Any], whole: bool = False) -> Table:
    t = _table("per supplier (latency in seconds)")
    for name, justify in (
        ("supplier", "left"), ("ok", "right"), ("failed", "right"), ("err %", "right"),
        ("p50", "right"), ("p95", "right"), ("p99", "right"), ("retry", "right"),
        ("bytes", "right"), ("dead", "right"),
    ):  # fmt: skip
        t.add_column(name, justify=justify, no_wrap=True, min_width=len(name))  # type: ignore[arg-type]
    suppliers = sorted(
        report.get("suppliers", {}).items(), key=lambda kv: (-kv[1]["error_rate"], kv[0])
    )
    for sid, g in suppliers[:_MAX_SUPPLIERS]:
        t.add_row(*_group_row(_clip(sid, 14, whole), g))
    if len(suppliers) > _MAX_SUPPLIERS:
        t.add_row(f"… {len(suppliers) - _MAX_SUPPLIERS} more", *[""] * 9)
    t.add_section()
    t.add_row(*_group_row("[bold]overall", report["overall"]))
    return t


def _group_row(name: str, g: Mapping[str, Any]) -> list[str]:
    lat = g["latency_seconds"]
    rate = f"{g['error_rate']:.1%}"
    return [
        name,
        f"{g['ok']:,}",
        f"{g['failed']:,}",
        f"[bold red]{rate}[/]" if g["flagged"] else rate,
        f"{lat['p50']:.2f}",
        f"{lat['p95']:.2f}",
        f"{lat['p99']:.2f}",
        f"{g['retries']:,}",
        _size(g["bytes"]),
        f"{g['dead_letters']:,}",
    ]


def _slowest(rows: list[Mapping[str, Any]]) -> Table:
    t = _table("slowest endpoints")
    t.add_column("s", justify="right", no_wrap=True, min_width=5)
    t.add_column("try", justify="right", no_wrap=True, min_width=3)
    t.add_column("outcome", no_wrap=True, min_width=7, max_width=18, overflow="ellipsis")
    t.add_column("request id", no_wrap=True, min_width=16)
    t.add_column("url", no_wrap=True, overflow="ellipsis", ratio=1)
    for r in rows:
        t.add_row(
            f"{r['seconds']:.2f}",
            str(r["attempts"]),
            r["outcome"],
            r["request_id"] or "-",
            r["url"],
        )
    return t


def failures_table(
    rows: Sequence[Mapping[str, Any]], *, limit: int | None = None, width: int | None = None
) -> Text:
    """Failed and quarantined endpoints, one line each: the request id (``trace`` takes
    it) and the reason are never cut; on a terminal ``width`` wide the message, then the
    URL, are (``failures --json`` has them whole)."""
    shown = rows if limit is None else rows[:limit]
    cells = [
        (r["error_kind"], str(r["status"] or "-"), str(r["attempts"]), r["request_id"] or "-",
         r["url"], r["message"])
        for r in shown
    ]  # fmt: skip
    head = ("reason", "http", "try", "request id", "url", "message")
    lines = fit_lines(head, cells, width, flexible=(5, 4), right=(1, 2))
    if len(rows) > len(shown):
        lines.append(f"… and {len(rows) - len(shown)} more: `supplyfeed failures` lists them all")
    return Text("\n".join([f"failures ({len(rows):,})", *lines]) + "\n")


def _hosts(hosts: Mapping[str, Mapping[str, Any]], whole: bool = False) -> Table:
    t = _table("hosts (connection slots; wait and wire are per attempt)")
    for name in ("host", "attempts", "peak", "wait s", "wire s", "new", "reused"):
        t.add_column(name, justify="left" if name == "host" else "right", no_wrap=True)
    ranked = sorted(hosts.items(), key=lambda kv: -kv[1].get("queue_wait_seconds", 0.0))
    for host, h in ranked[:_MAX_HOSTS]:
        n = max(1, h.get("attempts", 0))
        t.add_row(
            _clip(host, 32, whole),
            f"{h.get('attempts', 0):,}",
            str(h.get("peak_in_use", 0)),
            f"{h.get('queue_wait_seconds', 0.0) / n:.3f}",
            f"{h.get('wire_seconds', 0.0) / n:.3f}",
            f"{h.get('new_connections', 0):,}",
            f"{h.get('reused_connections', 0):,}",
        )
    if len(hosts) > _MAX_HOSTS:
        t.add_row(f"… {len(hosts) - _MAX_HOSTS} more", *[""] * 6)
    return t


def _health(report: Mapping[str, Any]) -> Table:
    t = Table(title="run health", title_justify="left", show_header=False, box=None)
    t.add_column("what", style="bold", no_wrap=True)
    t.add_column("value", overflow="fold")
    sla = report["sla"]
    t.add_row("records", _records(report["overall"]["records_by_kind"]))
    t.add_row(
        "SLA",
        f"{sla['wall_seconds']:.1f} s of {sla['sla_seconds']:.0f} s ({sla['used']:.1%}); "
        f"~{sla['estimated_endpoints_within_sla']:,} endpoints would fit "
        f"at {sla['endpoints_per_second']:.1f}/s",
    )
    lag = report.get("loop_lag")
    if lag:
        t.add_row(
            "loop lag",
            f"max {lag['max_seconds'] * 1000:.0f} ms, p99 {lag['p99_seconds'] * 1000:.0f} ms, "
            f"{lag['stalls']} stall(s) over {lag['threshold_seconds'] * 1000:.0f} ms",
        )
    mem = report.get("memory")
    if mem:
        t.add_row("peak RSS", _size(mem["peak_rss_bytes"]))
        for site in (mem.get("top_sites") or [])[:5]:
            t.add_row("  alloc", f"{_size(site['bytes']):>10}  {site['site']}")
    leaks = report.get("leaks")
    if leaks:
        ok = not leaks.get("leaked")
        t.add_row(
            "leaks",
            f"[green]none[/] (responses, sockets, fds {leaks['fds_start']} -> {leaks['fds_end']})"
            if ok
            else "[bold red]" + "; ".join(leaks.get("findings", [])),
        )
    return t


def _findings(findings: list[Mapping[str, str]]) -> Table:
    t = Table(title="findings", title_justify="left", show_header=False, box=None)
    t.add_column("severity", no_wrap=True)
    t.add_column("message", overflow="fold")
    order = {"error": 0, "warning": 1, "info": 2}
    for f in sorted(findings, key=lambda f: order.get(f["severity"], 3)):
        t.add_row(_MARK.get(f["severity"], f["severity"]), f["message"])
    return t
