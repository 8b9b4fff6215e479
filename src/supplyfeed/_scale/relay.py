"""The sink of local workers whose database cannot be shared: calls relayed to one writer.

A SQLite file has one writer, and ``memory://`` lives in the coordinator. With
``processes:N`` each worker still fetches and decodes (the CPU work that outgrows one
process) and sends the decoded documents to the coordinator, whose sink writes them:

- :class:`RelaySink` (in the worker) is a :class:`~supplyfeed._sink.base.Sink` whose
  ``load`` decodes every unit in a thread, then ships the documents (or the payload error
  and the bytes, for the dead letter) with the ledger row; every other call is forwarded
  as it is;
- :class:`RelayServer` (in the coordinator) listens on a Unix socket in a private folder
  and runs each call against the real sink, which serializes calls from all workers.

Frames are a 4-byte length and a pickle. Only processes of this user can open the socket
(its folder is 0700): it never leaves the machine, which is why Dask (remote workers) does
not use it. A sink call that fails in the coordinator reaches the worker as a SinkError.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import pickle
import struct
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._config import FieldMapping
from .._exceptions import PayloadError, SinkError
from .._fetch.conditional import Validators
from .._formats.body import Body
from .._models import Document
from .._sink.base import (
    Conflict,
    DeadLetter,
    Endpoint,
    EndpointRecord,
    LoadUnit,
    RequestTrace,
    RunRecord,
    Sink,
)
from .._sink.feed_state import PageMark

__all__ = ["RELAY_SCHEME", "RelayServer", "RelaySink"]

RELAY_SCHEME = "relay:"
_HEADER = struct.Struct("!I")
_STREAM_LIMIT = 1 << 20
_INLINE = 1 << 20  # frames up to this size are unpickled on the loop


def _dumps(message: object) -> bytes:
    return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


async def _send(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(_HEADER.pack(len(data)))
    writer.write(data)
    await writer.drain()


async def _receive(reader: asyncio.StreamReader) -> Any:
    """The next message. A large one (a batch of decoded documents takes seconds) is
    unpickled in a thread, so the loop keeps serving the other workers and fetching."""
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    data = await reader.readexactly(size)
    return pickle.loads(data) if size <= _INLINE else await asyncio.to_thread(pickle.loads, data)


@dataclass(frozen=True, slots=True)
class _Decoded:
    """A load unit after decoding in the worker: documents, or the payload error."""

    run_id: str
    record: EndpointRecord
    size: int
    sha256: str
    paged: bool
    documents: tuple[Document, ...] = ()
    error: tuple[str, str, str] | None = None  # PayloadError message, where, kind
    data: bytes | None = None  # the payload, only with an error (for the dead letter)
    mapping: FieldMapping | None = None  # the feed's, kept with the dead letter


def _decode(unit: LoadUnit) -> _Decoded:
    body = unit.body
    fields = (unit.run_id, unit.record, body.size, body.sha256, unit.paged)
    try:
        return _Decoded(*fields, documents=tuple(unit.documents()))
    except PayloadError as exc:
        error = (exc.message, exc.where, exc.kind)
        return _Decoded(*fields, error=error, data=body.read(), mapping=unit.mapping)


def _replay(documents: tuple[Document, ...]) -> Iterator[Document]:
    return iter(documents)


def _raise(message: str, where: str, kind: str) -> Iterator[Document]:
    raise PayloadError(message, where=where, kind=kind)


def _unit(decoded: _Decoded) -> LoadUnit:
    """The coordinator's LoadUnit: its decoder replays what the worker decoded. A decoded
    body's bytes stay in the worker; the sink needs only their size and hash."""
    if decoded.error is None:
        body = Body(data=b"", sha256=decoded.sha256)
        body.size = decoded.size
        documents: Callable[[], Iterator[Document]] = functools.partial(_replay, decoded.documents)
    else:
        assert decoded.data is not None
        body = Body(data=decoded.data, sha256=decoded.sha256)
        documents = functools.partial(_raise, *decoded.error)
    return LoadUnit(
        decoded.run_id,
        decoded.record,
        body,
        documents,
        paged=decoded.paged,
        mapping=decoded.mapping,
    )


class RelaySink:
    """The worker's side. Calls reach the coordinator in the order they started (the
    pipeline's rule for sinks); a ``load`` decodes before waiting for its turn, so the
    worker decodes the next batch while the coordinator writes the previous one."""

    def __init__(self, path: str) -> None:
        self.url = f"{RELAY_SCHEME}{path}"
        self._path = path
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._turn: asyncio.Future[None] | None = None

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_unix_connection(
            self._path, limit=_STREAM_LIMIT
        )

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None

    async def _call(self, method: str, *args: Any, prepare: Callable[[], Any] | None = None) -> Any:
        loop = asyncio.get_running_loop()
        before, mine = self._turn, loop.create_future()
        self._turn = mine
        try:
            if prepare is None:
                frame = _dumps((method, args))
            else:  # decoding and pickling a batch is CPU work: off the loop
                frame = await asyncio.to_thread(lambda: _dumps((method, (prepare(),))))
            if before is not None:
                await asyncio.shield(before)
            return await self._round_trip(method, frame)
        finally:
            mine.set_result(None)

    async def _round_trip(self, method: str, frame: bytes) -> Any:
        if self._reader is None or self._writer is None:
            raise SinkError(f"relay {self._path}: not open")
        try:
            await _send(self._writer, frame)
            status, value = await _receive(self._reader)
        except (OSError, asyncio.IncompleteReadError) as exc:
            raise SinkError(f"relay {self._path}: the coordinator went away ({exc})") from exc
        if status != "ok":
            raise SinkError(f"{method} in the coordinator: {value}")
        return value

    # -- the calls a shard makes ---------------------------------------------------------
    async def load(self, units: Sequence[LoadUnit]) -> list[EndpointRecord]:
        result: list[EndpointRecord] = await self._call(
            "load", prepare=lambda: [_decode(u) for u in units]
        )
        return result

    async def record(self, records: Sequence[EndpointRecord], run_id: str) -> None:
        await self._call("record", list(records), run_id)

    async def endpoints(self, run_id: str) -> list[EndpointRecord]:
        result: list[EndpointRecord] = await self._call("endpoints", run_id)
        return result

    async def finish_source(self, run_id: str, source: str) -> int:
        result: int = await self._call("finish_source", run_id, source)
        return result

    async def get_validators(self, keys: Sequence[str]) -> dict[str, Validators]:
        result: dict[str, Validators] = await self._call("get_validators", list(keys))
        return result

    async def put_validators(self, entries: Mapping[str, Validators]) -> None:
        await self._call("put_validators", dict(entries))

    async def get_page_marks(self, run_id: str, keys: Sequence[str]) -> dict[str, PageMark]:
        result: dict[str, PageMark] = await self._call("get_page_marks", run_id, list(keys))
        return result

    async def put_page_marks(self, run_id: str, marks: Mapping[str, PageMark]) -> None:
        await self._call("put_page_marks", run_id, dict(marks))

    async def get_cursors(self, keys: Sequence[str]) -> dict[str, str]:
        result: dict[str, str] = await self._call("get_cursors", list(keys))
        return result

    async def put_cursors(self, entries: Mapping[str, str]) -> None:
        await self._call("put_cursors", dict(entries))

    async def checkpoint(self) -> None:
        """Nothing to do: the coordinator's sink does its own at the run's end."""

    async def conflicts(self, run_id: str | None = None) -> list[Conflict]:
        result: list[Conflict] = await self._call("conflicts", run_id)
        return result

    # -- the run itself is the coordinator's -------------------------------------------------
    async def start_run(self, run: RunRecord, endpoints: Sequence[Endpoint]) -> None:
        raise SinkError("a shard does not start runs: the coordinator does")

    async def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        raise SinkError("a shard does not finish runs: the coordinator does")

    async def get_run(self, run_id: str | None = None) -> RunRecord | None:
        result: RunRecord | None = await self._call("get_run", run_id)
        return result

    async def table_rows(self, table: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call("table_rows", table)
        return result

    async def dead_letters(self, *, include_resolved: bool = False) -> list[DeadLetter]:
        result: list[DeadLetter] = await self._call("dead_letters", include_resolved)
        return result

    async def trace(self, request_id: str) -> RequestTrace:
        result: RequestTrace = await self._call("trace", request_id)
        return result

    async def replay(
        self, dead_letter_id: int, documents: Callable[[Body], Iterator[Document]]
    ) -> EndpointRecord:
        raise SinkError("replay runs against the database, not through a shard")


_FORWARDED = frozenset(
    {
        "record", "endpoints", "finish_source", "get_validators", "put_validators",
        "get_page_marks", "put_page_marks", "get_cursors", "put_cursors", "conflicts",
        "get_run", "table_rows", "trace",
    }
)  # fmt: skip


class RelayServer:
    """The coordinator's side: ``async with RelayServer(sink) as relay`` then give workers
    ``relay.url``. Each connection's calls run in order; the sink orders the rest."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self._folder = tempfile.TemporaryDirectory(prefix="supplyfeed-relay-")
        self.path = str(Path(self._folder.name) / "sink.sock")
        self.url = f"{RELAY_SCHEME}{self.path}"
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._closing = False

    async def __aenter__(self) -> RelayServer:
        self._server = await asyncio.start_unix_server(self._serve, self.path, limit=_STREAM_LIMIT)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._closing = True
        if self._server is not None:
            self._server.close()
            # Closing a connection ends its handler at its next read (EOF); cancelling it
            # instead makes asyncio's stream callback log the CancelledError (3.11).
            for writer in list(self._clients.values()):
                writer.close()
            await asyncio.gather(*self._clients, return_exceptions=True)
            await self._server.wait_closed()
        self._folder.cleanup()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients[task] = writer
        try:
            while not self._closing:  # a connection accepted as the relay closed ends
                try:
                    method, args = await _receive(reader)
                except (asyncio.IncompleteReadError, OSError):
                    return  # the worker closed its sink, or died
                await _send(writer, _dumps(await self._run(method, args)))
        except OSError:
            return  # died while we answered
        finally:
            self._clients.pop(task, None)
            writer.close()

    async def _run(self, method: str, args: tuple[Any, ...]) -> tuple[str, Any]:
        try:
            if method == "load":
                return "ok", await self.sink.load([_unit(d) for d in args[0]])
            if method == "dead_letters":
                return "ok", await self.sink.dead_letters(include_resolved=args[0])
            if method not in _FORWARDED:
                return "error", f"{method} is not relayed"
            return "ok", await getattr(self.sink, method)(*args)
        except Exception as exc:  # the worker's shard fails; the coordinator reruns it
            return "error", f"{type(exc).__name__}: {exc}"
