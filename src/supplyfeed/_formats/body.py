"""A fetched payload, held in memory when small and spooled to a file when large."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

__all__ = ["Body", "SpoolWriter", "sweep_stale_spools"]


class Body:
    """Immutable payload bytes with their size and SHA-256.

    Small bodies live in memory (``data``); a body past the spool threshold lives in a
    temporary file (``path``) and is decoded incrementally through :meth:`open`.
    """

    __slots__ = ("_data", "_path", "sha256", "size")

    def __init__(
        self, *, data: bytes | None = None, path: Path | None = None, sha256: str | None = None
    ) -> None:
        if (data is None) == (path is None):
            raise ValueError("a Body holds either data or a path")
        self._data = data
        self._path = path
        if data is not None:
            self.size = len(data)
            self.sha256 = sha256 or hashlib.sha256(data).hexdigest()
        else:
            assert path is not None
            self.size = path.stat().st_size
            self.sha256 = sha256 or _hash_file(path)

    @classmethod
    def from_bytes(cls, data: bytes) -> Body:
        return cls(data=data)

    @property
    def spooled(self) -> bool:
        return self._path is not None

    @property
    def path(self) -> Path | None:
        return self._path

    def read(self) -> bytes:
        """The whole payload. Decoders that can stream should use :meth:`open` instead."""
        if self._data is not None:
            return self._data
        assert self._path is not None
        return self._path.read_bytes()

    def head(self, n: int = 4096) -> bytes:
        if self._data is not None:
            return self._data[:n]
        with self.open() as f:
            return f.read(n)

    def open(self) -> BinaryIO:
        if self._data is not None:
            return io.BytesIO(self._data)
        assert self._path is not None
        return self._path.open("rb")

    def discard(self) -> None:
        """Delete the spool file, if any. The body must not be read afterwards."""
        if self._path is not None:
            self._path.unlink(missing_ok=True)


class SpoolWriter:
    """Accumulates chunks in memory, moving to a temporary file past ``threshold`` bytes.

    :meth:`write` never touches the disk: it only buffers. Once the buffer is due for the
    file (past the threshold, then every ``FLUSH_BYTES``), ``wants_flush`` turns true and
    the caller runs :meth:`flush` off the event loop (the transport uses a thread), so a
    large body streaming to disk never blocks other requests. :meth:`finish` and
    :meth:`abort` do the rest; I/O errors (a full disk) are raised as ``OSError``.
    """

    FLUSH_BYTES = 1024 * 1024

    def __init__(self, threshold: int, directory: Path | None = None) -> None:
        self._threshold = threshold
        self._directory = directory
        self._buffer = bytearray()
        self._file: BinaryIO | None = None
        self._path: Path | None = None
        self._hash = hashlib.sha256()
        self.size = 0

    @property
    def on_disk(self) -> bool:
        return self._path is not None

    @property
    def wants_flush(self) -> bool:
        limit = self.FLUSH_BYTES if self._file is not None else self._threshold
        return len(self._buffer) > limit

    def write(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)
        self._buffer += chunk

    def flush(self) -> None:
        """Move the buffer to the spool file (created on the first call). Blocking I/O."""
        if self._file is None:
            fd, name = tempfile.mkstemp(
                prefix=_spool_prefix(), suffix=".spool", dir=self._directory
            )
            self._path = Path(name)
            self._file = os.fdopen(fd, "wb")
        self._file.write(self._buffer)
        self._buffer = bytearray()

    def finish(self) -> Body:
        """The body; blocking I/O when it is on disk (flush the rest, close)."""
        if self._file is not None:
            self.flush()
            self._file.close()
            assert self._path is not None
            return Body(path=self._path, sha256=self._hash.hexdigest())
        return Body(data=bytes(self._buffer), sha256=self._hash.hexdigest())

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._path is not None:
            self._path.unlink(missing_ok=True)
        self._buffer = bytearray()


def _spool_prefix() -> str:
    # The pid in the name tells a sweep a dead run's file from a live one's.
    return f"supplyfeed-{os.getpid()}-"


def sweep_stale_spools(directory: Path | None = None) -> int:
    """Delete spool files left by runs that died (SIGKILL mid-download); return how many.
    A file whose pid is alive (another run, this one) is kept."""
    from .._procstat import pid_alive

    removed = 0
    for path in Path(directory or tempfile.gettempdir()).glob("supplyfeed-*-*.spool"):
        pid = path.name.split("-")[1]
        if pid.isdigit() and not pid_alive(int(pid)):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
