"""Keeping secrets out of logs, the ledger and dead letters."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "REDACTED",
    "is_secret_name",
    "redact_headers",
    "redact_text",
    "redact_url",
    "remember_secrets",
]

REDACTED = "REDACTED"
_SECRET_NAME = re.compile(
    r"(token|secret|passw|pwd|api[-_]?key|apikey|auth|signature|sig|session|credential|key)",
    re.IGNORECASE,
)
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
# Values from the feeds file's ${ENV} references (a query parameter of any name, a path
# part): every URL this process logs or stores is cleaned of them (see remember_secrets).
_KNOWN: set[str] = set()


def remember_secrets(values: Iterable[str]) -> None:
    """Make :func:`redact_url` hide these values wherever they appear in a URL.

    Process-wide on purpose: a URL reaches logs, the ledger and error messages through
    many paths, and a secret must be hidden on all of them. The run adds its suppliers'
    secrets before it plans its endpoints."""
    _KNOWN.update(v for v in values if len(v) >= 4)


def is_secret_name(name: str) -> bool:
    """Whether a header or query parameter name looks like it carries a credential."""
    return name.lower() in _SECRET_HEADERS or bool(_SECRET_NAME.search(name))


def redact_url(url: str) -> str:
    """The URL without a password in its userinfo and without secret-looking query values."""
    if _KNOWN:
        url = redact_text(url, _KNOWN)
    if "@" not in url and "?" not in url and url.startswith(("http://", "https://")):
        return url  # nothing to hide (the common case: this runs for every request)
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{REDACTED}@{hostport}" if ":" in userinfo else f"{user}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, REDACTED if _SECRET_NAME.search(k) else v) for k, v in pairs], safe=":/"
        )
    if netloc == parts.netloc and not query:
        # Nothing hidden: the URL as given (rebuilding it would drop the "//" of a scheme
        # urllib does not know, turning sqlite:////abs/x.db into a relative path).
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {
        k: REDACTED if k.lower() in _SECRET_HEADERS or _SECRET_NAME.search(k) else v
        for k, v in headers.items()
    }


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """Replace every known secret value (at least 4 characters long) inside free text."""
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text
