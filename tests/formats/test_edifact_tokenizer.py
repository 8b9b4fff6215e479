"""The EDIFACT tokenizer: service characters, release character, noise, charsets, streaming."""

from __future__ import annotations

import io

import pytest

from supplyfeed import PayloadError
from supplyfeed._formats.edifact.tokenizer import (
    DEFAULT_DELIMITERS,
    EdifactDelimiters,
    Segment,
    SegmentReader,
    tokenize,
)

SIMPLE = b"UNB+UNOC:3+S+R+260101:1200+7'UNH+1+INVRPT:D:96A:UN'BGM+35+X'UNT+3+1'UNZ+1+7'"


def _values(segments: list[Segment]) -> list[tuple[str, list[list[str]]]]:
    return [(s.tag, s.elements) for s in segments]


def test_defaults_apply_without_una() -> None:
    """Without UNA the ISO 9735 defaults are used and UNB is segment 1."""
    reader = SegmentReader(SIMPLE)
    segments = list(reader)
    assert reader.delimiters == DEFAULT_DELIMITERS
    assert not reader.has_una
    assert segments[0].tag == "UNB"
    assert segments[0].index == 1
    assert segments[0].elements[0] == ["UNOC", "3"]
    assert segments[-1].where == "segment 5 (UNZ)"


def test_una_is_counted_as_segment_one() -> None:
    """With UNA, positions match the lines of a one-segment-per-line file."""
    segments = tokenize(b"UNA:+.? '\n" + SIMPLE.replace(b"'", b"'\n"))
    assert [s.index for s in segments] == [2, 3, 4, 5, 6]


def test_custom_una_delimiters() -> None:
    """UNA can redefine every service character."""
    data = b"UNA^|,! ~UNB|UNOC^3|S|R|260101^1200|7~QTY|145^1,5~"
    reader = SegmentReader(data)
    assert reader.delimiters == EdifactDelimiters("^", "|", ",", "!", " ", "~")
    assert _values(list(reader))[1] == ("QTY", [["145", "1,5"]])


def test_space_release_position_means_no_release_character() -> None:
    """A space in UNA's release position disables release handling: '?' is data."""
    segments = tokenize(b"UNA:+.  'UNB+UNOC:3+S+R+1+1'FTX+A?'")
    assert segments[-1].elements == [["A?"]]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"IFT+3+END??'", [["3"], ["END?"]]),
        (b"IFT+3+A ?' B'", [["3"], ["A ' B"]]),
        (b"IFT+3+A ?? B'", [["3"], ["A ? B"]]),
        (b"IFT+3+A ???' B'", [["3"], ["A ?' B"]]),
        (b"IFT+3+F1?+F2'", [["3"], ["F1+F2"]]),
        (b"IFT+3+F1??+F2'", [["3"], ["F1?"], ["F2"]]),
        (b"IFT+3+F1???+F2'", [["3"], ["F1?+F2"]]),
        (b"IFT+3+A?:B'", [["3"], ["A:B"]]),
        (b"IFT+3+A??:B'", [["3"], ["A?", "B"]]),
        (b"IFT+3+A???:B'", [["3"], ["A?:B"]]),
        (b"IFT+3+????'", [["3"], ["??"]]),
    ],
)
def test_release_character_is_applied_in_one_pass(raw: bytes, expected: list[list[str]]) -> None:
    """An odd run of '?' escapes the next character; an even run is literal '?'s."""
    segments = tokenize(b"UNB+UNOC:3+S+R+1+1'" + raw)
    assert segments[-1].elements == expected


def test_dangling_release_character_is_a_payload_error() -> None:
    """A release character with nothing after it cannot be read."""
    with pytest.raises(PayloadError) as info:
        tokenize(b"UNB+UNOC:3+S+R+1+1'FTX+A?")
    assert "release" in info.value.message


def test_whole_interchange_on_one_line_and_crlf_indentation_noise() -> None:
    """Line breaks and indentation between segments are ignored; one-line files work."""
    noisy = b"\xef\xbb\xbf\r\n  " + SIMPLE.replace(b"'", b"'\r\n\t  ")
    assert _values(tokenize(noisy)) == _values(tokenize(SIMPLE))


def test_unoc_is_latin1_and_unoy_is_utf8() -> None:
    """The UNB syntax identifier picks the codec for the values."""
    latin = tokenize(b"UNB+UNOC:3+S+R+1+1'FTX+Caf\xe9'")
    assert latin[-1].value(1) == "Café"
    utf8 = tokenize("UNB+UNOY:4+S+R+1+1'FTX+Café ☃'".encode())
    assert utf8[-1].value(1) == "Café ☃"


def test_invalid_utf8_under_unoy_names_the_byte() -> None:
    """Bytes the declared charset cannot decode give a charset error at their offset."""
    data = b"UNB+UNOY:4+S+R+1+1'FTX+\xff'"
    with pytest.raises(PayloadError) as info:
        tokenize(data)
    assert info.value.kind == "charset"
    assert info.value.where == f"byte {data.index(0xFF)}"


def test_unknown_syntax_identifier_reads_latin1_with_warning() -> None:
    """An unknown syntax (IATA's IATB) is read as latin-1 and reported."""
    reader = SegmentReader(b"UNB+IATB:1+S+R+1+1'FTX+\xe9'")
    assert list(reader)[-1].value(1) == "é"
    assert "IATB" in reader.warnings[0]


def test_ascii_syntax_with_8bit_bytes_warns() -> None:
    """UNOA/UNOB bodies with stray 8-bit bytes are kept, with a warning."""
    reader = SegmentReader(b"UNB+UNOA:2+S+R+1+1'FTX+\xe9'")
    assert list(reader)[-1].value(1) == "é"
    assert reader.warnings


def test_streaming_reader_handles_release_and_utf8_across_chunk_boundaries() -> None:
    """Tiny chunks split '?\\'' pairs and multi-byte characters; the segments are the same."""
    data = "UNB+UNOY:4+S+R+1+1'FTX+é?'x??+€'FTX+???''".encode()
    expected = _values(tokenize(data))
    for size in (1, 2, 3, 5, 7):
        assert _values(list(SegmentReader(io.BytesIO(data), chunk_size=size))) == expected


def test_segment_without_terminator_is_bounded() -> None:
    """A body with no terminator stops at the segment size limit instead of growing."""
    stream = io.BytesIO(b"UNB+UNOC:3+S+R+1+1'FTX+" + b"A" * 10_000)
    with pytest.raises(PayloadError, match="longer than"):
        list(SegmentReader(stream, chunk_size=256, max_segment_chars=1000))


def test_bad_tag_is_a_syntax_error_naming_the_segment() -> None:
    """Junk where a tag should be is rejected with its position."""
    with pytest.raises(PayloadError) as info:
        tokenize(b"UNB+UNOC:3+S+R+1+1'<html>'")
    assert info.value.where == "segment 2"


def test_unusable_una_is_rejected() -> None:
    """A UNA that reuses a character for two separators cannot be tokenized."""
    with pytest.raises(PayloadError) as info:
        SegmentReader(b"UNA++.? 'UNB+UNOC:3'")
    assert info.value.where == "segment 1 (UNA)"


def test_last_segment_without_terminator_is_read_with_warning() -> None:
    """A final segment missing its terminator is still read, and reported."""
    reader = SegmentReader(b"UNB+UNOC:3+S+R+1+1'UNZ+0+1\r\n")
    assert list(reader)[-1].elements == [["0"], ["1"]]
    assert reader.warnings == ["the last segment has no terminator"]
