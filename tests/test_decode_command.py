"""``supplyfeed decode``: kind from the envelope, one line for unsupported types, nothing
printed before a refused trailer, quiet on a closed pipe. Fixtures are written here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from supplyfeed._cli.main import main

_ISA = (
    "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       "
    "*260101*1200*U*00401*{ctrl}*0*P*>"
)
_ASN = [
    "BSN*00*ASN-{n}*20260105*083000*0001",
    "HL*1**S",
    "N1*ST*855 Harbor Road DC",  # "855" in a name, not an ST01
    "HL*2*1*I",
    "LIN*1*SK*SKU-{n}",
    "SN1**3*EA",
]


def _x12(set_id: str, bodies: list[list[str]], ctrl: str = "000000007", iea: str = "") -> bytes:
    out = [_ISA.format(ctrl=ctrl), "GS*SH*SENDER*RECEIVER*20260102*0930*1*X*004010"]
    for n, body in enumerate(bodies, 1):
        segs = [s.format(n=n) for s in body]
        out += [f"ST*{set_id}*{n:04d}", *segs, f"SE*{len(segs) + 2}*{n:04d}"]
    out += [f"GE*{len(bodies)}*1", f"IEA*1*{iea or ctrl}"]
    return ("~\n".join(out) + "~\n").encode()


def _cxml(payload: str) -> bytes:
    return (
        '<?xml version="1.0"?><cXML payloadID="p1" timestamp="2026-03-02T10:15:00Z">'
        f"<Header/><Request><{payload}/></Request></cXML>"
    ).encode()


def _decode(
    tmp_path: Path, data: bytes, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    path = tmp_path / "in.edi"
    path.write_bytes(data)
    code = main(["decode", str(path), "--supplier", "S1"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_an_856_naming_855_in_a_party_decodes_as_ship_notices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ST01 856 decides the kind, whatever the N1 name says: both ASNs come out once."""
    code, out, err = _decode(tmp_path, _x12("856", [_ASN, _ASN]), capsys)
    assert (code, err) == (0, "")
    docs = [json.loads(line) for line in out.splitlines()]
    assert sorted(d["asn_number"] for d in docs) == ["ASN-1", "ASN-2"]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (_x12("850", [["BEG*00*SA*PO-1**20260101"]]), "X12 transaction set 850 is not supported"),
        (_x12("940", [["W05*N*ORD-1"]]), "X12 transaction set 940 is not supported"),
        (
            b"UNB+UNOC:3+S+R+260301:0800+IC1'UNH+1+ORDERS:D:96A:UN'BGM+220+PO1+9'UNT+3+1'UNZ+1+IC1'",
            "EDIFACT message ORDERS is not supported",
        ),
        (
            b"UNB+UNOC:3+S+R+260301:0800+IC1'UNH+1+PAORES:D:96A:UN'BGM+1+X+9'UNT+3+1'UNZ+1+IC1'",
            "EDIFACT message PAORES is not supported",
        ),
        (_cxml("OrderRequest"), "cXML OrderRequest is not supported"),
    ],
)
def test_an_unsupported_type_exits_1_with_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, says: str
) -> None:
    """exit 1, one line: the type found and the types supported; no 'pass --kind'."""
    code, out, err = _decode(tmp_path, data, capsys)
    assert code == 1
    assert out == ""
    assert len(err.splitlines()) == 1
    assert says in err
    assert "(supported: " in err
    assert "--kind" not in err


def test_a_file_whose_kind_nothing_tells_asks_for_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """JSON without an envelope or a known field name: exit 2, one line asking for --kind."""
    code, out, err = _decode(tmp_path, b'{"foo": 1}', capsys)
    assert (code, out) == (2, "")
    assert err == "error: key 'kind': cannot tell the document kind from the file: pass --kind\n"


def test_a_trailer_mismatch_prints_no_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """IEA02 != ISA13: exit 1 and nothing on stdout, though both ASNs decoded first."""
    data = _x12("856", [_ASN, _ASN], ctrl="000000007", iea="000000008")
    code, out, err = _decode(tmp_path, data, capsys)
    assert code == 1
    assert out == ""
    assert "IEA" in err


@pytest.mark.slow  # a subprocess into a pipe
def test_decode_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """decode FILE | head -1 on many documents: no BrokenPipeError, no traceback, exit 0."""
    path = tmp_path / "many.edi"
    path.write_bytes(_x12("856", [_ASN] * 20000))
    cmd = [sys.executable, "-m", "supplyfeed", "decode", str(path)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()  # the reader goes away, as head does
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=120)
    assert json.loads(first)["asn_number"] == "ASN-1"
    assert err == ""
    assert code == 0
