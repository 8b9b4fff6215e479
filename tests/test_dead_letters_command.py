"""``dead-letters``: one line a letter at 120 columns with the request id whole,
``dead-letters show ID`` for one letter in full, ``--raw`` for its bytes exactly."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from supplyfeed._cli.main import main
from supplyfeed._models import Document
from supplyfeed._sink.semantics import DEAD_LETTER_INLINE_MAX
from supplyfeed._sink.sqlite import SqliteSink

from .cli_terminal import on_terminal
from .reliability.checker import cli
from .sink.helpers import bad_payload, run_record, unit

pytestmark = pytest.mark.slow  # whole runs through the CLI

# Not UTF-8, with NUL, CR and LF: a text round trip would change them.
_BINARY = bytes(range(256)) * 4 + b"\r\n\x00\xff"
_BIG = (b"\x00\xfe<Stock>" * (DEAD_LETTER_INLINE_MAX // 8 + 1))[: DEAD_LETTER_INLINE_MAX + 9]
_LONG = "/" + "deep/" * 30 + "stock.xml"  # the URL a letter's row used to wrap over


def _broken() -> Iterator[Document]:
    raise bad_payload("$.items[3].sku")
    yield  # a generator: the sink iterates it


async def _quarantine(url: str, bodies: dict[str, bytes]) -> None:
    first = 0xA1B2C3D4E5F60000  # 16 hex digits, as the fetch engine makes them
    units = [
        unit(f"ep-{name}{_LONG}", _broken, body=body, request_id=f"{first + i:016x}")
        for i, (name, body) in enumerate(bodies.items())
    ]
    async with SqliteSink(url) as sink:
        await sink.start_run(run_record(), [u.record.endpoint for u in units])
        await sink.load(units)


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'dl.db'}"
    bodies = {"binary": _BINARY, "big": _BIG, **{f"n{i}": b"x" * i for i in range(1, 5)}}
    asyncio.run(_quarantine(url, bodies))
    return url


def _listed(db: str, capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    assert main(["dead-letters", "--db", db, "--json"]) == 0
    letters = json.loads(capsys.readouterr().out)
    assert isinstance(letters, list)
    return letters


@pytest.mark.parametrize("columns", [120, 60])
async def test_compact_view_is_one_line_a_letter_at_120_columns(db: str, columns: int) -> None:
    """On a 120-column terminal: every letter on exactly one line that holds its id,
    its whole request id, and nothing wider than the window. At 60 columns the lines
    stay whole too: only the URL is cut."""
    code, screen = await on_terminal("dead-letters", "--db", db, columns=columns)
    assert code == 0, screen
    lines = [ln for ln in screen.splitlines() if ln.strip()]
    if columns == 120:
        assert max(len(ln) for ln in lines) <= 120, screen
    sink = SqliteSink(db, lock=False)
    await sink.open()
    try:
        letters = await sink.dead_letters()
    finally:
        await sink.close()
    assert len(letters) == 6
    for d in letters:
        assert d.request_id is not None
        holding = [ln for ln in lines if d.request_id in ln]
        assert len(holding) == 1, (d.request_id, screen)
        assert holding[0].split()[0] == str(d.id), holding[0]
    rows = [ln for ln in lines if any(d.request_id and d.request_id in ln for d in letters)]
    assert len(rows) == len(letters)  # no continuation lines: each letter is one row


def test_show_prints_one_letter_in_full(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """show ID: every field whole (the long URL, the message, where, size, sha256);
    show ID --json is the letter as dead-letters --json lists it."""
    letters = _listed(db, capsys)
    first = letters[0]
    assert main(["dead-letters", "show", str(first["id"]), "--db", db]) == 0
    text = capsys.readouterr().out
    for value in ("url", "request_id", "run_id", "sha256", "error_message", "error_where"):
        assert str(first[value]) in text, (value, text)
    assert f"{first['size']:,} bytes" in text
    assert main(["dead-letters", "--db", db, "show", str(first["id"]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == first


@pytest.mark.parametrize(("which", "body"), [(0, _BINARY), (1, _BIG)])
async def test_raw_writes_the_payload_bytes_exactly(db: str, which: int, body: bytes) -> None:
    """--raw: the stored bytes on stdout, byte for byte: a non-UTF-8 inline letter and a
    letter over 1 MiB kept in the spool folder."""
    sink = SqliteSink(db, lock=False)
    await sink.open()
    try:
        letter = (await sink.dead_letters())[which]
    finally:
        await sink.close()
    proc = await cli("dead-letters", "show", str(letter.id), "--raw", "--db", db)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err
    assert out == body
    assert hashlib.sha256(out).hexdigest() == letter.sha256


def test_show_of_an_unknown_id_is_an_error(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """No such letter: exit 1 and one line naming the id, nothing on stdout."""
    assert main(["dead-letters", "show", "999", "--db", db]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == f"error: no dead letter 999 in {db}"
