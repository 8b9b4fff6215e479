"""Structured logs with the request's context on every line (the guide's protocol 4).

stdlib ``logging`` plus one :class:`~contextvars.ContextVar`: the run binds ``run_id``;
the fetch observer binds supplier, feed kind, URL, request id and attempt inside each
fetch task (every task has its own copy of the context, so concurrent fetches never mix
their fields). A filter on our handler stamps the bound fields on each record; fields
passed as ``extra={"sf": {...}}`` win over bound ones (the writer uses that for rows
that outlive their fetch task). URLs are redacted when a line is written, never earlier,
so binding costs nothing when nothing is logged.

``text``: ``time level logger: message  run=… supplier=… kind=… request_id=… attempt=… url=…``
``json``: one JSON object per line with the same fields.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import sys
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal, TextIO

import orjson

from .._redact import redact_url

__all__ = [
    "CONTEXT_FIELDS",
    "LogFormat",
    "LogSetup",
    "bind",
    "current_fields",
    "set_fields",
    "unbind",
]

LogFormat = Literal["text", "json"]
CONTEXT_FIELDS = ("run_id", "supplier", "kind", "url", "request_id", "attempt")

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "supplyfeed_log_context", default=_EMPTY
)


def bind(**fields: Any) -> contextvars.Token[Mapping[str, Any]]:
    """Add fields to the current context (this task and the tasks it creates later)."""
    return _context.set({**_context.get(), **fields})


def unbind(token: contextvars.Token[Mapping[str, Any]]) -> None:
    _context.reset(token)


def set_fields(fields: Mapping[str, Any]) -> None:
    """Replace the current task's fields wholesale (the observer's hot path: no merge)."""
    _context.set(fields)


def current_fields() -> Mapping[str, Any]:
    return _context.get()


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        fields = dict(_context.get())
        fields.update(getattr(record, "sf", None) or {})
        url = fields.get("url")
        if url:
            fields["url"] = redact_url(str(url))
        record.sf_fields = fields
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "sf_fields", {})
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            line[name] = fields.get(name)
        line.update((k, v) for k, v in fields.items() if k not in line)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        fields: dict[str, Any] = getattr(record, "sf_fields", {})
        tail = " ".join(f"{k}={v}" for k, v in fields.items() if v not in (None, ""))
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
