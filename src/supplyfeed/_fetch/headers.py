"""Reading response headers, kept apart from the transport so that modules which only
read headers (conditional requests, pagination, the sinks through them) do not import
aiohttp."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["header_value"]


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A response header by case-insensitive name (transports hand back plain dicts)."""
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)
