"""The HL hierarchy of an 856, built from the parent pointers (HL02), not from file order.

Senders order HL loops in many ways (depth-first, level by level, or shuffled by a
translator), and only HL01/HL02 say what contains what. Duplicate ids, unknown parents
and cycles are errors naming the HL segment. Traversals are iterative so a hostile depth
cannot exhaust the stack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..._exceptions import PayloadError
from .tokenizer import Segment

__all__ = ["HLNode", "build_tree", "walk"]


@dataclass(slots=True, eq=False)
class HLNode:
    """One HL loop: its id, parent id, level code (S, O, T, P, I ...) and its segments."""

    id: str
    parent_id: str
    level: str
    position: int
    segments: list[Segment] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)  # of each segment, for errors
    children: list[HLNode] = field(default_factory=list)
    parent: HLNode | None = None

    def first(self, tag: str, qualifier: str | None = None) -> Segment | None:
        """The node's first ``tag`` segment (whose element 1 is ``qualifier``, if given)."""
        for seg in self.segments:
            if seg[0] == tag and (
                qualifier is None or (len(seg) > 1 and seg[1].strip() == qualifier)
            ):
                return seg
        return None

    def add(self, seg: Segment, pos: int) -> None:
        self.segments.append(seg)
        self.positions.append(pos)

    def where(self, seg: Segment) -> str:
        """``segment N (TAG)`` for one of this node's segments."""
        for i, s in enumerate(self.segments):
            if s is seg:
                return f"segment {self.positions[i]} ({seg[0][:3]})"
        return f"segment {self.position} (HL)"

    def ancestry(self) -> Iterator[HLNode]:
        """This node, then its parent, up to the root."""
        node: HLNode | None = self
        while node is not None:
            yield node
            node = node.parent

    def find_up(self, predicate: Callable[[HLNode], bool]) -> HLNode | None:
        return next((n for n in self.ancestry() if predicate(n)), None)


def build_tree(nodes: list[HLNode]) -> list[HLNode]:
    """Links ``nodes`` by HL02 and returns the roots; children keep file order."""
    by_id: dict[str, HLNode] = {}
    for node in nodes:
        if node.id in by_id:
            raise PayloadError(
                f"duplicate HL id {node.id!r}",
                where=f"segment {node.position} (HL)",
                kind="validation",
            )
        by_id[node.id] = node
    roots: list[HLNode] = []
    for node in nodes:
        if not node.parent_id:
            roots.append(node)
            continue
        parent = by_id.get(node.parent_id)
        if parent is None:
            raise PayloadError(
                f"HL {node.id!r} names parent {node.parent_id!r}, which does not exist",
                where=f"segment {node.position} (HL)",
                kind="validation",
            )
        node.parent = parent
        parent.children.append(node)
    _check_reachable(nodes, roots)
    return roots


def _check_reachable(nodes: list[HLNode], roots: list[HLNode]) -> None:
    reached = {id(node) for node in walk(roots)}
    for node in nodes:
        if id(node) not in reached:
            raise PayloadError(
                f"HL {node.id!r} is part of a parent cycle",
                where=f"segment {node.position} (HL)",
                kind="validation",
            )


def walk(roots: list[HLNode]) -> Iterator[HLNode]:
    """Depth-first, parents before children, siblings in file order."""
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children))
