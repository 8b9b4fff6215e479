"""Drop sources: files a partner leaves on an SFTP server (``sftp://``) or a share (``file://``).

A feed URL such as ``sftp://edi@partner.example/out/*.edi`` or ``file:///mnt/drop/*.csv``
is listed when the run is planned; every matching file becomes its own endpoint (ledger
unit). :class:`DropTransport` reads them like HTTP bodies (into memory or a spool file,
capped by ``max_payload_bytes``); the engine mounts it for these schemes (``mounts.py``),
so the files are fetched concurrently within the same hooks, limits, retries and ledger
as HTTP endpoints (a host is ``(scheme, host, port)``; all local files share one).

Only after a file's ledger row has committed as loaded is it moved to its ``done_dir`` or
deleted (``DropSpec.after``); a file that failed stays where it is and is listed in the
run summary's warnings. A move never overwrites: when the name is taken in ``done_dir``
the file gets the first free numbered name (``W1.edi`` -> ``W1-1.edi``, ``W1-2.edi``),
which the summary's warnings name. A move that fails leaves the file in place (a warning
too); the next run finds it unchanged and moves it then.

SFTP paths are absolute on the server (``sftp://host/out/*.edi``) unless they start with
``/~/`` (``sftp://host/~/out/*.edi``): those are relative to the login's home folder. A
drop folder that does not exist is a permanent ``not_found`` naming it. Connections,
logins and the channel cap live in :mod:`.sftp`. The password comes from the URL's
userinfo or the supplier's basic auth, the key from ``auth.ssh_key``; host keys are
checked against ``auth.known_hosts`` (or ``~/.ssh/known_hosts``) unless
``tls_verify: false``.
"""

from __future__ import annotations

import asyncio
import errno
import fnmatch
import os
import posixpath
import shutil
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import asyncssh

from .._config import AuthSpec, DropSpec
from .._exceptions import FetchError, PermanentFetchError, TransientFetchError
from .._formats.body import Body, SpoolWriter
from .sftp import SftpLimits, SftpSessions, SftpTarget
from .transport import TransportRequest, TransportResponse

__all__ = ["DROP_SCHEMES", "DropTransport", "free_names", "is_drop_pattern"]

DROP_SCHEMES = frozenset({"file", "sftp"})
_CHUNK = 256 * 1024
_GLOB = frozenset("*?[")
_MAX_SUFFIX = 10_000  # numbered names tried in a done folder before a move gives up


def is_drop_pattern(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme.lower() in DROP_SCHEMES and any(c in _GLOB for c in parts.path)


def _target(url: str, auth: AuthSpec) -> SftpTarget:
    parts = urlsplit(url)
    password = unquote(parts.password) if parts.password else (auth.password or None)
    user = unquote(parts.username) if parts.username else (auth.username or None)
    path = _server_path(unquote(parts.path))
    return SftpTarget(parts.hostname or "", parts.port or 22, user, password, path)


def _server_path(url_path: str) -> str:
    """``/~/out`` is ``out`` (relative: the server resolves it in the login's home)."""
    if url_path == "/~":
        return "."
    return url_path[3:] if url_path.startswith("/~/") else url_path


def _done_folder(folder: str, done_dir: str) -> str:
    """``~/archive`` is in the login's home; another relative ``done_dir`` is beside."""
    if done_dir == "~" or done_dir.startswith("~/"):
        return done_dir[2:] or "."
    return posixpath.join(folder, done_dir)


def _shown(server_path: str) -> str:
    """A server path as the feeds file wrote it: ``~/out`` or ``/out``."""
    if server_path.startswith("/"):
        return server_path
    return "~" if server_path in ("", ".") else f"~/{server_path}"


def _with_path(url: str, server_path: str) -> str:
    parts = urlsplit(url)
    path = server_path if server_path.startswith("/") else f"/{_shown(server_path)}"
    return urlunsplit(parts._replace(path=quote(path)))


def free_names(name: str, taken: Collection[str]) -> Iterator[str]:
    """``name`` if it is free, then ``stem-1.ext``, ``stem-2.ext``, ... that are free."""
    stem, ext = posixpath.splitext(name)
    for n in range(_MAX_SUFFIX + 1):
        candidate = f"{stem}-{n}{ext}" if n else name
        if candidate not in taken:
            yield candidate


class DropTransport:
    """Reads file:// and sftp:// URLs: the :class:`~.transport.Transport` mounted for
    drop sources. It also lists drop folders and moves or deletes loaded files."""

    def __init__(
        self,
        auth: Mapping[str, AuthSpec] | None = None,
        sftp_limits: Mapping[str, SftpLimits] | None = None,
    ) -> None:
        self._auth = dict(auth or {})
        self._sftp = SftpSessions(sftp_limits)

    def auth_for(self, supplier_id: str) -> AuthSpec:
        return self._auth.get(supplier_id, AuthSpec())

    # -- listing ---------------------------------------------------------------------------
    async def list(self, pattern_url: str, supplier_id: str) -> list[str]:
        """The URLs of the files matching a drop pattern, sorted by name."""
        scheme = urlsplit(pattern_url).scheme.lower()
        if scheme == "file":
            return await asyncio.to_thread(_list_local, pattern_url)
        auth = self.auth_for(supplier_id)
        where = _target(pattern_url, auth)
        folder, glob = posixpath.split(where.path)
        async with self._sftp.channel(supplier_id, where, auth) as sftp:
            try:
                names = await sftp.listdir(folder or ".")
                files = [
                    posixpath.join(folder, n)
                    for n in sorted(names)
                    if fnmatch.fnmatchcase(n, glob) and await sftp.isfile(posixpath.join(folder, n))
                ]
            except asyncssh.SFTPNoSuchFile as exc:
                raise PermanentFetchError(
                    f"sftp: no such drop folder: {_shown(folder)} on {where.host}:{where.port}",
                    kind="not_found",
                ) from exc
            except asyncssh.SFTPPermissionDenied as exc:
                raise PermanentFetchError(
                    f"sftp: may not list {_shown(folder)} on {where.host}:{where.port}",
                    kind="forbidden",
                ) from exc
            except (OSError, asyncssh.Error) as exc:
                raise TransientFetchError(
                    f"sftp: cannot list {_shown(folder)}: {exc}", kind="connection"
                ) from exc
        return [_with_path(pattern_url, f) for f in files]

    # -- the Transport seam -------------------------------------------------------------------
    async def send(self, request: TransportRequest) -> TransportResponse:
        parts = urlsplit(request.url)
        if is_drop_pattern(request.url):  # its listing failed when the run was planned
            await self.list(request.url, request.supplier_id)  # raises the listing's error
            raise TransientFetchError("drop folder readable only now", kind="listing")
        if parts.scheme.lower() == "file":
            body = await asyncio.to_thread(_read_local, unquote(parts.path), request)
        else:
            body = await self._read_sftp(request)
        return TransportResponse(200, {}, body)

    async def _read_sftp(self, request: TransportRequest) -> Body:
        supplier_id = request.supplier_id
        auth = self.auth_for(supplier_id)
        where = _target(request.url, auth)
        spool = SpoolWriter(request.spool_threshold, request.spool_dir)
        try:
            async with (
                self._sftp.channel(supplier_id, where, auth) as sftp,
                sftp.open(where.path, "rb") as f,
            ):
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
            raise PermanentFetchError(
                f"sftp: no such file: {_shown(where.path)}", kind="not_found"
            ) from exc
        except (OSError, asyncssh.Error) as exc:
            spool.abort()
            raise TransientFetchError(f"sftp: read failed: {exc}", kind="connection") from exc
        except BaseException:
            spool.abort()
            raise
        return spool.finish()

    # -- after loading ----------------------------------------------------------------------
    async def finish(self, url: str, supplier_id: str, spec: DropSpec) -> str | None:
        """Move or delete a file that has loaded; never overwrites a file in ``done_dir``.

        Returns the name it was moved under when its own was taken there (``W1-1.edi``),
        else None. A failure is a :class:`FetchError`: the file stays where it was.
        """
        if spec.after == "keep":
            return None
        parts = urlsplit(url)
        if parts.scheme.lower() == "file":
            path = Path(unquote(parts.path))
            try:
                return await asyncio.to_thread(_finish_local, path, spec)
            except OSError as exc:
                raise TransientFetchError(
                    f"cannot move {path}: {exc.strerror}", kind="move"
                ) from exc
        auth = self.auth_for(supplier_id)
        where = _target(url, auth)
        async with self._sftp.channel(supplier_id, where, auth) as sftp:
            try:
                return await _finish_sftp(sftp, where.path, spec)
            except (OSError, asyncssh.Error) as exc:
                raise TransientFetchError(
                    f"sftp: cannot {spec.after} {_shown(where.path)}: {exc}", kind="move"
                ) from exc

    async def aclose(self) -> None:
        await self._sftp.aclose()


async def _finish_sftp(sftp: asyncssh.SFTPClient, path: str, spec: DropSpec) -> str | None:
    if spec.after == "delete":
        await sftp.remove(path)
        return None
    folder, name = posixpath.split(path)
    done = _done_folder(folder, spec.done_dir)
    await sftp.makedirs(done, exist_ok=True)
    # SFTP's rename never overwrites (OpenSSH refuses an existing name), so a name taken
    # between the listing and the rename fails it and the next free one is tried.
    for candidate in free_names(name, set(await sftp.listdir(done))):
        target = posixpath.join(done, candidate)
        try:
            await sftp.rename(path, target)
        except asyncssh.SFTPError:
            if await sftp.exists(target):
                continue
            raise
        return None if candidate == name else candidate
    raise asyncssh.SFTPFailure(f"no free name for {name} in {_shown(done)}")


def _list_local(pattern_url: str) -> list[str]:
    pattern = Path(unquote(urlsplit(pattern_url).path))
    folder = pattern.parent
    if not folder.is_dir():
        raise PermanentFetchError(f"no such drop folder: {folder}", kind="not_found")
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


def _finish_local(path: Path, spec: DropSpec) -> str | None:
    if spec.after == "delete":
        path.unlink(missing_ok=True)
        return None
    done = path.parent / spec.done_dir
    done.mkdir(parents=True, exist_ok=True)
    for candidate in free_names(path.name, set(os.listdir(done))):
        if _move_without_replacing(path, done / candidate):
            return None if candidate == path.name else candidate
    raise FileExistsError(errno.EEXIST, f"no free name for {path.name} in {done}")


def _move_without_replacing(path: Path, target: Path) -> bool:
    """Move ``path`` to ``target`` unless ``target`` exists; False if it does.

    A hard link fails atomically on an existing name, where rename would replace it.
    Where links do not work (another file system, some shares) the file is moved after
    a check for the name, as close to no-clobber as such a file system allows.
    """
    try:
        os.link(path, target)
    except FileExistsError:
        return False
    except OSError:
        if target.exists():
            return False
        shutil.move(path, target)
        return True
    path.unlink()
    return True
