"""Split a run into shards that workers can run at the same time without breaking a limit.

The limits that matter to a supplier are kept by one engine's semaphores and token
buckets: ``limit_per_host`` (a host is ``(scheme, host, port)``, as in aiohttp), and per
supplier its ``overrides.max_concurrency``, ``rate_limit`` and OAuth token. Two workers
each keeping a limit would together allow twice as much. So instead of sharing budgets
over the network, every host and every supplier lives in exactly one shard, and one shard
runs in one worker at a time: the limits then hold across the whole cluster with no
coordination at all.

A shard is therefore built from connected components of the graph whose nodes are
suppliers and hosts, with an edge for every feed URL: a supplier's hosts and a host's
suppliers all land in one shard. A paged source is one URL and a drop folder one host,
so both stay whole within a shard. The components are then packed into at most ``count``
shards (largest first onto the lightest shard), enough to keep every worker busy while
a big supplier still runs alone.

Every natural key (docs/contract.md §5) starts with the supplier id, so two shards never write the
same row either: concurrent workers never contend for a key in the database.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .._config import SupplierSpec
from .._fetch.limits import host_key
from .._run.plan import PlannedEndpoint

__all__ = ["Shard", "make_shards"]


@dataclass(frozen=True, slots=True)
class Shard:
    """Suppliers a worker runs together; ``endpoints`` is how many have work left."""

    index: int
    suppliers: tuple[SupplierSpec, ...]
    hosts: tuple[str, ...]  # scheme://host:port, for the report
    endpoints: int

    @property
    def supplier_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.suppliers)


class _Components:
    """Union-find over supplier and host nodes."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, node: str) -> str:
        parent = self.parent.setdefault(node, node)
        if parent != node:
            parent = self.parent[node] = self.find(parent)
        return parent

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _host(url: str) -> str:
    scheme, host, port = host_key(url)
    return f"{scheme}://{host}:{port}"


def make_shards(
    suppliers: Sequence[SupplierSpec], todo: Iterable[PlannedEndpoint], count: int
) -> list[Shard]:
    """At most ``count`` shards holding every supplier with an endpoint in ``todo``,
    heaviest first. Suppliers with nothing left to do (a resume) are in none."""
    graph = _Components()
    for s in suppliers:
        graph.find(f"s:{s.id}")
        for feed in s.feeds:
            for url in feed.urls:
                graph.union(f"s:{s.id}", f"h:{_host(url)}")
    work = Counter(p.endpoint.supplier_id for p in todo)
    groups: dict[str, list[SupplierSpec]] = {}
    for s in suppliers:
        if work[s.id]:
            groups.setdefault(graph.find(f"s:{s.id}"), []).append(s)
    hosts: dict[str, set[str]] = {}
    for node in graph.parent:
        if node.startswith("h:"):
            hosts.setdefault(graph.find(node), set()).add(node[2:])
    weighted = sorted(
        ((sum(work[s.id] for s in group), root) for root, group in groups.items()),
        key=lambda wr: (-wr[0], wr[1]),
    )
    return _pack(weighted, groups, hosts, max(1, count))


def _pack(
    weighted: list[tuple[int, str]],
    groups: dict[str, list[SupplierSpec]],
    hosts: dict[str, set[str]],
    count: int,
) -> list[Shard]:
    """Longest-processing-time-first: each component onto the lightest bin so far."""
    bins: list[tuple[int, int, list[str]]] = [(0, i, []) for i in range(min(count, len(weighted)))]
    for weight, root in weighted:
        load, i, roots = heapq.heappop(bins)
        roots.append(root)
        heapq.heappush(bins, (load + weight, i, roots))
    shards: list[Shard] = []
    for load, _, roots in sorted(bins, key=lambda b: (-b[0], b[1])):
        members = tuple(s for root in roots for s in groups[root])
        names = sorted(h for root in roots for h in hosts.get(root, ()))
        shards.append(Shard(len(shards), members, tuple(names), load))
    return shards
