"""Drop sources: files a partner leaves on an SFTP server (``sftp://``) or a share (``file://``).

A feed URL such as ``sftp://edi@partner.example/out/*.edi`` or ``file:///mnt/drop/*.csv``
is listed when the run is planned; every matching file becomes its own endpoint (ledger
unit). :class:`DropTransport` reads them like HTTP bodies (into memory or a spool file,
capped by ``max_payload_bytes``) and :class:`DropHook` routes these schemes to it inside
the engine, so the files are fetched concurrently within the same limits, retries and
ledger as HTTP endpoints (a host is ``(scheme, host, port)``; all local files share one).

Only after a file's ledger row has committed as loaded is it moved to its ``done_dir`` or
deleted (``DropSpec.after``); a file that failed stays where it is and is listed in the
run summary's warnings.

SFTP uses asyncssh: one connection per (host, port, user), opened on first use and shared.
The password comes from the URL's userinfo or the supplier's basic auth, the key from
``auth.ssh_key``; host keys are checked against ``auth.known_hosts`` (or
``~/.ssh/known_hosts``) unless ``tls_verify: false``.
"""

from __future__ import annotations

import asyncio
import fnmatch
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import asyncssh

from .._config import AuthSpec, DropSpec
from .._exceptions import FetchError, PermanentFetchError, TransientFetchError
from .._formats.body import Body, SpoolWriter
from .hooks import BaseHook, Send
from .outcome import FetchRequest
from .transport import TransportRequest, TransportResponse

__all__ = ["DROP_SCHEMES", "DropHook", "DropTransport", "is_drop_pattern"]

DROP_SCHEMES = frozenset({"file", "sftp"})
_CHUNK = 256 * 1024
_GLOB = frozenset("*?[")


def is_drop_pattern(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme.lower() in DROP_SCHEMES and any(c in _GLOB for c in parts.path)


@dataclass(frozen=True, slots=True)
class _Sftp:
    host: str
    port: int
    user: str | None
    password: str | None
    path: str


def _sftp_parts(url: str, auth: AuthSpec) -> _Sftp:
    parts = urlsplit(url)
    password = unquote(parts.password) if parts.password else (auth.password or None)
    user = unquote(parts.username) if parts.username else (auth.username or None)
    return _Sftp(parts.hostname or "", parts.port or 22, user, password, unquote(parts.path))


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=quote(path)))


class DropTransport:
    """Reads file:// and sftp:// URLs; the Transport seam for drop sources."""

    def __init__(self, auth: Mapping[str, AuthSpec] | None = None) -> None:
        self._auth = dict(auth or {})
        self._conns: dict[tuple[str, int, str | None], asyncssh.SSHClientConnection] = {}
        self._lock = asyncio.Lock()

    def auth_for(self, supplier_id: str) -> AuthSpec:
        return self._auth.get(supplier_id, AuthSpec())

    # -- connections ---------------------------------------------------------------------
    async def _connect(self, where: _Sftp, auth: AuthSpec) -> asyncssh.SSHClientConnection:
        key = (where.host, where.port, where.user)
        async with self._lock:
            conn = self._conns.get(key)
            if conn is None or conn.is_closed():
                options: dict[str, Any] = {
                    "username": where.user,
                    "password": where.password,
                    "client_keys": [auth.ssh_key] if auth.ssh_key else None,
                    "known_hosts": None if not auth.tls_verify else (auth.known_hosts or ()),
                }
                if auth.tls_verify and not auth.known_hosts:
                    del options["known_hosts"]  # asyncssh's default: ~/.ssh/known_hosts
                try:
                    conn = await asyncssh.connect(where.host, where.port, **options)
                except asyncssh.PermissionDenied as exc:
                    raise PermanentFetchError("sftp: permission denied", kind="auth") from exc
                except asyncssh.HostKeyNotVerifiable as exc:
                    raise PermanentFetchError("sftp: host key not trusted", kind="tls") from exc
                except (OSError, asyncssh.Error) as exc:
                    raise TransientFetchError(
                        f"sftp: cannot connect: {type(exc).__name__}", kind="connect"
                    ) from exc
                self._conns[key] = conn
            return conn

    # -- listing ---------------------------------------------------------------------------
    async def list(self, pattern_url: str, supplier_id: str) -> list[str]:
        """The URLs of the files matching a drop pattern, sorted by name."""
        scheme = urlsplit(pattern_url).scheme.lower()
        if scheme == "file":
            return await asyncio.to_thread(_list_local, pattern_url)
        where = _sftp_parts(pattern_url, self.auth_for(supplier_id))
        folder, glob = posixpath.split(where.path)
        conn = await self._connect(where, self.auth_for(supplier_id))
        try:
            async with conn.start_sftp_client() as sftp:
                names = await sftp.listdir(folder or ".")
                files = [
                    n
                    for n in sorted(names)
                    if fnmatch.fnmatchcase(n, glob) and await sftp.isfile(posixpath.join(folder, n))
                ]
        except (OSError, asyncssh.Error) as exc:
            raise TransientFetchError(f"sftp: cannot list: {exc}", kind="connection") from exc
        return [_with_path(pattern_url, posixpath.join(folder, n)) for n in files]

    # -- the Transport seam -------------------------------------------------------------------
    async def send(self, request: TransportRequest, supplier_id: str = "") -> TransportResponse:
        parts = urlsplit(request.url)
        if is_drop_pattern(request.url):  # its listing failed when the run was planned
            await self.list(request.url, supplier_id)  # raises the listing's error again
            raise TransientFetchError("drop folder readable only now", kind="listing")
        if parts.scheme.lower() == "file":
            body = await asyncio.to_thread(_read_local, unquote(parts.path), request)
        else:
            body = await self._read_sftp(request, self.auth_for(supplier_id))
        return TransportResponse(200, {}, body)

    async def _read_sftp(self, request: TransportRequest, auth: AuthSpec) -> Body:
        where = _sftp_parts(request.url, auth)
        conn = await self._connect(where, auth)
        spool = SpoolWriter(request.spool_threshold, request.spool_dir)
        try:
            async with conn.start_sftp_client() as sftp, sftp.open(where.path, "rb") as f:
                while chunk := await f.read(_CHUNK):
                    assert isinstance(chunk, bytes)  # opened "rb": asyncssh types it AnyStr
                    spool.write(chunk)
                    if spool.size > request.max_bytes:
                        raise PermanentFetchError(
                            f"file exceeds max_payload_bytes {request.max_bytes}",
                            kind="too_large",
                        )
        except FetchError:
            spool.abort()
            raise
        except asyncssh.SFTPNoSuchFile as exc:
            spool.abort()
            raise PermanentFetchError("sftp: no such file", kind="not_found") from exc
        except (OSError, asyncssh.Error) as exc:
            spool.abort()
            raise TransientFetchError(f"sftp: read failed: {exc}", kind="connection") from exc
        except BaseException:
            spool.abort()
            raise
        return spool.finish()

    async def finish(self, url: str, supplier_id: str, spec: DropSpec) -> None:
        """Move or delete a file that has loaded."""
        if spec.after == "keep":
            return
        parts = urlsplit(url)
        if parts.scheme.lower() == "file":
            await asyncio.to_thread(_finish_local, Path(unquote(parts.path)), spec)
            return
        auth = self.auth_for(supplier_id)
        where = _sftp_parts(url, auth)
        conn = await self._connect(where, auth)
        async with conn.start_sftp_client() as sftp:
            if spec.after == "delete":
                await sftp.remove(where.path)
                return
            folder, name = posixpath.split(where.path)
            done = posixpath.join(folder, spec.done_dir)
            await sftp.makedirs(done, exist_ok=True)
            await sftp.rename(where.path, posixpath.join(done, name))

    async def aclose(self) -> None:
        conns, self._conns = list(self._conns.values()), {}
        for conn in conns:
            conn.close()
            await conn.wait_closed()


def _list_local(pattern_url: str) -> list[str]:
    pattern = Path(unquote(urlsplit(pattern_url).path))
    folder = pattern.parent
    if not folder.is_dir():
        raise TransientFetchError(f"no such folder: {folder}", kind="connect")
    names = sorted(
        p for p in folder.iterdir() if p.is_file() and fnmatch.fnmatchcase(p.name, pattern.name)
    )
    return [p.as_uri() for p in names]


def _read_local(path: str, request: TransportRequest) -> Body:
    spool = SpoolWriter(request.spool_threshold, request.spool_dir)
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                spool.write(chunk)
                if spool.size > request.max_bytes:
                    raise PermanentFetchError(
                        f"file exceeds max_payload_bytes {request.max_bytes}", kind="too_large"
                    )
    except FileNotFoundError as exc:
        spool.abort()
        raise PermanentFetchError(f"no such file: {path}", kind="not_found") from exc
    except OSError as exc:
        spool.abort()
        raise TransientFetchError(f"cannot read {path}: {exc.strerror}", kind="connection") from exc
    except BaseException:
        spool.abort()
        raise
    return spool.finish()


def _finish_local(path: Path, spec: DropSpec) -> None:
    if spec.after == "delete":
        path.unlink(missing_ok=True)
        return
    done = path.parent / spec.done_dir
    done.mkdir(parents=True, exist_ok=True)
    path.replace(done / path.name)


class DropHook(BaseHook):
    """Sends file:// and sftp:// requests to :class:`DropTransport` instead of HTTP."""

    def __init__(self, transport: DropTransport) -> None:
        self.transport = transport

    async def send(
        self, request: FetchRequest, treq: TransportRequest, call_next: Send
    ) -> TransportResponse:
        if treq.url.partition(":")[0].lower() not in DROP_SCHEMES:
            return await call_next(treq)
        return await self.transport.send(treq, request.supplier_id)
