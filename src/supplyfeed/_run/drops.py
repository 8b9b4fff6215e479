"""The run's side of drop sources: list the files, and move them only once loaded."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._config import DropSpec, SupplierSpec
from .._exceptions import FetchError
from .._redact import redact_url
from .._sink.base import EndpointRecord, Outcome
from .plan import PlannedEndpoint, endpoint_key

if TYPE_CHECKING:
    from .._fetch.drops import DropTransport
    from .._fetch.transport import Transport

__all__ = ["DropFiles", "has_drops"]

_DONE = frozenset({Outcome.LOADED, Outcome.UNCHANGED})


@dataclasses.dataclass(frozen=True, slots=True)
class _File:
    """A file found in a drop folder, to be fetched as an endpoint of its own."""

    url: str  # with its credentials: never logged
    supplier_id: str
    spec: DropSpec


def has_drops(suppliers: Sequence[SupplierSpec]) -> bool:
    """Whether any feed reads a file:// or sftp:// drop folder."""
    urls = (u for s in suppliers for f in s.feeds for u in f.urls)
    return any(u.partition(":")[0].lower() in ("file", "sftp") for u in urls)


class DropFiles:
    """A run without drop folders never imports the drop transport (nor asyncssh).

    ``mounts`` is what the engine mounts for ``file`` and ``sftp`` (``_fetch/mounts.py``);
    the transport is this object's to close, since it lists folders before the engine
    starts and moves files after.
    """

    def __init__(self, suppliers: Sequence[SupplierSpec]) -> None:
        self.transport: DropTransport | None = None
        self.mounts: dict[str, Transport] = {}
        if has_drops(suppliers):
            from .._fetch.drops import DROP_SCHEMES, DropTransport
            from .._fetch.sftp import SftpLimits

            self.transport = DropTransport(
                {s.id: s.auth for s in suppliers},
                sftp_limits={
                    s.id: SftpLimits(s.config.limits.sftp_max_channels, s.config.timeouts.connect)
                    for s in suppliers
                },
            )
            self.mounts = dict.fromkeys(DROP_SCHEMES, self.transport)
        self._files: dict[str, _File] = {}  # endpoint key -> file
        self._notes: list[str] = []  # moves under another name, moves that failed
        self.finished = 0  # files moved or deleted after loading

    async def expand(self, planned: list[PlannedEndpoint]) -> list[PlannedEndpoint]:
        """Each drop pattern replaced by one endpoint per file it matches now.

        A pattern that cannot be listed stays as one endpoint: its fetch fails with the
        listing's error, so the ledger and the report show it.
        """
        out: list[PlannedEndpoint] = []
        for p in planned:
            if self.transport is None or not self.is_pattern(p.request.url):
                out.append(p)
                continue
            try:
                files = await self.transport.list(p.request.url, p.endpoint.supplier_id)
            except FetchError:
                out.append(p)
                continue
            for url in files:
                key = endpoint_key(p.endpoint.supplier_id, p.endpoint.kind.value, url)
                endpoint = dataclasses.replace(p.endpoint, key=key, url=redact_url(url))
                request = dataclasses.replace(p.request, url=url, key=key)
                out.append(PlannedEndpoint(endpoint, request, p.feed))
                self._files[key] = _File(url, p.endpoint.supplier_id, p.feed.drop)
        return out

    async def committed(self, records: Sequence[EndpointRecord]) -> None:
        """Move or delete the files whose rows just committed as loaded (and only those).

        A move that fails never stops the run: the file stays, a warning says so, and the
        next run finds it unchanged and moves it then.
        """
        for r in records:
            file = self._files.get(r.endpoint.key)
            if file is None or self.transport is None or r.outcome not in _DONE:
                continue
            try:
                renamed = await self.transport.finish(file.url, file.supplier_id, file.spec)
            except FetchError as exc:
                self._notes.append(f"drop file loaded but not moved: {r.endpoint.url}: {exc}")
                continue
            if renamed is not None:
                self._notes.append(
                    f"drop file moved as {renamed}, its name was taken in "
                    f"{file.spec.done_dir}: {r.endpoint.url}"
                )
            self.finished += 1

    def warnings(self, records: Sequence[EndpointRecord]) -> list[str]:
        """Report lines: files moved under a numbered name or not moved, then
        the files that did not load and so were not moved."""
        return [*self._notes, *self._left_in_place(records)]

    def _left_in_place(self, records: Sequence[EndpointRecord]) -> list[str]:
        return [
            f"drop file not loaded, left in place: {r.endpoint.url}"
            for r in records
            if r.endpoint.key in self._files and r.outcome not in _DONE
        ]

    def is_pattern(self, url: str) -> bool:
        """Whether ``url`` is a drop folder's glob, listed into one endpoint per file."""
        if self.transport is None:
            return False
        from .._fetch.drops import is_drop_pattern

        return is_drop_pattern(url)

    async def aclose(self) -> None:
        if self.transport is not None:
            await self.transport.aclose()
