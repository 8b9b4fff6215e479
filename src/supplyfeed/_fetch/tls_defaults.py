"""aiohttp's default TLS contexts, their CA certificates loaded on the first HTTPS request.

aiohttp builds two ``SSLContext`` objects when it is imported (``connector.py``: the
verifying one and the one for ``ssl=False``), and loading the system's CA certificates
into each (``set_default_verify_paths``) is about 65 ms of ``supplyfeed run``'s start, paid
even when no feed is HTTPS. :func:`import_aiohttp` imports it with those loads deferred
(only the ones this thread makes during the import); :func:`tls_ready` makes them, once,
before the first HTTPS request: the transport calls it for every hop (a redirect may lead
from http to https), the OAuth token fetch for its token URL. Only the CLI defers
(``_cli/commands.py``): a program that imports supplyfeed gets aiohttp as usual, so its
own HTTPS requests through aiohttp's defaults are never surprised.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
import threading

__all__ = ["import_aiohttp", "load_deferred", "tls_ready"]

_pending: list[ssl.SSLContext] = []  # built without their CA certificates, not yet used
_lock = threading.Lock()


def import_aiohttp() -> None:
    """Import aiohttp, deferring the CA loads of the contexts it builds meanwhile (a no-op
    when it is imported already)."""
    if "aiohttp" in sys.modules:
        return
    original = ssl.SSLContext.set_default_verify_paths
    importer = threading.get_ident()

    def deferred(self: ssl.SSLContext) -> None:
        if threading.get_ident() != importer:  # another thread's context: load it now
            original(self)
            return
        _pending.append(self)

    ssl.SSLContext.set_default_verify_paths = deferred  # type: ignore[method-assign]
    try:
        import aiohttp  # noqa: F401
    finally:
        ssl.SSLContext.set_default_verify_paths = original  # type: ignore[method-assign]


def load_deferred() -> None:
    """Make the deferred CA loads. The list empties only once all are done, so a request
    that finds it empty never meets a context half loaded."""
    with _lock:
        for context in _pending:
            context.set_default_verify_paths()
        _pending.clear()


async def tls_ready(url: str) -> None:
    """Before a request to ``url``: an HTTPS one waits for the deferred loads (in a
    thread: they read the CA files). Nothing deferred: one list check."""
    if _pending and url[:6].lower() == "https:":
        await asyncio.to_thread(load_deferred)
