"""The load semantics every sink shares, so that SQLite, PostgreSQL and the in-memory fake
cannot drift apart: guarding the decoder, grouping parts into documents, the load planner
(docs/contract.md §6: write, unchanged, stale, superseded or conflict, per document and
per line) and the final ledger rows. The sinks only carry out what the planner says."""

from __future__ import annotations

import dataclasses
import traceback
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from itertools import groupby
from typing import Any, Final

import msgspec

from .._exceptions import PayloadError
from .._formats.body import Body
from .._models import DocKind, Document, InventorySnapshot, document_key
from .base import Conflict, DeadLetter, Delivery, Endpoint, EndpointRecord, LoadUnit, Outcome
from .schema import (
    DOC_SPECS,
    DocSpec,
    Provenance,
    Row,
    Version,
    codes_text,
    doc_key_text,
    line_hash,
    version_key,
    version_of,
)

__all__ = [
    "DEAD_LETTER_INLINE_MAX",
    "Bucket",
    "Conflict",
    "Counts",
    "Delivery",
    "DocAction",
    "DocPlan",
    "LineCopy",
    "LinePlan",
    "PartAction",
    "Recount",
    "StoredDoc",
    "UnitStats",
    "apply_recounts",
    "checkpoint_counts",
    "conflict_from_row",
    "conflict_row",
    "copy_from_row",
    "copy_row",
    "counts_of",
    "delivery_of",
    "final_record",
    "group_documents",
    "guarded",
    "is_known_quarantine",
    "is_stale_version",
    "is_swept",
    "line_conflicts",
    "line_copies",
    "line_count",
    "loaded_record",
    "part_ident",
    "part_records",
    "plan_document",
    "plan_lines",
    "plan_part",
    "plan_sweep",
    "provenance",
    "quarantined_record",
    "replay_unit",
    "restore_counts",
    "shadow_row",
    "snapshot_of_part",
    "swept_snapshots",
    "unique_skus",
    "with_counts",
]

# Dead letters larger than this are spooled to a file beside the database.
DEAD_LETTER_INLINE_MAX = 1 << 20


def guarded(documents: Callable[[], Iterator[Document]]) -> Iterator[Document]:
    """Iterate a decoder, turning any exception other than PayloadError into a PayloadError
    of kind ``decoder_bug``: a bug in a decoder must quarantine the payload, never lose it
    or abort the other units of the transaction."""
    try:
        yield from documents()
    except PayloadError:
        raise
    except Exception as exc:
        summary = "".join(traceback.format_exception(exc, limit=-3)).strip()
        raise PayloadError(
            f"decoder raised {type(exc).__name__}: {exc}\n{summary}", kind="decoder_bug"
        ) from exc


def group_documents(
    docs: Iterator[Document],
) -> Iterator[tuple[DocSpec, tuple[str, ...], Iterator[Document]]]:
    """Consecutive inventory parts with one natural key form one document; the parts are
    yielded lazily, so a streamed snapshot is never held whole. Acknowledgments and ship
    notices always arrive whole: two of one key in a row are two documents (a conflict,
    or a correction), never one document's parts."""
    for (doc_type, key, _), parts in groupby(docs, key=_grouping):
        yield DOC_SPECS[doc_type], key, parts


def _grouping(doc: Document) -> tuple[type, tuple[str, ...], int]:
    return type(doc), document_key(doc), 0 if isinstance(doc, InventorySnapshot) else id(doc)


def delivery_of(unit: LoadUnit) -> Delivery:
    endpoint = unit.record.endpoint
    return Delivery(endpoint.source, endpoint.url, unit.run_id, unit.record.request_id)


# -- the load planner (docs/contract.md §6) ------------------------------------------------
#
# Every sink asks the same two questions and carries out the answers; none decides alone.
#
# 1. A whole document (acknowledgment, ship notice) meets the stored one with its key:
#    plan_document() says write, unchanged, stale or conflict, and which of the stored
#    document's records, written earlier in this run, change bucket.
# 2. A part of an inventory snapshot (one source's report for (supplier, warehouse,
#    as_of)) meets the stored copies of its lines: plan_part() says whether the part is
#    new, unchanged, stale, extends the delivery in progress or replaces the source's
#    earlier delivery; plan_lines() gives the rows to write and delete in the table and
#    in the shadow copies, the conflicts, and the bucket of every record.


class Bucket(StrEnum):
    """Where a decoded record ends (docs/contract.md §6: decoded = the sum of the five)."""

    LOADED = "loaded"  # a row this run wrote, still in the table
    UNCHANGED = "unchanged"  # identical content already stored
    STALE = "stale"  # an older version than the one stored
    SUPERSEDED = "superseded"  # written, then replaced later in the same run
    CONFLICT = "conflict"  # lost a conflict


@dataclass(slots=True)
class Counts:
    """Records per bucket, for one unit (its ledger row) or one run (the summary)."""

    loaded: int = 0
    unchanged: int = 0
    stale: int = 0
    superseded: int = 0
    conflict: int = 0

    def add(self, bucket: Bucket, n: int = 1) -> None:
        setattr(self, bucket.value, getattr(self, bucket.value) + n)

    def move(self, to: Bucket, n: int, source: Bucket = Bucket.LOADED) -> None:
        """``n`` records counted in ``source`` went to ``to`` (decided again later in the
        run)."""
        self.add(source, -n)
        self.add(to, n)

    @property
    def total(self) -> int:
        return self.loaded + self.unchanged + self.stale + self.superseded + self.conflict


@dataclass(frozen=True, slots=True)
class Recount:
    """Records of an earlier unit of this run (``request_id``) decided again by a later
    one: they move from ``source`` (``loaded``: they left the table) to ``to`` in that
    endpoint's ledger row."""

    request_id: str | None
    to: Bucket
    n: int
    source: Bucket = Bucket.LOADED


# -- whole documents ------------------------------------------------------------------


class DocAction(Enum):
    WRITE = "write"  # insert, or replace the stored document whole
    UNCHANGED = "unchanged"
    STALE = "stale"
    LOSES = "loses"  # a conflict the stored document wins


@dataclass(frozen=True, slots=True)
class StoredDoc:
    """What ``sf_documents`` keeps of a document (or of one part of a snapshot)."""

    version: Version
    content_hash: str
    delivery: Delivery | None = None  # None: written before deliveries were recorded
    records: int = 0


@dataclass(frozen=True, slots=True)
class DocPlan:
    """What becomes of an incoming document: its action, recount and conflict."""

    action: DocAction
    recount: Recount | None = None  # the stored document's records, if displaced this run
    conflict: bool = False  # a conflict (stored both ways: won or lost)

    @property
    def bucket(self) -> Bucket:
        """The bucket of the incoming document's records."""
        return _DOC_BUCKET[self.action]


_DOC_BUCKET: Final = {
    DocAction.WRITE: Bucket.LOADED,
    DocAction.UNCHANGED: Bucket.UNCHANGED,
    DocAction.STALE: Bucket.STALE,
    DocAction.LOSES: Bucket.CONFLICT,
}


def plan_document(
    stored: StoredDoc | None, version: Version, content_hash: str, delivery: Delivery
) -> DocPlan:
    """A whole document against the stored one with its (global) natural key:

    - none stored, or a higher version: write (the stored one, if written this run, is
      superseded);
    - the same content: unchanged; a lower version: stale;
    - an equal version from the same source, another fetch: the later fetch wins (a
      correction re-delivered without a new date or control number);
    - an equal version otherwise (another source, or one delivery with two documents of
      one key): a conflict, won by the greater content hash, whatever the order.
    """
    if stored is None:
        return DocPlan(DocAction.WRITE)
    if content_hash == stored.content_hash:
        return DocPlan(DocAction.UNCHANGED)
    ours, theirs = version_key(version), version_key(stored.version)
    if ours < theirs:
        return DocPlan(DocAction.STALE)
    if ours > theirs or _refetched(stored.delivery, delivery):
        return DocPlan(DocAction.WRITE, _displaced(stored, delivery, Bucket.SUPERSEDED))
    if content_hash < stored.content_hash:
        return DocPlan(DocAction.LOSES, conflict=True)
    return DocPlan(DocAction.WRITE, _displaced(stored, delivery, Bucket.CONFLICT), True)


def _refetched(stored: Delivery | None, incoming: Delivery) -> bool:
    """The same source fetched again (another request): the later fetch is the newer."""
    return (
        stored is not None
        and stored.source == incoming.source
        and stored.request_id != incoming.request_id
    )


def _displaced(stored: StoredDoc, incoming: Delivery, to: Bucket) -> Recount | None:
    """Records of the stored document leave the table; recount them if this run wrote
    them (an earlier run's counts are history)."""
    if stored.delivery is None or stored.delivery.run_id != incoming.run_id:
        return None
    return Recount(stored.delivery.request_id, to, stored.records)


# -- inventory parts ------------------------------------------------------------------


class PartAction(Enum):
    NEW = "new"  # the source's first report of this snapshot (from this page)
    EXTEND = "extend"  # more of the delivery in progress: its lines add up
    REPLACE = "replace"  # a newer delivery of the source: the old part's lines go
    UNCHANGED = "unchanged"
    STALE = "stale"


def plan_part(
    stored: StoredDoc | None,
    version: Version,
    content_hash: str,
    delivery: Delivery,
    *,
    paged: bool = False,
) -> PartAction:
    """One source's part (``stored``: the part last loaded from the same page or file).

    A page of a paged source never replaces its page's earlier lines at once: boundaries
    shift between polls, so a line missing from page 2 may be on page 3, not yet
    fetched. Its lines displace the source's older copies one by one, and the delivery's
    end sweeps what it no longer reports (:func:`plan_sweep`): a crash half-way leaves
    the previous part plus the pages loaded, never less."""
    if stored is None:
        return PartAction.NEW
    if content_hash == stored.content_hash:
        return PartAction.UNCHANGED
    if stored.delivery is not None and stored.delivery.request_id == delivery.request_id:
        return PartAction.EXTEND  # the same payload named the snapshot twice
    if version_key(version) < version_key(stored.version):
        return PartAction.STALE
    return PartAction.EXTEND if paged else PartAction.REPLACE


@dataclass(frozen=True, slots=True)
class LineCopy:
    """One part's report of one inventory line: in the table, or a shadow."""

    sku: str
    values: tuple[Any, ...]  # on_hand, available, uom, codes (text)
    delivery: Delivery
    version: Version
    line_hash: str

    @property
    def rank(self) -> tuple[Any, ...]:
        """The better copy of a line: the higher version, then the greater hash; between
        equal reports, the greater (source, page), so that every sink, whatever order it
        reads copies in, keeps the same one."""
        d = self.delivery
        return (version_key(self.version), self.line_hash, d.source, d.page)

    @property
    def ident(self) -> tuple[str, str, str, str]:
        """The shadow table's key within a snapshot."""
        return (self.sku, self.delivery.source, self.delivery.page, self.line_hash)


@dataclass(slots=True)
class LinePlan:
    """What the table and the shadows of one snapshot become (the sink writes exactly
    this), and where every incoming record went."""

    upsert: list[LineCopy] = field(default_factory=list)  # table rows, insert or replace
    delete: list[str] = field(default_factory=list)  # SKUs whose table row goes
    add_shadows: list[LineCopy] = field(default_factory=list)
    drop_shadows: list[LineCopy] = field(default_factory=list)
    conflicts: list[tuple[LineCopy, LineCopy]] = field(default_factory=list)  # winner, loser
    recounts: list[Recount] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)


def plan_lines(
    incoming: Iterable[LineCopy],
    table: Mapping[str, LineCopy],
    shadows: Iterable[LineCopy],
    *,
    replace: Delivery | None = None,
) -> LinePlan:
    """The lines of one part against the stored copies of the same snapshot.

    ``table``: the table's copy per SKU, for every SKU incoming and every line of the part
    ``replace`` names; ``shadows``: the shadows of those SKUs. ``replace``: a newer
    delivery of that part (its source and page), whose earlier lines go first. See
    :func:`_meet` for how two copies of one line are decided."""
    state = _Lines(table, shadows)
    if replace is not None:
        part = (replace.source, replace.page)
        state.drop(lambda c: (c.delivery.source, c.delivery.page) == part, replace.run_id)
        state.promote()  # the new lines meet the best remaining copy, not an empty slot
    for copy in incoming:
        state.meet(copy)
    return state.plan()


def plan_sweep(
    table: Mapping[str, LineCopy],
    shadows: Iterable[LineCopy],
    run_id: str,
    source: str,
    kept_pages: Collection[str],
) -> LinePlan:
    """A paged source's delivery in ``run_id`` is complete: its copies from earlier
    deliveries go, except on ``kept_pages`` (pages this delivery found unchanged, whose
    lines were not written again); where another part still reports a line, its best copy
    takes the table (docs/contract.md §6: the source's part equals its latest complete delivery).
    ``table``/``shadows``: one snapshot's copies."""
    state = _Lines(table, shadows)
    state.drop(lambda c: is_swept(c.delivery, run_id, source, kept_pages), run_id)
    state.promote()
    return state.plan()


def is_swept(d: Delivery, run_id: str, source: str, kept_pages: Collection[str]) -> bool:
    """Of ``source``, from an earlier delivery, on a page not kept by the latest one."""
    return d.source == source and d.run_id != run_id and d.page not in kept_pages


def swept_snapshots(
    parts: Iterable[tuple[str, Delivery]],
    run_id: str,
    seen: Collection[str],
    unchanged: Collection[str],
) -> dict[str, set[str]]:
    """Which snapshots a paged source's complete delivery sweeps, each with its kept pages.

    ``parts``: (snapshot, delivery) of the source's stored parts; ``seen``: the pages the
    delivery loaded or found unchanged, ``unchanged``: those it found unchanged. A
    snapshot is the delivery's own if the delivery wrote a part of it, or found one of
    its pages unchanged; an earlier snapshot (another as_of) is history and is kept. Its
    kept pages are those the delivery brought but did not write again."""
    rewritten: dict[str, set[str]] = {}
    touched: set[str] = set()
    for snap, d in parts:
        pages = rewritten.setdefault(snap, set())
        if d.run_id == run_id:
            pages.add(d.page)
            touched.add(snap)
        elif d.page in unchanged:
            touched.add(snap)
    return {snap: set(seen) - rewritten[snap] for snap in touched}


class _Lines:
    """The copies of one snapshot's lines while a part is applied; diffed at the end."""

    def __init__(self, table: Mapping[str, LineCopy], shadows: Iterable[LineCopy]) -> None:
        self._before = dict(table)
        self._before_shadows = {s.ident: s for s in shadows}
        self.table = dict(table)
        self.shadows = dict(self._before_shadows)
        self.vacated: set[str] = set()
        self.out = LinePlan()

    def drop(self, gone: Callable[[LineCopy], bool], run_id: str) -> None:
        """Copies that ``gone`` names leave the table and the shadows; those this run
        wrote (a page fetched again on resume) are recounted as superseded."""
        for sku, copy in list(self.table.items()):
            if gone(copy):
                del self.table[sku]
                self.vacated.add(sku)
                if copy.delivery.run_id == run_id:
                    self.out.recounts.append(
                        Recount(copy.delivery.request_id, Bucket.SUPERSEDED, 1)
                    )
        for ident, copy in list(self.shadows.items()):
            if gone(copy):
                del self.shadows[ident]
                self.vacated.add(copy.sku)

    def meet(self, new: LineCopy) -> None:
        self._drop_older_deliveries(new)
        old = self.table.get(new.sku)
        if old is None:
            self.table[new.sku] = new
            self.out.counts.add(Bucket.LOADED)
            return
        _meet(self, old, self.best(new.sku), new)

    def best(self, sku: str) -> LineCopy:
        """The line's best live copy: the table's, or a shadow of a higher rank with the
        same values (an equal report kept the table's copy, of a lower version)."""
        copies = [self.table[sku], *(self.shadows[i] for i in self._shadows_of(sku))]
        return max(copies, key=lambda c: c.rank)

    def take(self, old: LineCopy, new: LineCopy, to: Bucket) -> None:
        """``new`` takes the table; ``old`` becomes a shadow (``to`` is its new bucket if
        this run wrote it)."""
        self.table[new.sku] = new
        self.out.counts.add(Bucket.LOADED)
        self.shadows[old.ident] = old
        if old.delivery.run_id == new.delivery.run_id:
            self.out.recounts.append(Recount(old.delivery.request_id, to, 1))

    def beat_equals(self, best: LineCopy, new: LineCopy) -> None:
        """``new`` wins a conflict against ``best`` and every copy reporting its values at
        its version: one conflict each, whatever order they came in. The shadows among
        them, counted unchanged when they came in this run, now count as conflict."""
        self.out.conflicts.append((new, best))
        for ident in self._shadows_of(new.sku):
            twin = self.shadows[ident]
            if twin is best or twin.line_hash != best.line_hash or twin.version != best.version:
                continue
            self.out.conflicts.append((new, twin))
            if twin.delivery.run_id == new.delivery.run_id:
                self.out.recounts.append(
                    Recount(twin.delivery.request_id, Bucket.CONFLICT, 1, Bucket.UNCHANGED)
                )

    def shadow(self, new: LineCopy, bucket: Bucket) -> None:
        if new.ident != self.table[new.sku].ident:
            self.shadows[new.ident] = new
        self.out.counts.add(bucket)

    def _shadows_of(self, sku: str) -> list[tuple[str, str, str, str]]:
        return [i for i in self.shadows if i[0] == sku] if self.shadows else []

    def _drop_older_deliveries(self, new: LineCopy) -> None:
        """The same source's copies of the line from an earlier delivery are obsolete: the
        newer delivery reports the line now."""

        def obsolete(c: LineCopy) -> bool:
            d = c.delivery
            return d.source == new.delivery.source and not d.same_delivery(new.delivery)

        for ident in self._shadows_of(new.sku):
            if obsolete(self.shadows[ident]):
                del self.shadows[ident]
                self.vacated.add(new.sku)
        held = self.table.get(new.sku)
        if held is not None and obsolete(held):
            del self.table[new.sku]
            self.vacated.add(new.sku)
        self.promote()

    def promote(self) -> None:
        """Lines that lost copies: the best live copy takes the table (docs/contract.md §6: the best
        copy among the parts that still report the line), the others stay shadows. A
        table copy is replaced only by different values (an equal copy is not rewritten);
        two that differ at an equal version are a conflict."""
        for sku in sorted(self.vacated):
            shadows = self._shadows_of(sku)
            held = self.table.get(sku)
            if not shadows:
                continue
            best = max((self.shadows[i] for i in shadows), key=lambda c: c.rank)
            if held is None:
                del self.shadows[best.ident]
                self.table[sku] = best
            elif best.rank > held.rank and best.line_hash != held.line_hash:
                if version_key(best.version) == version_key(held.version):
                    self.out.conflicts.append((best, held))
                del self.shadows[best.ident]
                self.shadows[held.ident] = held
                self.table[sku] = best
        self.vacated.clear()

    def plan(self) -> LinePlan:
        out = self.out
        for sku, copy in self.table.items():
            if self._before.get(sku) != copy:
                out.upsert.append(copy)
        out.delete = [sku for sku in self._before if sku not in self.table]
        out.add_shadows = [s for i, s in self.shadows.items() if i not in self._before_shadows]
        out.drop_shadows = [s for i, s in self._before_shadows.items() if i not in self.shadows]
        return out


def _meet(lines: _Lines, held: LineCopy, best: LineCopy, new: LineCopy) -> None:
    """A new copy of a line meets the live ones (``held`` in the table, ``best`` the best
    of all, with the same values as ``held``); the same source's earlier deliveries are
    already gone. Three cases:

    1. equal values: the table keeps its copy, the new one is shadowed (unchanged);
    2. different versions: the higher wins, the other is shadowed (stale, or superseded
       if this run wrote it);
    3. an equal version, different values: a conflict, won by the greater line hash.
    """
    if best.line_hash == new.line_hash:
        lines.shadow(new, Bucket.UNCHANGED)
        return
    ours, theirs = version_key(new.version), version_key(best.version)
    if ours != theirs:
        if ours > theirs:
            lines.take(held, new, Bucket.SUPERSEDED)
        else:
            lines.shadow(new, Bucket.STALE)
        return
    if new.line_hash > best.line_hash:
        lines.beat_equals(best, new)
        lines.take(held, new, Bucket.CONFLICT)
    else:
        lines.out.conflicts.append((best, new))
        lines.shadow(new, Bucket.CONFLICT)


def is_stale_version(stored: StoredDoc | None, version: Version) -> bool:
    """A strictly older version: known stale before a streamed document's hash is known."""
    return stored is not None and version_key(version) < version_key(stored.version)


@dataclass(slots=True)
class UnitStats:
    """What one unit's decode produced. ``records`` counts line rows (inventory items,
    ack lines, ASN lines) decoded; ``counts`` says where each went."""

    records: int = 0
    documents: int = 0
    stale_documents: int = 0
    counts: Counts = field(default_factory=Counts)
    conflicts: list[Conflict] = field(default_factory=list)


def loaded_record(unit: LoadUnit, stats: UnitStats) -> EndpointRecord:
    c = stats.counts
    return dataclasses.replace(
        unit.record,
        outcome=Outcome.LOADED,
        error_kind=None,
        error_message=None,
        permanent=False,
        bytes=unit.body.size,
        records=stats.records,
        documents=stats.documents,
        stale_documents=stats.stale_documents,
        records_loaded=c.loaded,
        records_unchanged=c.unchanged,
        records_stale=c.stale,
        records_superseded=c.superseded,
        records_conflict=c.conflict,
        conflicts=list(stats.conflicts),
    )


_KNOWN_LETTER: Final = " [same bytes as open dead letter "


def quarantined_record(
    unit: LoadUnit, error: PayloadError, known_letter: int | None = None
) -> EndpointRecord:
    """``known_letter``: the open dead letter that already holds these bytes (a sighting
    was added to it), named in the message so the ledger tells old breakage from new."""
    message = str(error)
    if known_letter is not None:
        message += f"{_KNOWN_LETTER}{known_letter}]"
    return dataclasses.replace(
        unit.record,
        outcome=Outcome.QUARANTINED,
        error_kind=error.kind,
        error_message=message,
        permanent=True,
        bytes=unit.body.size,
        records=0,
        documents=0,
        stale_documents=0,
        records_loaded=0,
        records_unchanged=0,
        records_stale=0,
        records_superseded=0,
        records_conflict=0,
        conflicts=[],
    )


def is_known_quarantine(record: EndpointRecord) -> bool:
    """A quarantine of bytes an open dead letter already held (see quarantined_record)."""
    return record.outcome is Outcome.QUARANTINED and _KNOWN_LETTER in (record.error_message or "")


def replay_unit(
    letter: DeadLetter,
    stored: EndpointRecord | None,
    documents: Callable[[Body], Iterator[Document]],
) -> LoadUnit:
    """The unit that re-loads a dead letter with its original provenance (run, URL,
    request id), keeping the rest of the endpoint's ledger row (attempts, timings)."""
    endpoint = Endpoint(
        letter.endpoint_key, letter.supplier_id, letter.kind, letter.format, letter.url
    )
    record = stored if stored is not None else EndpointRecord(endpoint, Outcome.QUARANTINED)
    record.endpoint = endpoint
    record.request_id = letter.request_id
    body = letter.body
    return LoadUnit(letter.run_id, record, body, lambda: documents(body))


# -- what the sinks share around the planner --------------------------------------------


def part_ident(key: tuple[str, ...], delivery: Delivery) -> tuple[str, str]:
    """The ``sf_documents`` identity of one source's part of a snapshot (from one page)."""
    return (DocKind.INVENTORY_SNAPSHOT.value, doc_key_text((*key, delivery.source, delivery.page)))


def line_copies(doc: InventorySnapshot, delivery: Delivery) -> list[LineCopy]:
    version = version_of(doc)
    out = []
    for item in doc.items:
        codes = codes_text(item.codes) if item.codes else None
        values = (item.on_hand, item.available, item.uom, codes)
        out.append(LineCopy(item.sku, values, delivery, version, line_hash(*values)))
    return out


def copy_row(key: tuple[str, ...], copy: LineCopy) -> Row:
    """The ``inventory_positions`` row of a copy (column order of the schema)."""
    d = copy.delivery
    return (*key, copy.sku, *copy.values, d.run_id, d.page, d.request_id, d.source, *copy.version)


def shadow_row(key: tuple[str, ...], copy: LineCopy) -> Row:
    return (*copy_row(key, copy), copy.line_hash)


def copy_from_row(row: Mapping[str, Any]) -> LineCopy:
    """A copy read back from ``inventory_positions`` or ``sf_inventory_shadows``."""
    values = (row["on_hand"], row["available"], row["uom"], row["codes"])
    delivery = Delivery(row["source"], row["source_url"], row["run_id"], row["request_id"])
    version = (row["issued_at"], row["control_number"])
    return LineCopy(row["sku"], values, delivery, version, line_hash(*values))


def line_conflicts(doc_key: str, pairs: Iterable[tuple[LineCopy, LineCopy]]) -> list[Conflict]:
    kind = DocKind.INVENTORY_SNAPSHOT.value
    return [
        Conflict(kind, doc_key, w.sku, w.delivery, list(w.values), lo.delivery, list(lo.values))
        for w, lo in pairs
    ]


def apply_recounts(
    recounts: Iterable[Recount], in_flight: Mapping[str | None, Counts]
) -> list[Recount]:
    """Move records between buckets: in the counts of a unit of this transaction (its
    ledger row is not written yet), else left for the sink's ledger update (returned)."""
    rest = []
    for r in recounts:
        counts = in_flight.get(r.request_id)
        if counts is not None:
            counts.move(r.to, r.n, r.source)
        elif r.request_id is not None:
            rest.append(r)
    return rest


def conflict_row(conflict: Conflict, run_id: str, detected_at: str) -> Row:
    """A ``sf_conflicts`` row without its id."""
    w, lo = conflict.winner, conflict.loser
    return (
        *(run_id, conflict.doc_type, conflict.doc_key, conflict.line_key),
        *(w.source, w.request_id, _json(conflict.winner_values)),
        *(lo.source, lo.request_id, _json(conflict.loser_values)),
        detected_at,
    )


def _json(value: Any) -> str:
    return msgspec.json.encode(value, order="sorted").decode()


def provenance(unit: LoadUnit) -> Provenance:
    endpoint = unit.record.endpoint
    return (unit.run_id, endpoint.url, unit.record.request_id, endpoint.source)


def line_count(doc: Document) -> int:
    return len(doc.items) if isinstance(doc, InventorySnapshot) else len(doc.lines)


def counts_of(record: EndpointRecord) -> Counts:
    r = record
    return Counts(
        r.records_loaded,
        r.records_unchanged,
        r.records_stale,
        r.records_superseded,
        r.records_conflict,
    )


def with_counts(record: EndpointRecord, c: Counts) -> EndpointRecord:
    return dataclasses.replace(
        record,
        records_loaded=c.loaded,
        records_unchanged=c.unchanged,
        records_stale=c.stale,
        records_superseded=c.superseded,
        records_conflict=c.conflict,
    )


def unique_skus(copies: list[LineCopy]) -> list[LineCopy]:
    """One snapshot document that names a SKU twice contradicts itself: the payload is
    quarantined (as a ship notice with one line number twice is, by the primary key),
    not resolved as a conflict between parts."""
    if len({c.sku for c in copies}) != len(copies):
        seen: set[str] = set()
        dup = next(c.sku for c in copies if c.sku in seen or _add(seen, c.sku))
        raise PayloadError(
            f"rows violate the table's constraints: duplicate key in inventory_positions "
            f"(sku {dup!r} twice in one snapshot)",
            kind="constraint",
        )
    return copies


def _add(seen: set[str], sku: str) -> bool:
    seen.add(sku)
    return False


def part_records(stored: StoredDoc | None, delivery: Delivery, n: int) -> int:
    """The records a part holds after ``n`` more: the same payload adds, another replaces."""
    if stored is None or stored.delivery is None:
        return n
    return n + stored.records if stored.delivery.request_id == delivery.request_id else n


def snapshot_of_part(doc_key: str) -> tuple[str, ...]:
    """The snapshot key (supplier, warehouse, as_of) of a part's ``sf_documents`` key."""
    return tuple(msgspec.json.decode(doc_key)[:3])


def final_record(
    unit: LoadUnit,
    outcome: UnitStats | PayloadError,
    quarantine: Callable[[LoadUnit, PayloadError], int | None],
) -> EndpointRecord:
    """The ledger row a unit ends with: loaded with its counts, or quarantined, its bytes
    stored by ``quarantine`` (which returns the open letter that already held them)."""
    if isinstance(outcome, PayloadError):
        return quarantined_record(unit, outcome, quarantine(unit, outcome))
    return loaded_record(unit, outcome)


def conflict_from_row(row: Mapping[str, Any]) -> Conflict:
    """A ``sf_conflicts`` row (values as JSON text, as both SQL sinks read them back)."""
    winner = Delivery(row["winner_source"], "", row["run_id"], row["winner_request_id"])
    loser = Delivery(row["loser_source"], "", row["run_id"], row["loser_request_id"])
    return Conflict(
        row["doc_type"],
        row["doc_key"],
        row["line_key"],
        winner,
        msgspec.json.decode(row["winner_values"]),
        loser,
        msgspec.json.decode(row["loser_values"]),
    )


def checkpoint_counts(in_flight: Mapping[str | None, Counts]) -> dict[str | None, Counts]:
    """A copy of a transaction's in-flight counts, to put back if a savepoint rolls back."""
    return {k: dataclasses.replace(c) for k, c in in_flight.items()}


def restore_counts(in_flight: dict[str | None, Counts], saved: Mapping[str | None, Counts]) -> None:
    """Put back what :func:`checkpoint_counts` took, in place (the units hold the objects)."""
    for key, counts in list(in_flight.items()):
        if key not in saved:
            del in_flight[key]
            continue
        for bucket in Bucket:
            setattr(counts, bucket.value, getattr(saved[key], bucket.value))
