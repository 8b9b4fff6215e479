"""Bad input in a feeds file or its sink URL: exit 2, one line with file:line and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supplyfeed._cli.main import main
from supplyfeed._exceptions import ConfigError
from supplyfeed._feedsfile import (
    _URL_SCHEMES,
    _parsed_url_problem,
    _plain_url_ok,
    load_feeds_file,
)

_FEED = "      - {{kind: inventory_snapshot, format: json, urls: [{url!r}]}}\n"


def _feeds(tmp_path: Path, url: str = "http://127.0.0.1:9/x", head: str = "") -> Path:
    path = tmp_path / "feeds.yaml"
    text = f"{head}suppliers:\n  - id: acme\n    feeds:\n" + _FEED.format(url=url)
    path.write_text(text, encoding="utf-8")
    return path


def _run(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["run", str(path)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://127.0.0.1:99999/x", "Port out of range"),
        ("http://127.0.0.1:0/x", "port 0 is out of range"),
        ("http:/host/x", "no host in http URL"),
        ("https:///x", "no host in https URL"),
        ("sftp:///out/*.edi", "no host in sftp URL"),
        ("ftp://127.0.0.1/x", "unsupported URL scheme 'ftp'"),
        ("http://[::1/x", "not a valid URL"),
    ],
)
def test_a_bad_feed_url_exits_2_naming_line_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, says: str
) -> None:
    """A URL aiohttp would refuse (or cannot connect to) is refused when the file loads."""
    path = _feeds(tmp_path, url, head=f"sink: sqlite:///{tmp_path}/x.db\n")
    code, err = _run(path, capsys)
    assert code == 2
    assert f"{path}:5: key 'suppliers[0].feeds[0].urls[0]'" in err
    assert says in err
    assert not (tmp_path / "x.db").exists()  # nothing ran


def test_a_bad_oauth_token_url_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """auth.token_url gets the same check as a feed URL."""
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "suppliers:\n  - id: acme\n    auth:\n      type: oauth2\n"
        "      token_url: https://127.0.0.1:70000/token\n"
        "      client_id: c\n      client_secret: ${SECRET_X}\n"
        "    feeds:\n" + _FEED.format(url="https://127.0.0.1:9/x"),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_feeds_file(path, env={"SECRET_X": "s3cr3t-value"})
    assert "auth.token_url" in str(info.value)
    assert f"{path}:5" in str(info.value)
    assert "Port out of range" in str(info.value)


def test_good_urls_still_load(tmp_path: Path) -> None:
    """http(s) with a port, sftp globs and file:// (no host) pass the check."""
    for url in ("https://127.0.0.1:8443/x?p=1", "sftp://127.0.0.1/out/*.edi", "file:///in/*.x"):
        feeds = load_feeds_file(_feeds(tmp_path, url), env={})
        assert feeds.suppliers[0].feeds[0].urls == (url,)


def test_a_feeds_file_not_in_utf8_names_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Latin-1 byte on line 3 gives exit 2 with file:3, not a UnicodeDecodeError."""
    path = tmp_path / "feeds.yaml"
    path.write_bytes(b"# suppliers\n# of acme\nsuppliers: [] # caf\xe9\n")
    code, err = _run(path, capsys)
    assert code == 2
    assert f"{path}:3: not UTF-8: byte 0xe9" in err


def test_a_sqlite_sink_in_a_missing_folder_names_the_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """sqlite:///missing/dir/x.db exits 2 naming missing/dir, before anything runs."""
    missing = tmp_path / "missing" / "dir"
    path = _feeds(tmp_path, head=f"sink: sqlite:///{missing}/x.db\n")
    code, err = _run(path, capsys)
    assert code == 2
    assert f"folder of the SQLite database {missing}/ does not exist" in err
    assert not (tmp_path / "missing").exists()


def test_an_empty_env_variable_is_refused_like_an_unset_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bearer ${TOKEN} with TOKEN="" exits 2 naming the variable, file:line and key."""
    path = tmp_path / "feeds.yaml"
    path.write_text(
        'suppliers:\n  - id: acme\n    headers: {Authorization: "Bearer ${SF_EMPTY_TOKEN}"}\n'
        "    feeds:\n" + _FEED.format(url="http://127.0.0.1:9/x"),
        encoding="utf-8",
    )
    monkeypatch.setenv("SF_EMPTY_TOKEN", "")  # the process environment, not our internals
    code, err = _run(path, capsys)
    assert code == 2
    assert f"{path}:3: key 'suppliers[0].headers.Authorization'" in err
    assert "environment variable SF_EMPTY_TOKEN is empty" in err


# -- the plain-URL fast path (issue 17: a 2,000-endpoint file loads in 10 ms, not 28) ------

_PIECES = st.lists(
    st.sampled_from(["http", "https", "HTTP", "ftp", "sftp", "file", ":", "//", "/", ":/", "@",
                     "?", "#", "%", "%2e", ".", "..", "-", "_", "~", "[", "]", "::1", "a", "Z",
                     "0", "9", "127.0.0.1", "host", "xn--bcher-kva", ":0", ":80", ":65535",
                     ":65536", ":99999", ":00080", " ", "\\", "é", "\t"]),
    min_size=1, max_size=12,
)  # fmt: skip


@pytest.mark.slow
@settings(max_examples=3000, deadline=None)
@given(_PIECES)
def test_a_url_the_fast_path_passes_is_one_yarl_passes(pieces: list[str]) -> None:
    url = "".join(pieces)
    if _plain_url_ok(url, _URL_SCHEMES):
        assert _parsed_url_problem(url, _URL_SCHEMES) is None, url


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:46707/SUP001/asn/00730.json", "https://edi.example-supplier.com/v2/asn",
     "HTTPS://Host.Example:443/", "http://host", "http://a-b.cd.example/~x/y_z.1-2"],
)  # fmt: skip
def test_plain_urls_take_the_fast_path_and_yarl_agrees(url: str) -> None:
    assert _plain_url_ok(url, _URL_SCHEMES)
    assert _parsed_url_problem(url, _URL_SCHEMES) is None


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:0/x", "http://127.0.0.1:99999/x", "http://u:p@host/x", "http://host/x?a=1",
     "http://host/x#f", "http://host/%41", "http://a..b/x", "http:/host/x", "ftp://host/x",
     "http://[::1]/x", "sftp://host/x"],
)  # fmt: skip
def test_other_urls_go_to_yarl(url: str) -> None:
    assert not _plain_url_ok(url, _URL_SCHEMES)
