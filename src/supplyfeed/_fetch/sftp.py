"""SFTP sessions of drop sources: one login per supplier and trust, a channel cap on each.

A connection is keyed by the supplier and by every setting that decides who we are and
whom we trust (host, port, user, password, key file, known_hosts file, ``tls_verify``),
so a supplier never rides on a connection another supplier's settings opened. It is
opened on first use and shared by that supplier's listings, reads and moves.

A login the server refuses (wrong password or key) or a host key we do not trust is
remembered for the rest of the run: the supplier's other patterns and files fail with
the same permanent error without logging in again (a partner's fail2ban counts every
attempt). A host-key refusal names the fingerprint the server offered and the
known_hosts file it was checked against.

Every SFTP operation (a listing, a read, a move) holds one channel while it runs.
Servers cap the channels per connection (OpenSSH ``MaxSessions``, 10 by default), so a
connection has at most ``sftp_max_channels`` (default 8) open at once, moves included.
The channels are kept and reused, not opened per operation: OpenSSH frees a session's
slot only once the process behind it has exited, after the channel closed, so a run
that opened and closed a channel per file met "no more sessions" with only 8 open
(measured against a real sshd, tests/supplier/test_sftp_real.py). A channel that an
operation left in an error is closed rather than reused. A channel the server still
refuses is a transient ``channel`` failure, retried like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import asyncssh

from .._config import AuthSpec
from .._exceptions import PermanentFetchError, TransientFetchError

__all__ = ["SftpLimits", "SftpSessions", "SftpTarget"]

# Seconds a closing run waits for the server to answer its channels' closes, in all.
_CLOSE_WAIT = 1.0


@dataclass(frozen=True, slots=True)
class SftpLimits:
    """A supplier's SFTP limits: channels open at once per connection, and the seconds
    allowed to connect, exchange keys and log in (``sftp_max_channels``,
    ``connect_timeout``)."""

    max_channels: int = 8
    connect_timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class SftpTarget:
    """Where an sftp:// URL points and who logs in; ``path`` is as the server takes it."""

    host: str
    port: int
    user: str | None
    password: str | None = field(repr=False)
    path: str


@dataclass(frozen=True, slots=True)
class _Identity:
    """Everything that decides a connection's identity and trust: its cache key."""

    supplier_id: str
    host: str
    port: int
    user: str | None
    password: str | None = field(repr=False)
    ssh_key: str
    known_hosts: str
    tls_verify: bool


@dataclass(slots=True)
class _Session:
    conn: asyncssh.SSHClientConnection
    channels: asyncio.Semaphore  # held by each operation: at most the cap at once
    idle: list[asyncssh.SFTPClient] = field(default_factory=list)  # open, free to reuse


class _HostKeyWitness(asyncssh.SSHClient):
    """Remembers the host key the server offered when it is not in known_hosts."""

    def __init__(self) -> None:
        self.offered: asyncssh.SSHKey | None = None

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        self.offered = key
        return False  # only known_hosts decides


class SftpSessions:
    """The SFTP connections of one run; ``limits`` by supplier id."""

    def __init__(self, limits: Mapping[str, SftpLimits] | None = None) -> None:
        self._limits = dict(limits or {})
        self._sessions: dict[_Identity, _Session] = {}
        self._locks: dict[_Identity, asyncio.Lock] = {}
        self._refused: dict[_Identity, PermanentFetchError] = {}

    @contextlib.asynccontextmanager
    async def channel(
        self, supplier_id: str, where: SftpTarget, auth: AuthSpec
    ) -> AsyncIterator[asyncssh.SFTPClient]:
        """An SFTP client on a channel of its own while the block runs, within the cap."""
        session = await self._session(_identity(supplier_id, where, auth))
        async with session.channels:
            client = session.idle.pop() if session.idle else await _open(session, where)
            try:
                yield client
            except BaseException:
                client.exit()  # its state is unknown (an error, a timeout): not reused
                raise
            session.idle.append(client)

    async def _session(self, ident: _Identity) -> _Session:
        async with self._locks.setdefault(ident, asyncio.Lock()):
            refused = self._refused.get(ident)
            if refused is not None:  # a fresh error each time: no shared traceback
                raise PermanentFetchError(str(refused), kind=refused.kind)
            session = self._sessions.get(ident)
            if session is None or session.conn.is_closed():
                limits = self._limits.get(ident.supplier_id, SftpLimits())
                conn = await self._login(ident, limits)
                session = _Session(conn, asyncio.Semaphore(limits.max_channels))
                self._sessions[ident] = session
            return session

    async def _login(self, ident: _Identity, limits: SftpLimits) -> asyncssh.SSHClientConnection:
        witness = _HostKeyWitness()
        try:
            return await asyncssh.connect(
                ident.host,
                ident.port,
                client_factory=lambda: witness,
                connect_timeout=limits.connect_timeout,  # TCP, key exchange, login
                **_options(ident),
            )
        except asyncssh.PermissionDenied as exc:
            err = PermanentFetchError(
                f"sftp: {ident.host}:{ident.port} refused the login of user {ident.user}; "
                "not tried again this run",
                kind="auth",
            )
            self._refused[ident] = err
            raise err from exc
        except asyncssh.HostKeyNotVerifiable as exc:
            err = PermanentFetchError(_host_key_message(ident, witness.offered), kind="tls")
            self._refused[ident] = err
            raise err from exc
        except (OSError, asyncssh.Error) as exc:
            raise TransientFetchError(
                f"sftp: cannot connect to {ident.host}:{ident.port}: {type(exc).__name__}",
                kind="connect",
            ) from exc

    async def aclose(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for s in sessions:
            for client in s.idle:
                client.exit()
            # The server answers each channel's close before the connection goes: closed
            # at once, the server's reply met a lost connection (asyncio's "socket.send()
            # raised exception" in the demo, whose simulated SFTP server shares the loop).
            with contextlib.suppress(TimeoutError):  # a server that never answers
                async with asyncio.timeout(_CLOSE_WAIT):
                    for client in s.idle:
                        await client.wait_closed()
            s.conn.close()
            await s.conn.wait_closed()


async def _open(session: _Session, where: SftpTarget) -> asyncssh.SFTPClient:
    try:
        return await session.conn.start_sftp_client()
    except asyncssh.ChannelOpenError as exc:
        raise TransientFetchError(
            f"sftp: {where.host}:{where.port} refused a channel: {exc.reason}", kind="channel"
        ) from exc
    except (OSError, asyncssh.Error) as exc:
        raise TransientFetchError(
            f"sftp: connection to {where.host}:{where.port} lost: {exc}", kind="connection"
        ) from exc


def _identity(supplier_id: str, where: SftpTarget, auth: AuthSpec) -> _Identity:
    return _Identity(
        supplier_id,
        where.host,
        where.port,
        where.user,
        where.password,
        auth.ssh_key,
        auth.known_hosts,
        auth.tls_verify,
    )


def _options(ident: _Identity) -> dict[str, object]:
    """asyncssh options from the feeds file alone: no ~/.ssh/config, no ssh-agent."""
    options: dict[str, object] = {
        "username": ident.user,
        "password": ident.password,
        "client_keys": [ident.ssh_key] if ident.ssh_key else None,
        "agent_path": None,
        "config": None,
    }
    if not ident.tls_verify:
        options["known_hosts"] = None
    elif ident.known_hosts:
        options["known_hosts"] = ident.known_hosts
    # else asyncssh's default: ~/.ssh/known_hosts
    return options


def _host_key_message(ident: _Identity, offered: asyncssh.SSHKey | None) -> str:
    where = ident.known_hosts or "~/.ssh/known_hosts"
    key = (
        f"{offered.get_algorithm()} {offered.get_fingerprint()}" if offered is not None else "a key"
    )
    return (
        f"sftp: host key of {ident.host}:{ident.port} not trusted: the server offered "
        f"{key}, which is not in {where}"
    )
