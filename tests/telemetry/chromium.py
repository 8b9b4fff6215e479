"""Headless Chromium (Debian's ``chromium`` package) for the HTML report's tests.

Where it is missing the tests skip with a message saying how to install it, except under
``CI=true`` where they fail: ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

__all__ = ["WINDOW", "dump_dom", "require_chromium", "screenshot"]

WINDOW = (1100, 1500)  # the README screenshot's size too
_TIMEOUT = 120.0  # a hung browser fails the test instead of the whole run
_FLAGS = (
    "--headless",
    "--no-sandbox",  # root in a container: the sandbox cannot start
    "--disable-gpu",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--no-first-run",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
)


def require_chromium() -> str:
    """The browser's path; skips (fails under ``CI=true``) when it is not installed."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = (
        "chromium not found: the HTML report tests render the page in headless Chromium; "
        "install it with: apt-get install -y --no-install-recommends chromium"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {message}")
    pytest.skip(message)


def _run(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    home = {"HOME": str(profile), "XDG_CONFIG_HOME": str(profile / "config")}
    return subprocess.run(
        [browser, *_FLAGS, f"--user-data-dir={profile / 'profile'}", *args],
        capture_output=True,
        timeout=_TIMEOUT,
        check=True,
        env={**os.environ, **home},
    )


def dump_dom(browser: str, page: Path, profile: Path) -> str:
    """The page's DOM after Chromium loaded and laid it out."""
    return _run(browser, profile, "--dump-dom", page.resolve().as_uri()).stdout.decode()


def screenshot(
    browser: str, page: Path, out: Path, profile: Path, window: tuple[int, int] = WINDOW
) -> bytes:
    """A PNG of the page's first ``window`` pixels, written to ``out`` and returned."""
    _run(
        browser,
        profile,
        f"--screenshot={out.resolve()}",
        f"--window-size={window[0]},{window[1]}",
        page.resolve().as_uri(),
    )
    return out.read_bytes()
