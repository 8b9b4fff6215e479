"""The run report: what an operator reads after a run, computed from the ledger (so a
resumed run reports the whole) plus the telemetry findings of the run.

Findings are sentences an operator acts on, each with a severity:
``error`` (a leak, an SLA miss), ``warning`` (error rate above threshold, a pool
bottleneck, a blocked loop) or ``info``.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from .._config import FeedConfig
from .._sink.base import EndpointRecord, Outcome
from .stats import quantile

__all__ = ["build_report", "failure_list", "pool_findings"]

_OK = (Outcome.LOADED, Outcome.UNCHANGED)
_BAD = (Outcome.FAILED, Outcome.QUARANTINED)
_SLOWEST = 10
_MIN_MEAN_WAIT = 0.005  # below this, "queue wait dominates" is noise, not a bottleneck


def _reason(r: EndpointRecord) -> str:
    if r.outcome is Outcome.QUARANTINED:
        return f"quarantined:{r.error_kind or 'payload'}"
    return r.error_kind or "unknown"


class _Group:
    """One pass worth of sums for ``_group`` (overall, or one supplier)."""

    __slots__ = ("bad", "bytes", "dead", "elapsed", "endpoints", "ok", "pending", "reasons",
                 "records", "retries")  # fmt: skip

    def __init__(self) -> None:
        self.endpoints = self.ok = self.bad = self.pending = 0
        self.retries = self.bytes = self.dead = 0
        self.reasons: Counter[str] = Counter()
        self.records: Counter[str] = Counter()
        self.elapsed: list[float] = []

    def add(self, r: EndpointRecord, kind: str) -> None:
        self.endpoints += 1
        outcome = r.outcome
        if outcome is Outcome.PENDING:
            self.pending += 1
        else:
            self.elapsed.append(r.elapsed)
            if outcome in _OK:
                self.ok += 1
            elif outcome in _BAD:
                self.bad += 1
                self.reasons[_reason(r)] += 1
                self.dead += outcome is Outcome.QUARANTINED
        if r.attempts > 1:
            self.retries += r.attempts - 1
        self.bytes += r.bytes
        self.records[kind] += r.records_loaded

    def as_dict(self, threshold: float) -> dict[str, Any]:
        """Endpoints ok / failed by reason, error rate, latency, retries, bytes, records."""
        fetched = sorted(self.elapsed)
        rate = self.bad / self.endpoints if self.endpoints else 0.0
        return {
            "endpoints": self.endpoints,
            "ok": self.ok,
            "failed": self.bad,
            "pending": self.pending,
            "failed_by_reason": dict(self.reasons.most_common()),
            "error_rate": round(rate, 4),
            "flagged": rate > threshold,
            "latency_seconds": {
                "p50": round(quantile(fetched, 0.50), 4),
                "p95": round(quantile(fetched, 0.95), 4),
                "p99": round(quantile(fetched, 0.99), 4),
            },
            "retries": self.retries,
            "bytes": self.bytes,
            "records_by_kind": dict(sorted(self.records.items())),
            "dead_letters": self.dead,
        }


def _groups(
    records: Sequence[EndpointRecord], threshold: float
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Overall and per supplier, in one pass over the ledger."""
    overall = _Group()
    suppliers: dict[str, _Group] = {}
    for r in records:
        kind = r.endpoint.kind.value
        overall.add(r, kind)
        supplier = r.endpoint.supplier_id
        group = suppliers.get(supplier)
        if group is None:
            group = suppliers[supplier] = _Group()
        group.add(r, kind)
    by_supplier = {s: g.as_dict(threshold) for s, g in sorted(suppliers.items())}
    return overall.as_dict(threshold), by_supplier


def _slowest(records: Sequence[EndpointRecord]) -> list[dict[str, Any]]:
    fetched = heapq.nlargest(
        _SLOWEST, (r for r in records if r.outcome is not Outcome.PENDING), key=_elapsed
    )
    return [
        {
            "url": r.endpoint.url,
            "supplier": r.endpoint.supplier_id,
            "kind": r.endpoint.kind.value,
            "seconds": round(r.elapsed, 4),
            "attempts": r.attempts,
            "outcome": r.outcome.value if r.outcome in _OK else _reason(r),
            "request_id": r.request_id,
        }
        for r in fetched
    ]


def _elapsed(r: EndpointRecord) -> float:
    return r.elapsed


def failure_list(records: Sequence[EndpointRecord]) -> list[dict[str, Any]]:
    """Every failed or quarantined endpoint, by supplier and URL: what ``report`` and
    ``supplyfeed failures`` list. ``error_kind`` is the reason ``failed_by_reason``
    counts it under; the request id is the one to pass to ``supplyfeed trace``, which
    also shows the whole message (an internal error's traceback follows its first line)."""
    bad = sorted(
        (r for r in records if r.outcome in _BAD),
        key=lambda r: (r.endpoint.supplier_id, r.endpoint.url, r.endpoint.key),
    )
    return [
        {
            "url": r.endpoint.url,
            "supplier_id": r.endpoint.supplier_id,
            "kind": r.endpoint.kind.value,
            "outcome": r.outcome.value,
            "error_kind": _reason(r),
            "status": r.http_status,
            "message": _first_line(r.error_message),
            "attempts": r.attempts,
            "permanent": r.permanent,
            "request_id": r.request_id,
        }
        for r in bad
    ]


def _first_line(message: str | None) -> str:
    return message.splitlines()[0] if message else ""


def _sla(wall: float, handled: int, sla: float) -> dict[str, Any]:
    rate = handled / wall if wall > 0 else 0.0
    return {
        "sla_seconds": sla,
        "wall_seconds": round(wall, 3),
        "used": round(wall / sla, 4) if sla > 0 else 0.0,
        "endpoints_this_run": handled,
        "endpoints_per_second": round(rate, 2),
        "estimated_endpoints_within_sla": int(rate * sla),
    }


def pool_findings(
    hosts: Mapping[str, Mapping[str, Any]], config: FeedConfig, global_peak: int
) -> list[dict[str, str]]:
    """Where requests waited for a slot longer than they spent on the wire, say which
    limit held them and what the observed peak was (hosts held by one limit are grouped,
    worst first, so a fleet of identical hosts gives one finding, not one per host)."""
    groups: dict[str, list[tuple[float, str, Mapping[str, Any]]]] = {}
    for host, h in hosts.items():
        waited, wire = h.get("queue_wait_seconds", 0.0), h.get("wire_seconds", 0.0)
        attempts = max(1, h.get("attempts", 1))
        if waited <= wire or waited / attempts < _MIN_MEAN_WAIT:
            continue
        if h.get("peak_in_use", 0) >= config.limits.per_host:
            limit = "limit_per_host"
        elif global_peak >= config.max_concurrency:
            limit = "max_concurrency"
        else:
            limit = "other"
        groups.setdefault(limit, []).append((waited / attempts, host, h))
    return [_pool_finding(limit, sorted(g, key=lambda x: -x[0]), config, global_peak)
            for limit, g in sorted(groups.items())]  # fmt: skip


def _pool_finding(
    limit: str,
    ranked: list[tuple[float, str, Mapping[str, Any]]],
    config: FeedConfig,
    global_peak: int,
) -> dict[str, str]:
    _mean_wait, host, h = ranked[0]
    attempts = max(1, h.get("attempts", 1))
    more = f" and {len(ranked) - 1} more host(s)" if len(ranked) > 1 else ""
    detail = (
        f"requests to {host} waited {h['queue_wait_seconds'] / attempts:.3f} s on average "
        f"for a slot against {h['wire_seconds'] / attempts:.3f} s on the wire"
    )
    if limit == "limit_per_host":
        msg = (
            f"limit_per_host is the bottleneck for host {host}{more} (peak "
            f"{h['peak_in_use']} in use, limit {config.limits.per_host}): {detail}; raise "
            "limit_per_host if the supplier allows more connections"
        )
    elif limit == "max_concurrency":
        msg = (
            f"max_concurrency is the bottleneck (peak {global_peak} in flight, limit "
            f"{config.max_concurrency}): {detail}{more and ' (and' + more[4:] + ')'}"
        )
    else:
        msg = (
            f"requests to host {host}{more} queued below every global limit (peak "
            f"{h['peak_in_use']} in use): {detail}; a supplier override or rate limit "
            "holds them"
        )
    return {"severity": "warning", "kind": "pool", "message": msg}


def build_report(
    records: Sequence[EndpointRecord],
    *,
    wall_seconds: float,
    config: FeedConfig,
    handled: int | None = None,
    telemetry: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The report dict stored with the run (``supplyfeed report --json`` prints it)."""
    overall, suppliers = _groups(records, config.sla.error_rate_threshold)
    handled = len(records) - overall["pending"] if handled is None else handled
    tele = dict(telemetry or {})
    report: dict[str, Any] = {
        "overall": overall,
        "suppliers": suppliers,
        "slowest": _slowest(records),
        "failures": failure_list(records),
        "sla": _sla(wall_seconds, handled, config.sla.seconds),
        "limits": _limits(config),
        **tele,
    }
    report["findings"] = _findings(report, config)
    return report


def _limits(config: FeedConfig) -> dict[str, int]:
    """The run's concurrency limits: the HTML report draws in-flight requests against them."""
    return {"limit_per_host": config.limits.per_host, "max_concurrency": config.max_concurrency}


def _findings(report: Mapping[str, Any], config: FeedConfig) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    overall, sla = report["overall"], report["sla"]
    for leak in report.get("leaks", {}).get("findings", []):
        out.append({"severity": "error", "kind": "leak", "message": leak})
    if sla["wall_seconds"] > sla["sla_seconds"]:
        out.append(
            {
                "severity": "error",
                "kind": "sla",
                "message": f"the run took {sla['wall_seconds']:.0f} s, over the "
                f"{sla['sla_seconds']:.0f} s SLA",
            }
        )
    if overall["flagged"]:
        flagged = [s for s, g in report["suppliers"].items() if g["flagged"]]
        out.append(
            {
                "severity": "warning",
                "kind": "errors",
                "message": f"error rate {overall['error_rate']:.1%} is above "
                f"{config.sla.error_rate_threshold:.0%}"
                + (f" (worst: {', '.join(flagged[:5])})" if flagged else ""),
            }
        )
    hosts = report.get("hosts")
    if hosts:
        out += pool_findings(hosts, config, report.get("peak_in_flight", 0))
    lag = report.get("loop_lag")
    if lag and lag.get("stalls"):
        worst = lag["worst"][0]
        out.append(
            {
                "severity": "warning",
                "kind": "loop_lag",
                "message": f"event loop blocked {lag['stalls']} time(s) over "
                f"{lag['threshold_seconds'] * 1000:.0f} ms, max {lag['max_seconds']:.3f} s; "
                f"worst: {worst['culprit']}",
            }
        )
    memory = report.get("memory")
    if memory:
        sites = memory.get("top_sites") or []
        top = (
            f"; top allocation site {sites[0]['site']} ({_mib(sites[0]['bytes'])})" if sites else ""
        )
        out.append(
            {
                "severity": "info",
                "kind": "memory",
                "message": f"peak RSS {_mib(memory['peak_rss_bytes'])}{top}",
            }
        )
    out.append(
        {
            "severity": "info",
            "kind": "sla",
            "message": f"used {sla['used']:.1%} of the {sla['sla_seconds']:.0f} s SLA; at "
            f"{sla['endpoints_per_second']:.1f} endpoints/s these settings handle about "
            f"{sla['estimated_endpoints_within_sla']:,} endpoints within it",
        }
    )
    return out


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"
