"""Structured logs with the request's context on every line (protocol 4 of ``_telemetry``).

stdlib ``logging`` plus two context variables: the run binds ``run_id``
(and any other run-level field); the fetch observer binds the request itself (supplier,
feed kind, URL, request id and attempt) inside each fetch task, as one tuple: every task
has its own copy of the context, so concurrent fetches never mix their fields, and
binding allocates no dict. A filter on our handler turns the bound values into fields
on each record it writes; fields passed as ``extra={"sf": {...}}`` win over bound ones
(the writer uses that for rows that outlive their fetch task). URLs are redacted when a
line is written, never earlier, so binding costs nothing when nothing is logged.

``text``: ``time level logger: message  run=… supplier=… kind=… request_id=… attempt=… url=…``
``json``: one JSON object per line with the same fields.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal, Protocol, TextIO

import orjson

from .._redact import redact_url

__all__ = [
    "CONTEXT_FIELDS",
    "EVENT_FIELDS",
    "LogFormat",
    "LogSetup",
    "bind",
    "bind_request",
    "current_fields",
    "request_fields",
    "unbind",
]

LogFormat = Literal["text", "json"]
CONTEXT_FIELDS = ("run_id", "supplier", "kind", "url", "request_id", "attempt")
# What happened, on every JSON line (null where it does not apply): ``event`` names it
# (attempt_failed, fetched, fetch_failed, dead_letter, run_finished).
EVENT_FIELDS = ("event", "status", "bytes", "duration_s", "error_kind")

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "supplyfeed_log_context", default=_EMPTY
)


class _Request(Protocol):
    @property
    def supplier_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def url(self) -> str: ...


_Bound = tuple[_Request, str, int]  # request, request id, attempt
_request: contextvars.ContextVar[_Bound | None] = contextvars.ContextVar(
    "supplyfeed_log_request", default=None
)


def bind(**fields: Any) -> contextvars.Token[Mapping[str, Any]]:
    """Add fields to the current context (this task and the tasks it creates later)."""
    return _context.set({**_context.get(), **fields})


def unbind(token: contextvars.Token[Mapping[str, Any]]) -> None:
    _context.reset(token)


def bind_request(request: _Request, request_id: str, attempt: int) -> None:
    """The request this task is fetching now (the observer's hot path: one tuple)."""
    _request.set((request, request_id, attempt))


def current_fields() -> dict[str, Any]:
    """Every bound field of the current context, as a line would carry them (unredacted)."""
    fields = dict(_context.get())
    bound = _request.get()
    if bound is not None:
        request, request_id, attempt = bound
        fields["supplier"] = request.supplier_id
        fields["kind"] = request.kind
        fields["url"] = request.url
        fields["request_id"] = request_id
        fields["attempt"] = attempt
    return fields


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        fields = current_fields()
        extra = getattr(record, "sf", None)
        if extra:
            fields.update(extra)
        url = fields.get("url")
        if url:
            fields["url"] = redact_url(str(url))
        record.sf_fields = fields
        return True


def request_fields(
    event: str, status: int | None, size: int | None, seconds: float, error_kind: str | None
) -> dict[str, Any]:
    """The :data:`EVENT_FIELDS` of one request event, for ``extra={"sf": ...}``."""
    return {"event": event, "status": status, "bytes": size,
            "duration_s": round(seconds, 6), "error_kind": error_kind}  # fmt: skip


_JSON_TEMPLATE: dict[str, Any] = dict.fromkeys(
    ("ts", "level", "logger", "message", *CONTEXT_FIELDS, *EVENT_FIELDS)
)


class JsonFormatter(logging.Formatter):
    """``ts`` is UTC ISO 8601 with milliseconds (``2026-05-09T13:31:45.123+00:00``); the
    seconds part is formatted once per second, not once per line."""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._prefix = ""

    def _ts(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._prefix}.{int(record.msecs):03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        # The template fixes the key order (base keys, context fields, then any others);
        # base keys are set after the fields so that a field never replaces one.
        line = _JSON_TEMPLATE.copy()
        line.update(getattr(record, "sf_fields", None) or ())
        line["ts"] = self._ts(record)
        line["level"] = record.levelname.lower()
        line["logger"] = record.name
        line["message"] = record.getMessage()
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


_JSON_ONLY = frozenset(("traceback", "summary", "event", "status", "bytes", "duration_s"))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        fields: dict[str, Any] = getattr(record, "sf_fields", {})
        # A traceback (an internal error) and an event's figures (its message says them)
        # are for the JSON log, not the screen.
        tail = " ".join(
            f"{k}={v}" for k, v in fields.items() if v not in (None, "") and k not in _JSON_ONLY
        )
        return f"{base}  [{tail}]" if tail else base


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is *now*, so a live progress display that
    redirects stderr prints our lines above itself instead of tearing through it."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


class LogSetup:
    """Our handler on our loggers (and asyncio's, for ``--debug``'s slow-callback lines);
    :meth:`close` takes it off and restores the loggers' levels."""

    def __init__(
        self,
        fmt: LogFormat = "text",
        level: int = logging.WARNING,
        stream: TextIO | None = None,
        loggers: tuple[str, ...] = ("supplyfeed", "asyncio"),
    ) -> None:
        handler: logging.Handler = (
            logging.StreamHandler(stream) if stream is not None else _StderrHandler()
        )
        handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
        handler.addFilter(_ContextFilter())
        handler.setLevel(level)
        self.handler = handler
        self._levels: dict[str, int] = {}
        for name in loggers:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.addHandler(handler)
            if logger.level == logging.NOTSET or logger.level > level:
                logger.setLevel(level)

    def close(self) -> None:
        for name, level in self._levels.items():
            logger = logging.getLogger(name)
            logger.removeHandler(self.handler)
            logger.setLevel(level)
        self.handler.close()
