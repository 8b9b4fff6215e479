"""The safe XML event source: no DTD, no entities, no network, typed errors, bounded trees."""

from __future__ import annotations

import concurrent.futures
import http.server
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from supplyfeed import PayloadError
from supplyfeed._formats.safe_xml import iterparse, parts_by_key

CXML_DOCTYPE = b'<!DOCTYPE cXML SYSTEM "http://xml.cxml.org/schemas/cXML/1.2.014/cXML.dtd">'


def events(data: bytes, chunk_size: int = 65536) -> list[tuple[str, str, str | None]]:
    return [
        (event, elem.tag, elem.text)
        for event, elem in iterparse(io.BytesIO(data), chunk_size=chunk_size)
    ]


def parse_error(data: bytes, timeout: float = 5.0) -> PayloadError:
    """Parse in a worker so that a hang fails the test instead of stalling the run."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(events, data)
        with pytest.raises(PayloadError) as info:
            future.result(timeout=timeout)
    return info.value


def test_start_and_end_events_in_document_order() -> None:
    """Events come in document order with tags, text and attributes as written."""
    data = b'<a x="1"><b>t &amp; u</b><c/></a>'
    assert [(e, t) for e, t, _ in events(data)] == [
        ("start", "a"),
        ("start", "b"),
        ("end", "b"),
        ("start", "c"),
        ("end", "c"),
        ("end", "a"),
    ]
    assert ("end", "b", "t & u") in events(data)


def test_tiny_chunks_give_the_same_events() -> None:
    """Reading one byte at a time changes nothing but speed."""
    data = '<?xml version="1.0"?><r><i n="é">x&lt;y</i><i>ünï</i></r>'.encode()

    def ends(chunk_size: int) -> list[tuple[str, str, str | None]]:
        # Text is complete at "end" events only (at "start" it depends on the chunking).
        return [e for e in events(data, chunk_size) if e[0] == "end"]

    assert ends(1) == ends(65536)
    assert ends(1)[0] == ("end", "i", "x<y")


def test_external_doctype_is_accepted_and_ignored() -> None:
    """cXML's DOCTYPE SYSTEM line is allowed; nothing in it is needed to parse."""
    data = b'<?xml version="1.0"?>' + CXML_DOCTYPE + b"<cXML><Header/></cXML>"
    assert [t for _, t, _ in events(data)] == ["cXML", "Header", "Header", "cXML"]


class _CountingHandler(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        body = b'<!ENTITY leak "fetched">'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        del format, args


@pytest.fixture
def dtd_server() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _CountingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/cXML.dtd"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_external_dtd_is_never_fetched(dtd_server: str) -> None:
    """A DOCTYPE pointing at a live local server makes no request."""
    _CountingHandler.hits = 0
    data = f'<!DOCTYPE r SYSTEM "{dtd_server}"><r>ok</r>'.encode()
    assert events(data)[-1] == ("end", "r", "ok")
    assert _CountingHandler.hits == 0


def test_entity_from_external_dtd_is_not_resolved(dtd_server: str) -> None:
    """An entity that only the (unfetched) DTD defines is an error, never a fetch."""
    _CountingHandler.hits = 0
    error = parse_error(f'<!DOCTYPE r SYSTEM "{dtd_server}"><r>&leak;</r>'.encode())
    assert error.kind == "syntax"
    assert _CountingHandler.hits == 0


def test_xxe_file_entity_is_refused_and_never_read(tmp_path: Path) -> None:
    """An external entity naming a real file is refused; its content appears nowhere."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    data = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]><r>&xxe;</r>'
    ).encode()
    error = parse_error(data)
    assert error.kind == "unsafe_xml"
    assert "TOP-SECRET" not in str(error)


def test_parameter_entity_is_refused(tmp_path: Path) -> None:
    """Parameter entities (the out-of-band XXE vector) are refused too."""
    data = f'<!DOCTYPE r [<!ENTITY % p SYSTEM "{tmp_path.as_uri()}/x.dtd"> %p;]><r/>'.encode()
    assert parse_error(data).kind == "unsafe_xml"


def test_billion_laughs_fails_fast() -> None:
    """Nested entity expansion is refused at the first declaration, in well under a second."""
    decls = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    ]
    data = f"<!DOCTYPE lolz [{''.join(decls)}]><lolz>&lol9;</lolz>".encode()
    started = time.monotonic()
    error = parse_error(data)
    assert error.kind == "unsafe_xml"
    assert time.monotonic() - started < 1.0


def test_internal_entity_declaration_is_refused() -> None:
    """Even a harmless internal entity is refused: no entity is ever expanded."""
    assert parse_error(b'<!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>').kind == "unsafe_xml"


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b"<a><b></a>", "line 1, column 9"),
        (b"<a>\n  <b x=1/>\n</a>", "line 2, column 8"),
        (b"", "line 1, column 1"),
        (b"<a>", "line 1, column 4"),
        (b"<a>\xff</a>", "line 1, column 4"),
    ],
)
def test_malformed_xml_names_line_and_column(data: bytes, where: str) -> None:
    """Malformed XML is a syntax PayloadError at 'line L, column C'."""
    error = parse_error(data)
    assert error.kind == "syntax"
    assert error.where == where


def test_released_records_do_not_accumulate() -> None:
    """Releasing each record keeps the root childless however many records pass."""
    data = b"<r>" + b"<i><v>1</v></i>" * 5000 + b"</r>"
    reader = iterparse(io.BytesIO(data), chunk_size=256)
    largest = 0
    for event, elem in reader:
        if event == "end" and elem.tag == "i":
            reader.release(elem)
            assert reader.root is not None
            largest = max(largest, len(reader.root))
    assert reader.root is not None
    assert len(reader.root) == 0
    assert largest < 50  # at most a chunk's worth awaits its turn


def _numbered(pairs: list[tuple[str, int]]) -> list[tuple[str, list[int]]]:
    return list(parts_by_key(lambda: iter(pairs), spooled=True, max_items=2))


def test_parts_keep_each_key_together_when_streamed() -> None:
    """Interleaved keys of a spooled payload still come out as consecutive parts."""
    pairs = [("a", 1), ("b", 2), ("a", 3), ("b", 4), ("a", 5)]
    assert _numbered(pairs) == [("a", [1, 3]), ("a", [5]), ("b", [2, 4])]
    in_memory = list(parts_by_key(lambda: iter(pairs), spooled=False, max_items=2))
    assert in_memory == [("a", [1, 3]), ("a", [5]), ("b", [2, 4])]


def test_contiguous_keys_stream_in_one_pass_each() -> None:
    """Already grouped records are split into parts of at most max_items, in order."""
    pairs = [("a", 1), ("a", 2), ("a", 3), ("b", 4)]
    assert _numbered(pairs) == [("a", [1, 2]), ("a", [3]), ("b", [4])]
