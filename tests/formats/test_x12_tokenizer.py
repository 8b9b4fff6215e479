"""X12 tokenizer: delimiters read from the ISA by counting, and the layout quirks of the wild."""

from __future__ import annotations

import io

import pytest

from supplyfeed import PayloadError
from supplyfeed._formats.x12.tokenizer import (
    X12Delimiters,
    iter_pieces,
    iter_text_pieces,
    read_delimiters,
    segments_of,
    tokenize,
)

ISA = (
    "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       "
    "*260101*1200*U*00401*000000001*0*P*>~"
)
SHORT_ISA = "ISA*00* *00* *01*1 *01*2 *070101*1130*U*00200*000000001*0*P*@!"


def ids(segments: list[list[str]]) -> list[str]:
    return [seg[0] for seg in segments]


def test_standard_isa_gives_its_delimiters() -> None:
    """Element after ISA, ISA16 as component, the next character as terminator."""
    delims, start = read_delimiters(ISA + "GS*X~")
    assert delims == X12Delimiters("*", ">", "~", None)
    assert start == 0


def test_short_isa_is_read_by_counting_not_offsets() -> None:
    """An unpadded ISA (version 00200) still yields '@' and '!'."""
    delims, segments = tokenize((SHORT_ISA + "\nGS*SH*A!\nGE*0*1!\nIEA*1*000000001!\n").encode())
    assert (delims.component, delims.segment) == ("@", "!")
    assert ids(segments) == ["ISA", "GS", "GE", "IEA"]


def test_bom_crlf_and_indentation_are_noise() -> None:
    """A UTF-8 BOM, CRLF after terminators and leading indentation are skipped."""
    data = b"\xef\xbb\xbf" + (ISA + "\r\n  GS*PR*A~\r\n    ST*855*1~\r\n").encode()
    _, segments = tokenize(data)
    assert ids(segments) == ["ISA", "GS", "ST"]
    assert segments[2] == ["ST", "855", "1"]


def test_missing_final_terminator_keeps_last_segment() -> None:
    """The last segment counts even without its terminator."""
    _, segments = tokenize((ISA + "GS*PR*A~IEA*1*000000001").encode())
    assert segments[-1] == ["IEA", "1", "000000001"]


def test_newline_as_terminator() -> None:
    """ISA16 followed by LF makes LF the terminator."""
    text = ISA[:-1] + "\nGS*PR*A\nIEA*1*000000001"
    delims, segments = tokenize(text.encode())
    assert delims.segment == "\n"
    assert ids(segments) == ["ISA", "GS", "IEA"]


def test_crlf_after_newline_style_terminator_is_noise() -> None:
    """ISA16 followed by CR LF: CR terminates, the LF is noise."""
    text = ISA[:-1] + "\r\nGS*PR*A\r\nIEA*1*1\r\n"
    delims, segments = tokenize(text.encode())
    assert delims.segment == "\r"
    assert ids(segments) == ["ISA", "GS", "IEA"]


def test_multibyte_utf8_terminator() -> None:
    """A terminator that is 3 bytes of UTF-8 ('…') is one terminator, not 3 characters."""
    text = ISA[:-1] + "…\r\n  GS*SH*A…\r\n  IEA*1*000000001…"
    delims, segments = tokenize(text.encode("utf-8"))
    assert delims.segment.encode("latin-1").decode("utf-8") == "…"
    assert ids(segments) == ["ISA", "GS", "IEA"]
    assert segments[-1] == ["IEA", "1", "000000001"]


def test_cp1252_bytes_never_fail_to_decode() -> None:
    """Bytes that are not UTF-8 (cp1252 NEL terminator, é) tokenize as latin-1."""
    data = ISA[:-1].encode() + b"\x85GS*SH*Caf\xe9\x85IEA*1*1\x85"
    delims, segments = tokenize(data)
    assert delims.segment == "\x85"
    assert segments[1] == ["GS", "SH", "Caf\xe9"]


def test_repetition_separator_only_from_version_00402() -> None:
    """ISA11 is a repetition separator at 00402+, and never splits data such as '999-001'."""
    new = ISA.replace("*U*00401*", "*^*00403*")
    assert read_delimiters(new)[0].repetition == "^"
    old = ISA.replace("*U*00401*", "*-*00401*")
    assert read_delimiters(old)[0].repetition is None
    dash = ISA.replace("*U*00401*", "*-*00406*")
    _, segments = tokenize((dash + "REF*BM*999999-001~").encode())
    assert read_delimiters(dash)[0].repetition == "-"
    assert segments[1] == ["REF", "BM", "999999-001"]


def test_tilde_element_and_star_terminator_swap() -> None:
    """The reversed pair (element '~', terminator '*') works like any other."""
    text = ISA.replace("*", "~")[:-2] + "`*\r\n GS~SH~A*"
    delims, segments = tokenize(text.encode())
    assert (delims.element, delims.component, delims.segment) == ("~", "`", "*")
    assert segments[1] == ["GS", "SH", "A"]


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        (b"", "segment 1"),
        (b"GS*PR~", "segment 1"),
        (b"ISA*00*00~", "segment 1 (ISA)"),
        (b"ISAA00", "segment 1 (ISA)"),
        (ISA[:-2].encode(), "segment 1 (ISA)"),
    ],
)
def test_bad_isa_is_a_payload_error(payload: bytes, where: str) -> None:
    """No ISA, a short ISA, a letter separator or a missing terminator are named errors."""
    with pytest.raises(PayloadError) as info:
        tokenize(payload)
    assert info.value.where == where


def test_line_break_inside_a_segment_names_the_segment() -> None:
    """Segments merged by a foreign terminator ('~' in a '$' file) are rejected."""
    text = ISA.replace(">~", "{$") + "\nGS*SH*A$\nN1*SU*X~\n\nN3*MAIN ST~\nHL*2*1*O$\n"
    with pytest.raises(PayloadError) as info:
        tokenize(text.encode())
    assert info.value.where == "segment 3 (N1)"


def test_streaming_equals_whole_payload_at_any_chunk_size() -> None:
    """The chunked reader gives the same segments as the in-memory one."""
    body = "".join(f"  LIN**SK*S{n}…\r\n  QTY*17*{n}…\r\n" for n in range(200))
    data = (ISA[:-1] + "…\r\n" + body + "IEA*1*1").encode("utf-8")
    _, whole = tokenize(data)
    assert [s for c in iter_text_pieces(data)[1] for s in segments_of(c)] == whole
    for chunk in (1, 7, 64, 4096):
        _, chunks = iter_pieces(io.BytesIO(data), chunk_size=chunk)
        assert [s for c in chunks for s in segments_of(c)] == whole


def test_streaming_bounds_a_segment_without_terminator() -> None:
    """A stream that never terminates its segment fails instead of growing without end."""
    data = (ISA + "GS*" + "A" * 5000).encode()
    _, chunks = iter_pieces(io.BytesIO(data), chunk_size=512, max_segment=1024)
    with pytest.raises(PayloadError, match="no segment terminator"):
        list(chunks)
