"""The load semantics every sink must keep (docs/contract.md §5 and the sink base docstring)."""

from __future__ import annotations

import pytest

from supplyfeed import PayloadError
from supplyfeed._formats.body import Body
from supplyfeed._models import DocKind, Document, InventorySnapshot
from supplyfeed._sink.base import Outcome, Sink

from .helpers import (
    RUN,
    bad_payload,
    check_exactly,
    dump,
    endpoint,
    failing,
    po_ack,
    run_record,
    ship_notice,
    snapshot,
    unit,
)


async def test_reload_of_identical_documents_changes_nothing(sink: Sink) -> None:
    """A second load of the same documents leaves identical tables, provenance included."""
    docs: list[Document] = [snapshot("W01"), snapshot("W02"), po_ack(), ship_notice()]
    await sink.load([unit("e1", docs, run_id="run-1")])
    before = await dump(sink)
    [final] = await sink.load([unit("e1", docs, run_id="run-2", request_id="other")])
    assert await dump(sink) == before
    assert {r["run_id"] for r in before["inventory_positions"]} == {"run-1"}
    assert (final.outcome, final.documents, final.stale_documents) == (Outcome.LOADED, 4, 0)


async def test_every_row_carries_its_provenance(sink: Sink) -> None:
    """Each row names the run, URL and request id that brought it."""
    await sink.load([unit("e1", [po_ack()], request_id="req-9")])
    for table in ("po_acks", "po_ack_lines"):
        for row in await sink.table_rows(table):
            assert (row["run_id"], row["source_url"], row["request_id"]) == (
                RUN,
                "https://supplier.example/e1",
                "req-9",
            )


async def test_new_version_replaces_the_whole_document(sink: Sink) -> None:
    """Lines absent from the new version are deleted; the header is rewritten."""
    await sink.load([unit("e1", [po_ack((1, 2, 3), control="1")])])
    await sink.load([unit("e1", [po_ack((1, 4), control="2", qty=99)], run_id="run-2")])
    lines = await sink.table_rows("po_ack_lines")
    check_exactly(lines, ["1", "4"], field="line_number")
    assert {r["acked_qty"] for r in lines} == {99}
    assert {r["run_id"] for r in lines} == {"run-2"}


async def test_new_inventory_snapshot_for_the_same_instant_replaces_items(sink: Sink) -> None:
    """An inventory snapshot re-sent with other items replaces the items of that instant."""
    await sink.load([unit("e1", [snapshot(skus=range(5))])])
    await sink.load([unit("e1", [snapshot(skus=range(2), on_hand=100)])])
    rows = await sink.table_rows("inventory_positions")
    assert len(rows) in (2, 5)  # the tie-break by hash decides; order independence is below
    check_exactly(rows, [f"SKU-{i}" for i in range(len(rows))])


@pytest.mark.parametrize("order", ["old_first", "new_first"])
async def test_older_version_never_overwrites_newer(sink: Sink, order: str) -> None:
    """Out-of-order delivery: the higher (issued_at, control number) wins either way."""
    old, new = po_ack((1, 2, 3), control="9"), po_ack((1,), control="10", qty=1)
    first, second = (old, new) if order == "old_first" else (new, old)
    await sink.load([unit("e1", [first])])
    [final] = await sink.load([unit("e2", [second])])
    lines = await sink.table_rows("po_ack_lines")
    check_exactly(lines, ["1"], field="line_number")
    assert final.stale_documents == (1 if order == "new_first" else 0)


@pytest.mark.parametrize("order", ["a_first", "b_first"])
async def test_equal_versions_resolve_by_hash_independent_of_order(sink: Sink, order: str) -> None:
    """Two different ASNs with one version: the final state does not depend on order."""
    a, b = ship_notice((1, 2), carrier="UPS"), ship_notice((3,), carrier="DHL")
    first, second = (a, b) if order == "a_first" else (b, a)
    await sink.load([unit("e1", [first])])
    await sink.load([unit("e2", [second])])
    from supplyfeed._sink.schema import content_hash

    winner = a if content_hash(a) > content_hash(b) else b
    notices = await sink.table_rows("ship_notices")
    assert [n["carrier"] for n in notices] == [winner.carrier]
    lines = await sink.table_rows("ship_notice_lines")
    check_exactly(lines, [ln.line_seq for ln in winner.lines], field="line_seq")  # type: ignore[misc]


async def test_payload_error_quarantines_only_its_unit(sink: Sink) -> None:
    """A unit whose decoder fails half-way is rolled back whole; the others in the call load."""
    good1 = unit("e1", [snapshot("W01")])
    bad = unit("e2", failing([snapshot("W02"), snapshot("W03")], bad_payload()), body=b"bytes")
    good2 = unit("e3", [snapshot("W04")])
    finals = await sink.load([good1, bad, good2])
    assert [f.outcome for f in finals] == [Outcome.LOADED, Outcome.QUARANTINED, Outcome.LOADED]
    rows = await sink.table_rows("inventory_positions")
    assert sorted({r["warehouse_id"] for r in rows}) == ["W01", "W04"]
    check_exactly([r for r in rows if r["warehouse_id"] == "W01"], ["SKU-0", "SKU-1", "SKU-2"])
    [letter] = await sink.dead_letters()
    assert (letter.endpoint_key, letter.error_kind, letter.error_where) == (
        "e2",
        "syntax",
        "line 4",
    )
    assert (letter.run_id, letter.request_id, letter.url) == (
        RUN,
        bad.record.request_id,
        "https://supplier.example/e2",
    )
    assert letter.body.read() == b"bytes"
    assert finals[1].error_kind == "syntax"
    assert bad.record.outcome is Outcome.QUARANTINED


async def test_a_failed_replacement_keeps_the_previous_version(sink: Sink) -> None:
    """Rolling a unit back restores the document it had replaced, lines included."""
    await sink.load([unit("e1", [po_ack((1, 2), control="1")])])
    before = await dump(sink)
    await sink.load([unit("e1", failing([po_ack((5,), control="2")], bad_payload()))])
    assert await dump(sink) == before


async def test_decoder_bug_is_quarantined_with_its_traceback(sink: Sink) -> None:
    """Any other exception from a decoder quarantines the payload as decoder_bug."""
    [final] = await sink.load([unit("e1", failing([snapshot()], KeyError("sku")))])
    assert final.outcome is Outcome.QUARANTINED
    [letter] = await sink.dead_letters()
    assert letter.error_kind == "decoder_bug"
    assert "KeyError" in letter.error_message
    assert "helpers.py" in letter.error_message  # the traceback summary names the decoder
    assert await sink.table_rows("inventory_positions") == []


async def test_duplicate_line_key_in_one_document_is_quarantined(sink: Sink) -> None:
    """Two items with one SKU in one snapshot cannot both be stored: quarantine, not lose."""
    doc = snapshot(skus=[1, 1])
    [final] = await sink.load([unit("e1", [doc])])
    assert (final.outcome, final.error_kind) == (Outcome.QUARANTINED, "constraint")


async def test_replay_loads_a_dead_letter_with_its_original_provenance(sink: Sink) -> None:
    """Replay with a decoder that now works loads, resolves the letter and the ledger row."""
    await sink.start_run(run_record(), [endpoint("e1")])
    bad = unit("e1", failing([], bad_payload()), body=b"W09", request_id="req-orig")
    await sink.load([bad])
    [letter] = await sink.dead_letters()

    def decoder(body: Body) -> list[InventorySnapshot]:
        return [snapshot(body.read().decode())]

    final = await sink.replay(letter.id, lambda body: iter(decoder(body)))
    assert (final.outcome, final.records) == (Outcome.LOADED, 3)
    rows = await sink.table_rows("inventory_positions")
    assert {(r["warehouse_id"], r["run_id"], r["request_id"]) for r in rows} == {
        ("W09", RUN, "req-orig")
    }
    assert await sink.dead_letters() == []
    [resolved] = await sink.dead_letters(include_resolved=True)
    assert resolved.resolved_at is not None
    [ledger] = await sink.endpoints(RUN)
    assert ledger.outcome is Outcome.LOADED


async def test_replay_that_fails_again_keeps_the_letter_open(sink: Sink) -> None:
    """A replay whose decoder still fails re-raises and records the new error."""
    await sink.load([unit("e1", failing([], bad_payload()))])
    [letter] = await sink.dead_letters()
    error = PayloadError("still broken", where="byte 3", kind="validation")
    with pytest.raises(PayloadError, match="still broken"):
        await sink.replay(letter.id, lambda body: failing([snapshot()], error)())
    [still] = await sink.dead_letters()
    assert (still.error_kind, still.error_where, still.resolved_at) == (
        "validation",
        "byte 3",
        None,
    )
    assert await sink.table_rows("inventory_positions") == []


async def test_ledger_rows_follow_the_run(sink: Sink) -> None:
    """start_run writes pending rows, record() failures, load() loaded rows, idempotently."""
    eps = [endpoint("e1"), endpoint("e2"), endpoint("e3")]
    await sink.start_run(run_record(), eps)
    await sink.start_run(run_record(), eps)  # idempotent
    assert [e.outcome for e in await sink.endpoints(RUN)] == [Outcome.PENDING] * 3
    await sink.load([unit("e1", [snapshot()], body=b"12345")])
    [failed] = [e for e in await sink.endpoints(RUN) if e.endpoint.key == "e2"]
    failed.outcome, failed.error_kind, failed.http_status = Outcome.FAILED, "http_status", 404
    failed.permanent, failed.retry_history = True, [{"attempt": 1, "status": 404}]
    await sink.record([failed], RUN)
    await sink.start_run(run_record(), eps)  # a resume must not reset finished rows
    rows = {e.endpoint.key: e for e in await sink.endpoints(RUN)}
    assert [rows[k].outcome for k in ("e1", "e2", "e3")] == [
        Outcome.LOADED,
        Outcome.FAILED,
        Outcome.PENDING,
    ]
    assert (rows["e1"].records, rows["e1"].documents, rows["e1"].bytes) == (3, 1, 5)
    assert rows["e2"] == failed
    assert rows["e1"].endpoint.kind is DocKind.INVENTORY_SNAPSHOT


async def test_runs_are_started_finished_and_found(sink: Sink) -> None:
    """get_run() without an id is the latest run; finish_run stores status and summary."""
    await sink.start_run(run_record("r1"), [])
    await sink.start_run(run_record("r2"), [])
    await sink.finish_run("r1", "finished", {"loaded": 3})
    latest = await sink.get_run()
    assert latest is not None
    assert latest.run_id == "r2"
    r1 = await sink.get_run("r1")
    assert r1 is not None
    assert (r1.status, r1.summary, r1.finished_at is not None) == ("finished", {"loaded": 3}, True)
    assert await sink.get_run("nope") is None


async def test_streamed_snapshot_in_parts_is_one_document(sink: Sink) -> None:
    """Consecutive parts with one key form one document; reloading it changes nothing."""
    parts = [snapshot(skus=range(i * 100, (i + 1) * 100)) for i in range(10)]
    [final] = await sink.load([unit("e1", parts)])
    assert (final.documents, final.records) == (1, 1000)
    rows = await sink.table_rows("inventory_positions")
    check_exactly(rows, [f"SKU-{i}" for i in range(1000)])
    before = await dump(sink)
    await sink.load([unit("e1", parts, run_id="run-2")])
    assert await dump(sink) == before
    # The same snapshot streamed in other parts is the same content: still no change.
    whole = snapshot(skus=range(1000))
    await sink.load([unit("e1", [whole], run_id="run-3")])
    assert await dump(sink) == before


async def test_streamed_snapshot_replaced_by_a_smaller_one(sink: Sink) -> None:
    """A multi-part document replaces the stored one whole, or loses the hash tie-break
    whole: never a mix of both."""
    big = [snapshot(skus=range(i * 50, (i + 1) * 50)) for i in range(4)]
    small = [snapshot(skus=range(3), on_hand=1), snapshot(skus=range(3, 6), on_hand=1)]
    await sink.load([unit("e1", big)])
    await sink.load([unit("e2", small)])
    rows = await sink.table_rows("inventory_positions")
    assert len(rows) in (200, 6)
    check_exactly(rows, [f"SKU-{i}" for i in range(len(rows))])
    # Order independence: the other order gives the same table.
    await sink.load([unit("e3", big)])
    assert await sink.table_rows("inventory_positions") == rows


async def test_table_rows_rejects_unknown_tables(sink: Sink) -> None:
    """Only canonical tables can be listed (the name goes into SQL)."""
    from supplyfeed import SinkError

    with pytest.raises(SinkError, match="unknown table"):
        await sink.table_rows("sf_runs; DROP TABLE po_acks")


async def test_stream_failing_mid_document_loses_nothing_else(sink: Sink) -> None:
    """A decoder that fails in the middle of a streamed snapshot rolls back every part,
    and leaves the stored version and the other units untouched."""
    await sink.load([unit("e0", [snapshot(skus=range(4))])])
    before = await dump(sink)
    parts = [snapshot(skus=range(i * 10, i * 10 + 10), on_hand=9) for i in range(3)]
    finals = await sink.load(
        [unit("e1", failing(parts, bad_payload())), unit("e2", [snapshot("W02")])]
    )
    assert [f.outcome for f in finals] == [Outcome.QUARANTINED, Outcome.LOADED]
    after = await dump(sink)
    check_exactly(
        [r for r in after["inventory_positions"] if r["warehouse_id"] == "W01"],
        [f"SKU-{i}" for i in range(4)],
    )
    assert [r for r in after["inventory_positions"] if r["warehouse_id"] == "W01"] == before[
        "inventory_positions"
    ]


# -- many payloads in one load call (the SQLite batch path) ----------------------------------


async def test_one_call_sees_its_own_earlier_writes(sink: Sink) -> None:
    """A stored document replaced twice within one call ends as its newest version, with no
    line of the older versions left; an identical re-send in the same call is unchanged."""
    await sink.load([unit("e0", [po_ack((1, 2, 3), control="1")], kind=DocKind.PO_ACK)])
    v2 = po_ack((1, 2), control="2", qty=20)
    v3 = po_ack((4,), control="3", qty=30)
    finals = await sink.load(
        [
            unit("e1", [v2], kind=DocKind.PO_ACK),
            unit("e2", [v3], kind=DocKind.PO_ACK),
            unit("e3", [v2], kind=DocKind.PO_ACK),  # older than v3: stale
            unit("e4", [v3], kind=DocKind.PO_ACK),  # identical: unchanged
        ]
    )
    assert [f.outcome for f in finals] == [Outcome.LOADED] * 4
    assert [f.stale_documents for f in finals] == [0, 0, 1, 0]
    lines = await sink.table_rows("po_ack_lines")
    check_exactly(lines, ["4"], field="line_number")
    assert [(r["acked_qty"], r["request_id"]) for r in lines] == [(30, f"req-e2-{RUN}")]
    [header] = await sink.table_rows("po_acks")
    assert header["control_number"] == "3"


async def test_a_bad_row_in_a_batch_quarantines_only_its_payload(sink: Sink) -> None:
    """A duplicate line key among many good payloads: that payload alone is quarantined,
    every other one loads once, and what was stored before stays."""
    await sink.load([unit("e0", [snapshot("W00", skus=range(2))])])
    dup = InventorySnapshot(
        supplier_id="SUP", warehouse_id="W99", as_of=snapshot().as_of, items=snapshot().items * 2
    )
    payloads = [unit(f"g{i}", [snapshot(f"W{i + 1:02d}", skus=range(3))]) for i in range(5)]
    payloads.insert(2, unit("bad", [dup]))
    finals = await sink.load(payloads)
    outcomes = {f.endpoint.key: f.outcome for f in finals}
    assert outcomes.pop("bad") is Outcome.QUARANTINED
    assert set(outcomes.values()) == {Outcome.LOADED}
    rows = await sink.table_rows("inventory_positions")
    for i in range(5):
        mine = [r for r in rows if r["warehouse_id"] == f"W{i + 1:02d}"]
        check_exactly(mine, [f"SKU-{n}" for n in range(3)])
    assert {r["warehouse_id"] for r in rows} == {f"W{i:02d}" for i in range(6)}
    check_exactly([r for r in rows if r["warehouse_id"] == "W00"], ["SKU-0", "SKU-1"])
    [letter] = await sink.dead_letters()
    assert (letter.endpoint_key, letter.error_kind) == ("bad", "constraint")


async def test_a_batch_replacing_many_stored_documents_leaves_no_old_line(sink: Sink) -> None:
    """Many stored documents, each replaced by a newer, shorter version in one call (and
    some by two): exactly the newest lines remain."""

    def ack(n: int, lines: range, control: int) -> Document:
        doc = po_ack(lines, control=str(control), qty=control)
        doc.po_number = f"PO-{n}"
        return doc

    await sink.load([unit(f"e{n}", [ack(n, range(6), 1)], kind=DocKind.PO_ACK) for n in range(8)])
    newer = [unit(f"f{n}", [ack(n, range(n % 3), 2)], kind=DocKind.PO_ACK) for n in range(8)]
    newest = [unit(f"g{n}", [ack(n, range(1), 3)], kind=DocKind.PO_ACK) for n in range(0, 8, 2)]
    finals = await sink.load(newer + newest)
    assert {f.outcome for f in finals} == {Outcome.LOADED}
    lines = await sink.table_rows("po_ack_lines")
    for n in range(8):
        mine = [r for r in lines if r["po_number"] == f"PO-{n}"]
        want = range(1) if n % 2 == 0 else range(n % 3)
        check_exactly(mine, [str(i) for i in want], field="line_number")
        assert {r["acked_qty"] for r in mine} <= {3 if n % 2 == 0 else 2}


async def test_a_snapshot_replaced_twice_in_one_call_keeps_only_the_last(sink: Sink) -> None:
    """One source delivering three versions of its part (later fetches, one of them in
    the same call): the latest delivery replaces the part whole, lines that disappeared
    go, whatever the content hashes (docs/contract.md §6: the later fetch breaks a tie)."""
    first, second, third = (snapshot(skus=range(n * 10, n * 10 + 3)) for n in range(3))
    await sink.load([unit("e1", [first], request_id="r1")])
    finals = await sink.load(
        [unit("e1", [second], request_id="r2"), unit("e1", [third], request_id="r3")]
    )
    assert [f.stale_documents for f in finals] == [0, 0]
    rows = await sink.table_rows("inventory_positions")
    check_exactly(rows, [i.sku for i in third.items])
    assert {r["request_id"] for r in rows} == {"r3"}


async def test_parts_of_one_snapshot_from_three_sources_add_up(sink: Sink) -> None:
    """Three sources report one warehouse at one instant with disjoint SKUs: every item
    is kept (docs/contract.md §6: a snapshot is made of parts), none is stale."""
    parts = [snapshot(skus=range(n * 10, n * 10 + 3)) for n in range(3)]
    await sink.load([unit("e0", [parts[0]])])
    finals = await sink.load([unit("e1", [parts[1]]), unit("e2", [parts[2]])])
    assert [f.records_loaded for f in finals] == [3, 3]
    rows = await sink.table_rows("inventory_positions")
    check_exactly(rows, [i.sku for p in parts for i in p.items])


async def test_the_same_bytes_quarantined_again_are_one_letter_with_sightings(sink: Sink) -> None:
    """A supplier serving one broken file every run: the bytes are kept once, every run and
    request id that met them is listed, and the latest error replaces the first."""
    messages = []
    for run, where in (("run-1", "line 4"), ("run-2", "line 4"), ("run-3", "line 9")):
        bad = failing([], bad_payload(where))
        [final] = await sink.load([unit("e1", bad, body=b"b", run_id=run, request_id=f"q-{run}")])
        assert final.outcome is Outcome.QUARANTINED
        messages.append(final.error_message or "")
    await sink.load([unit("e1", failing([], bad_payload()), body=b"other bytes")])
    await sink.load([unit("e2", failing([], bad_payload()), body=b"b")])  # another endpoint
    letters = await sink.dead_letters()
    assert [(d.endpoint_key, d.body.read(), d.occurrences) for d in letters] == [
        ("e1", b"b", 3),
        ("e1", b"other bytes", 1),
        ("e2", b"b", 1),
    ]
    first = letters[0]
    assert (first.run_id, first.request_id, first.error_where) == ("run-1", "q-run-1", "line 9")
    assert [(s.run_id, s.request_id) for s in first.sightings] == [
        ("run-2", "q-run-2"),
        ("run-3", "q-run-3"),
    ]
    assert first.last_seen_at == first.sightings[-1].seen_at >= first.created_at
    # The ledger row of a later run says the breakage is not new.
    known = f"[same bytes as open dead letter {first.id}]"
    assert [known in m for m in messages] == [False, True, True]


async def test_bytes_met_again_after_a_replay_open_a_new_letter(sink: Sink) -> None:
    """A resolved letter stays resolved with its history; the same bytes failing again later
    (say, after a decoder change was rolled back) are a new open letter."""
    await sink.load([unit("e1", failing([], bad_payload()), body=b"W09", run_id="run-1")])
    await sink.load([unit("e1", failing([], bad_payload()), body=b"W09", run_id="run-2")])
    [letter] = await sink.dead_letters()
    await sink.replay(letter.id, lambda body: iter([snapshot(body.read().decode())]))
    await sink.load([unit("e1", failing([], bad_payload()), body=b"W09", run_id="run-3")])
    [reopened] = await sink.dead_letters()
    assert (reopened.run_id, reopened.occurrences, reopened.resolved_at) == ("run-3", 1, None)
    everything = await sink.dead_letters(include_resolved=True)
    assert [(d.run_id, d.occurrences, d.resolved_at is None) for d in everything] == [
        ("run-1", 2, False),
        ("run-3", 1, True),
    ]


async def test_trace_finds_what_one_request_id_brought(sink: Sink) -> None:
    """From a request id in a log line: its ledger rows, its dead letter (created by it or
    met again by it) and the rows it wrote."""
    await sink.start_run(run_record(), [endpoint("e1"), endpoint("e2")])
    await sink.load([unit("e1", [po_ack((1, 2, 3))], request_id="req-ok")])
    await sink.load([unit("e2", failing([], bad_payload()), body=b"x", request_id="req-bad")])
    again = unit("e2", failing([], bad_payload()), body=b"x", run_id="run-2", request_id="req-2")
    await sink.load([again])

    ok = await sink.trace("req-ok")
    assert [(run, r.endpoint.key, r.outcome) for run, r in ok.endpoints] == [
        (RUN, "e1", Outcome.LOADED)
    ]
    assert {t: n for t, n in ok.rows.items() if n} == {
        "po_acks": 1,
        "po_ack_lines": 3,
        "sf_documents": 1,
    }
    assert ok.dead_letters == []

    met_again = await sink.trace("req-2")
    assert [(run, r.outcome) for run, r in met_again.endpoints] == [("run-2", Outcome.QUARANTINED)]
    [letter] = met_again.dead_letters
    assert (letter.run_id, letter.request_id) == (RUN, "req-bad")
    assert [(s.run_id, s.request_id) for s in letter.sightings] == [("run-2", "req-2")]
    assert set(met_again.rows.values()) == {0}
    assert [d.id for d in (await sink.trace("req-bad")).dead_letters] == [letter.id]
    nobody = await sink.trace("no-such-request")
    assert not nobody.found
