"""``supplyfeed report --html``: a real run's page, rendered in headless Chromium.

One run of a simulated fleet with retries, failures and a dead letter (report_fleet.py),
through the CLI. The DOM Chromium built is read back and every attempt, host, supplier,
failure and dead letter of the ledger must be drawn once; the screenshot must show the
charts (their colours, many of them), not a blank page.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from supplyfeed._cli.main import main
from supplyfeed._formats.body import Body
from supplyfeed._models import DocKind
from supplyfeed._sink.base import DeadLetter, Endpoint, EndpointRecord, Outcome, RunRecord
from supplyfeed._telemetry.html_data import CATEGORIES, RunData, attempt_bars, by_host, in_flight
from supplyfeed._telemetry.html_report import render_html_report

from .chromium import WINDOW, dump_dom, require_chromium, screenshot
from .png import read_png
from .report_fleet import LIMIT_PER_HOST, ReportRun, make_report

pytestmark = pytest.mark.slow


class _Elements(HTMLParser):
    """Every start tag of a page with its attributes, the page's text, and the cells of
    each ``<table class="rows ...">`` body row."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.rows: dict[str, list[list[str]]] = {}
        self._table = ""
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        self.tags.append((tag, found))
        classes = found.get("class", "").split()
        if tag == "table" and classes[:1] == ["rows"]:
            self._table = classes[1]
        elif tag == "tr" and self._table:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row:
            self.rows.setdefault(self._table, []).append(self._row)
            self._row = None
        elif tag == "table":
            self._table = ""

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def having(self, tag: str, cls: str = "") -> list[dict[str, str]]:
        return [
            a for t, a in self.tags if t == tag and (not cls or cls in a.get("class", "").split())
        ]


def _parse(page: str) -> _Elements:
    parser = _Elements()
    parser.feed(page)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def report_run(tmp_path_factory: pytest.TempPathFactory) -> ReportRun:
    return asyncio.run(make_report(tmp_path_factory.mktemp("html-report")))


@pytest.fixture(scope="module")
def browser() -> str:
    return require_chromium()


@pytest.fixture(scope="module")
def dom(report_run: ReportRun, browser: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    return dump_dom(browser, report_run.html, tmp_path_factory.mktemp("chromium"))


def test_the_run_and_its_report_account_for_every_endpoint(report_run: ReportRun) -> None:
    """The fleet's run is what the page shows: its records against the ground truth
    (nothing lost, duplicated or unexpected), outcomes per URL as the truth says, and
    the terminal summary names the command that writes the HTML report."""
    run = report_run
    assert run.verdict.ok, run.verdict.summary()
    outcomes = {r.endpoint.url: r.outcome.value for r in run.records}
    assert outcomes == dict(run.truth.outcomes)
    assert run.truth.failed  # the page has failures to show
    assert run.truth.quarantined
    assert any(len(r.retry_history) > 1 for r in run.records)  # and retries
    (hint,) = [line for line in run.run_output.splitlines() if line.startswith("HTML report:")]
    assert f"--feeds {run.html.parent / 'feeds.yaml'}" in hint
    assert "--html run-" in hint
    assert run.report_code == 0, run.report_output
    assert run.html.stat().st_size > 0


def test_report_html_refuses_bad_use_with_one_line(
    report_run: ReportRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unwritable path exits 2 and an unknown run 1, each with one line on stderr and
    no traceback; --html with --json is a usage error (exit 2); no file is left."""
    page = tmp_path / "missing" / "run.html"
    cases = (
        (["report", "--db", report_run.db, "--html", str(page)], 2, "cannot write"),
        (["report", "nope", "--db", report_run.db, "--html", str(tmp_path / "x.html")], 1,
         "no record of run nope"),
    )  # fmt: skip
    for argv, code, message in cases:
        assert main(argv) == code, argv
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1, err
        assert message in err, err
    with pytest.raises(SystemExit) as usage:
        main(["report", "--db", report_run.db, "--json", "--html", str(tmp_path / "x.html")])
    assert usage.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_attempts_carry_their_start_in_the_ledger(report_run: ReportRun) -> None:
    """Each attempt records when it got its slot: a retry starts after the attempt before
    it ended plus its backoff, and every attempt ends within the request's time."""
    for r in report_run.records:
        previous_end = 0.0
        for a in r.retry_history:
            assert a["start"] >= previous_end - 1e-3, r.retry_history
            assert a["start"] + a["elapsed"] <= r.elapsed + 1e-3, (r.elapsed, r.retry_history)
            previous_end = a["start"] + a["elapsed"] + a["wait"]


def test_in_flight_drawn_from_the_ledger_is_what_the_run_measured(report_run: ReportRun) -> None:
    """Per host, the peak the chart draws (from the attempts' recorded starts) equals the
    peak the run's observer counted live, and reaches limit_per_host without passing it."""
    drawn = {h: max(n for _, n in in_flight(lane))
             for h, lane in by_host(attempt_bars(report_run.records)).items()}  # fmt: skip
    measured = {h: v["peak_in_use"] for h, v in report_run.report["hosts"].items()}
    assert drawn == measured
    assert max(drawn.values()) == LIMIT_PER_HOST
    assert report_run.report["limits"]["limit_per_host"] == LIMIT_PER_HOST


def test_chromium_dom_draws_every_attempt_host_supplier_failure_and_letter(
    report_run: ReportRun, dom: str
) -> None:
    """The DOM Chromium built: one bar per attempt in the ledger (retries marked), one lane
    and one in-flight chart per host, one histogram per supplier, every failed endpoint
    and every dead letter once; no script, nothing loaded from anywhere."""
    page = _parse(dom)
    records = report_run.records
    attempts = [a for r in records for a in r.retry_history]
    hosts = {urlsplit(r.endpoint.url).netloc for r in records if r.retry_history}
    suppliers = {r.endpoint.supplier_id for r in records if r.retry_history}
    for section in ("run-summary", "request-waterfall", "in-flight-per-host",
                    "latency-per-supplier", "failures-by-reason", "dead-letters"):  # fmt: skip
        assert any(a.get("id") == section for t, a in page.tags if t == "section"), section
    assert len(page.having("rect", "bar")) == len(attempts)
    hedges = [a for a in attempts if a.get("hedge")]
    assert len(page.having("rect", "retry")) == sum(a["attempt"] > 1 for a in attempts) - sum(
        a["attempt"] > 1 for a in hedges
    )
    assert len(page.having("rect", "hedge")) == len(hedges)
    assert {a["data-host"] for a in page.having("g", "host-lane")} == hosts
    labels = Counter(a.get("aria-label", "").split(" ")[0] for a in page.having("svg"))
    assert labels["in"] == len(hosts)
    assert labels["latency"] == len(suppliers)
    assert f"peak {LIMIT_PER_HOST} / limit {LIMIT_PER_HOST}" in "".join(page.text)
    assert len(page.having("line", "limit")) == len(hosts)
    failed = {u for u, o in report_run.truth.outcomes.items() if o != "loaded"}
    failure_urls = [row[0] for row in page.rows["failures"]]
    assert sorted(failure_urls) == sorted(failed)
    letter_urls = [row[5] for row in page.rows["dead-letters"]]
    assert sorted(letter_urls) == sorted(report_run.truth.quarantined)
    for tag in ("script", "link", "img", "iframe", "object"):
        assert not page.having(tag), tag
    assert not [a for _, a in page.tags if any(k.startswith("on") for k in a)]
    remote = [(t, k, v) for t, a in page.tags for k, v in a.items()
              if k != "xmlns" and v.startswith(("http:", "https:", "//"))]  # fmt: skip
    assert remote == []  # URLs appear as text only, never as something to load


def test_screenshot_shows_the_charts_not_a_blank_page(
    report_run: ReportRun, browser: str, tmp_path: Path
) -> None:
    """The rendered page: the window's size, mostly but not all white, hundreds of
    colours, and the outcome colours of the bars actually painted."""
    image = read_png(screenshot(browser, report_run.html, tmp_path / "shot.png", tmp_path))
    assert (image.width, image.height) == WINDOW
    colours = image.colours()
    pixels = image.width * image.height
    assert len(colours) > 100, len(colours)
    assert 0.03 < 1 - colours[(255, 255, 255)] / pixels < 0.9
    for category in ("ok", "server"):  # loaded bars and the 503s retried before them
        code = CATEGORIES[category]
        rgb = (int(code[1:3], 16), int(code[3:5], 16), int(code[5:7], 16))
        assert colours[rgb] > 50, (category, colours[rgb])


# -- a hostile supplier -------------------------------------------------------------------

_HOSTILE_URL = 'http://127.0.0.1:9/x?"><script>alert(1)</script>'
_HOSTILE_SUPPLIER = "<img src=x onerror=alert(2)>"
_HOSTILE_MESSAGE = "</td></tr></table><script>alert(3)</script><iframe src=http://127.0.0.1:9/>"


def _hostile_run() -> RunData:
    now = dt.datetime(2026, 5, 9, 13, 0, tzinfo=dt.UTC)
    endpoint = Endpoint(_HOSTILE_URL, _HOSTILE_SUPPLIER, DocKind.PO_ACK, "json", _HOSTILE_URL)
    history = [{"attempt": 1, "outcome": "payload<b>", "status": 200, "elapsed": 0.1,
                "wait": 0.0, "start": 0.0}]  # fmt: skip
    record = EndpointRecord(endpoint, Outcome.QUARANTINED, attempts=1, http_status=200,
                            error_kind="syntax", error_message=_HOSTILE_MESSAGE,
                            request_id="<rid>", started_at=now, retry_history=history)  # fmt: skip
    letter = DeadLetter(1, "run-1", _HOSTILE_URL, _HOSTILE_SUPPLIER, DocKind.PO_ACK, "json",
                        _HOSTILE_URL, "<rid>", "syntax", "<where>", _HOSTILE_MESSAGE, 3, "0" * 64,
                        now, None, Body.from_bytes(b"<x>"))  # fmt: skip
    summary = {"report": {"findings": [{"severity": "<b>", "message": _HOSTILE_MESSAGE}]}}
    run = RunRecord("run-1", now, "finished", now, "<feeds>", summary)
    return RunData(run, [record], [letter])


def _hostile_strings() -> Iterator[str]:
    yield from (_HOSTILE_URL, _HOSTILE_SUPPLIER, _HOSTILE_MESSAGE)


def test_supplier_text_is_escaped_everywhere() -> None:
    """A supplier's URL, id and error message are shown as text: no tag they carry gets
    into the page's markup."""
    page = render_html_report(_hostile_run())
    for tag in ("<script", "<img", "<iframe"):
        assert tag not in page.lower(), tag
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "payload&lt;b&gt;" in page  # an attempt outcome, in the bar's tooltip
    assert "&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;" in page
    assert "Content-Security-Policy" in page
    assert "default-src &#x27;none&#x27;" in page


def test_a_hedged_attempt_is_drawn_outlined_and_named_in_the_legend() -> None:
    """Both requests of a hedged attempt are drawn, the hedge outlined, neither joined as
    a retry; the legend names hedges only when there are some."""
    now = dt.datetime(2026, 5, 9, 13, 0, tzinfo=dt.UTC)
    url = "http://127.0.0.1:9/SUP/po-acks/1.json"
    history = [
        {"attempt": 1, "outcome": "lost", "status": None, "elapsed": 2.0, "wait": 0.0,
         "start": 0.0, "hedge": False, "won": False},
        {"attempt": 1, "outcome": "ok", "status": 200, "elapsed": 0.1, "wait": 0.0,
         "start": 0.5, "hedge": True, "won": True},
    ]  # fmt: skip
    endpoint = Endpoint(url, "SUP", DocKind.PO_ACK, "json", url)
    record = EndpointRecord(endpoint, Outcome.LOADED, attempts=1, http_status=200,
                            request_id="r1", started_at=now, retry_history=history)  # fmt: skip
    run = RunRecord("run-1", now, "finished", now, "feeds.yaml", {})
    page = _parse(render_html_report(RunData(run, [record], [])))
    bars = page.having("rect", "bar")
    assert [b["class"] for b in bars] == ["bar c-lost", "bar c-ok hedge"]
    assert page.having("i", "hedge")  # the legend's swatch
    plain = render_html_report(
        RunData(run, [dataclasses.replace(record, retry_history=history[:1])], [])
    )
    assert "swatch hedge" not in plain


def test_hostile_text_stays_text_in_chromium(browser: str, tmp_path: Path) -> None:
    """Rendered by Chromium, the hostile page has no script, image or frame element and
    shows each hostile string as text, whole."""
    path = tmp_path / "hostile.html"
    path.write_text(render_html_report(_hostile_run()), encoding="utf-8")
    page = _parse(dump_dom(browser, path, tmp_path))
    for tag in ("script", "img", "iframe"):
        assert not page.having(tag), tag
    text = "".join(page.text)
    for hostile in _hostile_strings():
        assert hostile in text, hostile
    assert len(page.having("table")) == 3  # summary, failures, dead letters: none broken
