"""Renderers: canonical documents in, the bytes a supplier of that format would serve.

The mirror image of ``supplyfeed._formats``: one module per format, each exporting
``render(docs, kind, *, seed=0) -> bytes``, looked up lazily so a fleet that serves only
JSON never imports the EDI writers. A module may also export ``corrupt(body) -> bytes``
(a body its decoder must reject, for ``Fault.malformed``) and, for ``xml``,
``MAPPINGS: dict[DocKind, FieldMapping]`` (the mapping the feeds file must carry).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType
from typing import Final, Protocol, cast

from ..._config import FieldMapping
from ..._models import DocKind, Document

__all__ = [
    "CONTENT_TYPES",
    "RENDERERS",
    "Renderer",
    "RendererUnavailable",
    "get_corrupter",
    "get_mapping",
    "get_renderer",
]

RENDERERS: Final[dict[str, str]] = {
    "json": "supplyfeed.sim.render.json:render",
    "csv": "supplyfeed.sim.render.csv:render",
    "x12": "supplyfeed.sim.render.x12:render",
    "edifact": "supplyfeed.sim.render.edifact:render",
    "cxml": "supplyfeed.sim.render.cxml:render",
    "xml": "supplyfeed.sim.render.xml:render",
}

CONTENT_TYPES: Final[dict[str, str]] = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "x12": "application/EDI-X12",
    "edifact": "application/EDIFACT",
    "cxml": "text/xml; charset=utf-8",
    "xml": "application/xml",
}


class Renderer(Protocol):
    def __call__(self, docs: Sequence[Document], kind: DocKind, *, seed: int = 0) -> bytes: ...


class RendererUnavailable(LookupError):
    """No renderer for a format: unknown name, or its module is missing or broken."""


def _module(fmt: str) -> ModuleType:
    try:
        target = RENDERERS[fmt]
    except KeyError:
        known = ", ".join(sorted(RENDERERS))
        raise RendererUnavailable(f"unknown format {fmt!r} (known: {known})") from None
    module_name = target.partition(":")[0]
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise RendererUnavailable(f"no renderer for format {fmt!r}: {exc}") from exc


def get_renderer(fmt: str) -> Renderer:
    """The renderer of ``fmt``; :class:`RendererUnavailable` when there is none."""
    attr = RENDERERS.get(fmt, ":render").partition(":")[2]
    render = getattr(_module(fmt), attr, None)
    if not callable(render):
        raise RendererUnavailable(f"{RENDERERS[fmt]} is not a callable")
    return cast(Renderer, render)


def get_corrupter(fmt: str) -> CorruptFn:
    """How to corrupt a body of ``fmt``: the module's ``corrupt`` or a generic cut."""
    corrupt = getattr(_module(fmt), "corrupt", None)
    return cast(CorruptFn, corrupt) if callable(corrupt) else corrupt_generic


def get_mapping(fmt: str, kind: DocKind) -> FieldMapping | None:
    """The field mapping a feed of ``fmt``/``kind`` needs, if its renderer declares one."""
    mappings = getattr(_module(fmt), "MAPPINGS", None)
    if not isinstance(mappings, dict):
        return None
    mapping = mappings.get(kind)
    return mapping if isinstance(mapping, FieldMapping) else None


class CorruptFn(Protocol):
    def __call__(self, body: bytes) -> bytes: ...


def corrupt_generic(body: bytes) -> bytes:
    """Half the body, then bytes no text format accepts (a NUL and invalid UTF-8).

    Cutting drops every trailer (closing tags, SE/IEA, UNT/UNZ, a JSON bracket), so
    even a lenient decoder finds the document incomplete.
    """
    return body[: len(body) // 2] + b"\x00\xff\xfe<corrupt>"
