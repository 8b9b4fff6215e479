"""A simulated partner SFTP server: a drop folder of rendered supplier files on 127.0.0.1.

:class:`SftpDrop` serves a :class:`~supplyfeed.sim.FleetSpec` as files instead of URLs:
every endpoint becomes one file, its documents rendered by the sim's renderers (X12,
EDIFACT, JSON, CSV, ...), at ``{the endpoint path's folder}/{format}/{file name}`` so
that each (supplier, kind, format) has a folder of its own and one glob lists it. An
endpoint with a ``malformed`` fault gets a corrupt file (the only fault a file can
have); :meth:`SftpDrop.expected` is the ground truth, as for an HTTP fleet.

The server is asyncssh's, in process: a fresh ed25519 host key per start (written to a
``known_hosts`` file for the client), one user who may log in with a made-up password
(handed to clients through an environment variable, as a feeds file names real
secrets) or with a generated client key, and SFTP chrooted to the drop folder.
:attr:`SftpDrop.stats` counts what the server saw (logins begun, passwords refused, the
most SFTP sessions open at once on one connection), and ``max_sessions`` refuses sessions
past a limit as OpenSSH's ``MaxSessions`` does. The files, their feeds-file entries and
their truth are a :class:`DropBatch`, which a real sshd in the tests serves as well.
"""

from __future__ import annotations

import posixpath
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import asyncssh
from asyncssh.stream import SSHServerStreamSession

from .client_view import decoded_view, meeting_endpoints
from .fleet_spec import EndpointSpec, FleetSpec
from .ports import HOST, listen_socket
from .render import get_corrupter, get_renderer
from .server import feed_entry
from .truth import GroundTruth, build_truth

__all__ = ["DropBatch", "ServerStats", "SftpDrop", "drop_path"]


def drop_path(ep: EndpointSpec) -> str:
    """Where ``ep``'s file lies on the server (absolute, inside the chroot)."""
    folder, name = posixpath.split(ep.path)
    return posixpath.join(folder or "/", ep.format, name)


@dataclass(frozen=True, slots=True)
class _File:
    endpoint: EndpointSpec
    path: str
    body: bytes


class ServerStats:
    """What the server saw: logins begun, passwords refused, SFTP sessions per connection.

    ``max_sessions`` refuses a session past that many open on one connection, as
    OpenSSH's ``MaxSessions`` does (None: no limit); ``peak_sessions`` is the most
    that were open at once on one connection.
    """

    def __init__(self, max_sessions: int | None) -> None:
        self.max_sessions = max_sessions
        self.logins = 0
        self.refused_passwords = 0
        self.refused_sessions = 0
        self.peak_sessions = 0
        self._open: Counter[object] = Counter()

    def admit(self, conn: object) -> bool:
        if self.max_sessions is not None and self._open[conn] >= self.max_sessions:
            self.refused_sessions += 1
            return False
        self._open[conn] += 1
        self.peak_sessions = max(self.peak_sessions, self._open[conn])
        return True

    def closed(self, conn: object) -> None:
        self._open[conn] -= 1


class _Login(asyncssh.SSHServer):
    """Password login for one user (keys are checked by asyncssh itself)."""

    def __init__(self, username: str, password: str, stats: ServerStats, chroot: bytes) -> None:
        self._username = username
        self._password = password
        self._stats = stats
        self._chroot = chroot
        self._conn: object = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn

    def begin_auth(self, username: str) -> bool:
        self._stats.logins += 1
        return True  # every user must authenticate

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        ok = username == self._username and secrets.compare_digest(password, self._password)
        self._stats.refused_passwords += not ok
        return ok

    def session_requested(self) -> SSHServerStreamSession[bytes] | bool:
        # asyncssh asks only when listen() has no sftp_factory: the SFTP server starts here.
        if not self._stats.admit(self._conn):
            return False  # the client sees a ChannelOpenError, as from OpenSSH
        chroot, stats = self._chroot, self._stats
        return SSHServerStreamSession(
            None,
            lambda chan: _CountedSftp(
                cast("asyncssh.SSHServerChannel[bytes]", chan), chroot, stats
            ),
            sftp_version=3,
        )


class _CountedSftp(asyncssh.SFTPServer):
    """The chrooted SFTP server, telling :class:`ServerStats` when its session ends."""

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], chroot: bytes, stats: ServerStats):
        super().__init__(chan, chroot=chroot)
        self._stats = stats
        self._conn = chan.get_connection()

    def exit(self) -> None:
        self._stats.closed(self._conn)
        super().exit()


class DropBatch:
    """``spec``'s endpoints as drop files, their feeds-file entries and their ground truth.

    Files lie at :func:`drop_path` under a drop root; a server of any kind (the in-process
    :class:`SftpDrop`, a real OpenSSH ``sshd`` a test starts) serves them from there.
    """

    def __init__(self, spec: FleetSpec) -> None:
        for ep in spec.endpoints:
            if ep.fault is not None and ep.fault.kind != "malformed":
                raise ValueError(f"a drop file can only be malformed, not {ep.fault.kind}")
        self.spec = spec
        self.files = [_file(ep) for ep in spec.endpoints]
        paths = [f.path for f in self.files]
        if len(set(paths)) != len(paths):
            raise ValueError("two endpoints would be the same file")

    def write(self, root: Path) -> list[Path]:
        """(Re)write every file under ``root``, as a partner drops a new batch."""
        written = []
        for f in self.files:
            target = root / f.path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(f.body)
            written.append(target)
        return written

    def suppliers(self, base_url: str, auth: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Feeds-file suppliers with one glob URL per (supplier, kind, format) folder:
        ``{base_url}{folder}/*{ext}``, every supplier with ``auth``."""
        groups: dict[str, dict[tuple[str, str], list[str]]] = {}
        for f in self.files:
            ep = f.endpoint
            folder, name = posixpath.split(f.path)
            ext = posixpath.splitext(name)[1]
            url = f"{base_url}{folder}/*{ext}"
            urls = groups.setdefault(ep.supplier_id, {}).setdefault((ep.kind.value, ep.format), [])
            if url not in urls:
                urls.append(url)
        return [
            {
                "id": sid,
                "auth": dict(auth),
                "feeds": [feed_entry(kind, fmt, urls) for (kind, fmt), urls in feeds.items()],
            }
            for sid, feeds in groups.items()
        ]

    def truth(self, base_url: str) -> GroundTruth:
        """The ground truth by file URL (``base_url`` + path): a malformed file is
        quarantined, the rest load. Files whose documents meet (a snapshot split across
        files) are decoded as a client reads them (see client_view.py)."""
        bodies = {(f.endpoint.host, f.endpoint.path): f.body for f in self.files}
        return build_truth(
            ((f"{base_url}{f.path}", f.endpoint, len(f.body)) for f in self.files),
            attempts=1,
            timeout=1e9,  # files have no latency
            max_payload_bytes=1 << 62,
            view=decoded_view(
                lambda ep, _round: bodies[(ep.host, ep.path)],
                meeting_endpoints(self.spec.endpoints),
            ),
        )


class SftpDrop:
    """Serve ``spec``'s endpoints as files over SFTP while the ``async with`` block runs.

    ``directory`` is the server's own: the drop folder (``root``, the SFTP chroot) and
    the keys (``client_key``, ``known_hosts``) are made inside it. ``port`` 0 is an
    ephemeral port; a fixed port that is taken falls back to one (:attr:`moved_port`).
    """

    def __init__(
        self,
        spec: FleetSpec,
        directory: Path,
        *,
        port: int = 0,
        username: str = "edi",
        password_env: str = "SIM_SFTP_PASSWORD",
        max_sessions: int | None = None,
    ) -> None:
        self.batch = DropBatch(spec)
        self.spec = spec
        self.root = directory / "drop"
        self.client_key = directory / "ssh" / "client_key"
        self.known_hosts = directory / "ssh" / "known_hosts"
        self.username = username
        self.password_env = password_env
        self.password = secrets.token_urlsafe(18)
        self.moved_port: tuple[int, int] | None = None  # (wanted, got) when it was taken
        self.stats = ServerStats(max_sessions)
        self._wanted = port
        self._port = 0
        self._server: asyncssh.SSHAcceptor | None = None

    # -- lifecycle ----------------------------------------------------------------------
    async def __aenter__(self) -> SftpDrop:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("SFTP server already started")
        self.populate()
        host_key = asyncssh.generate_private_key("ssh-ed25519")
        client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key.parent.mkdir(parents=True, exist_ok=True)
        client_key.write_private_key(str(self.client_key))
        chroot = str(self.root).encode()
        username, password, stats = self.username, self.password, self.stats
        sock = listen_socket(self._wanted)
        try:
            self._server = await asyncssh.listen(
                sock=sock,
                server_host_keys=[host_key],
                authorized_client_keys=asyncssh.import_authorized_keys(
                    client_key.export_public_key().decode()
                ),
                server_factory=lambda: _Login(username, password, stats, chroot),
            )
        except BaseException:
            sock.close()
            raise
        self._port = int(self._server.sockets[0].getsockname()[1])
        if self._wanted and self._port != self._wanted:
            self.moved_port = (self._wanted, self._port)
        public = host_key.export_public_key().decode().strip()
        self.known_hosts.write_text(f"[{HOST}]:{self._port} {public}\n")

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    def populate(self) -> None:
        """(Re)write every file of the drop folder, as a partner drops a new batch."""
        self.batch.write(self.root)

    # -- addresses ----------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the SFTP server is not running")
        return self._port

    @property
    def env(self) -> dict[str, str]:
        """The environment a client logging in with the password needs."""
        return {self.password_env: self.password}

    def url_of(self, ep: EndpointSpec) -> str:
        """The file's URL, without credentials."""
        return f"sftp://{HOST}:{self.port}{drop_path(ep)}"

    def local_path(self, ep: EndpointSpec) -> Path:
        """Where ``ep``'s file lies on this machine (inside :attr:`root`)."""
        return self.root / drop_path(ep).lstrip("/")

    # -- what clients are told and what they must end with ------------------------------
    def suppliers(self, *, login: str = "password") -> list[dict[str, Any]]:
        """Feeds-file suppliers (docs/contract.md §3) with one glob URL per (supplier, kind,
        format).

        ``login="password"``: the password in the URL as ``${password_env}``;
        ``login="key"``: the user and the client key in ``auth``. Either way the host key
        is checked against :attr:`known_hosts`.
        """
        if login not in ("password", "key"):
            raise ValueError("login is 'password' or 'key'")
        userinfo = f"{self.username}:${{{self.password_env}}}@" if login == "password" else ""
        auth: dict[str, Any] = {"known_hosts": str(self.known_hosts)}
        if login == "key":
            auth.update(username=self.username, ssh_key=str(self.client_key))
        return self.batch.suppliers(f"sftp://{userinfo}{HOST}:{self.port}", auth)

    def feeds_document(
        self,
        sink: str = "sqlite:///supplyfeed.db",
        defaults: Mapping[str, object] | None = None,
        *,
        login: str = "password",
    ) -> dict[str, Any]:
        doc: dict[str, Any] = {"sink": sink}
        if defaults:
            doc["defaults"] = dict(defaults)
        doc["suppliers"] = self.suppliers(login=login)
        return doc

    def expected(self) -> GroundTruth:
        """The ground truth by file URL: a malformed file is quarantined, the rest load."""
        return self.batch.truth(f"sftp://{HOST}:{self.port}")


def _file(ep: EndpointSpec) -> _File:
    body = get_renderer(ep.format)(ep.documents, ep.kind, seed=ep.render_seed)
    if ep.fault is not None:
        body = get_corrupter(ep.format)(body)
    return _File(ep, drop_path(ep), body)
