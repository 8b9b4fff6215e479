"""Listening sockets on 127.0.0.1: a fixed port when asked and free, else an ephemeral one.

A simulated fleet on fixed ports keeps its URLs from one process to the next, so a second
run against it finds the same endpoints (ledger keys and HTTP cache entries contain the
port). A fixed port that another process holds is no reason to fail: the server takes
an ephemeral port instead and says so (:func:`listen_socket`'s caller compares ports).
"""

from __future__ import annotations

import errno
import socket
from typing import Final

__all__ = ["HOST", "listen_socket"]

HOST: Final = "127.0.0.1"
_TAKEN: Final = frozenset({errno.EADDRINUSE, errno.EACCES})


def listen_socket(port: int = 0) -> socket.socket:
    """A bound (not yet listening) non-blocking TCP socket on 127.0.0.1.

    ``port`` 0 is an ephemeral port; another port is used when it is free and replaced by
    an ephemeral one when it is taken or not allowed. The caller owns the socket (aiohttp's
    ``SockSite`` and ``asyncssh.listen(sock=...)`` take it over).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # TIME_WAIT connections of a previous run must not keep its ports.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            if port == 0 or exc.errno not in _TAKEN:
                raise
            sock.bind((HOST, 0))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
