"""A real OpenSSH ``sshd`` on 127.0.0.1 for the SFTP tests, started and torn down by them.

:class:`RealSshd` writes its own ``sshd_config`` (a free port on 127.0.0.1, ``MaxSessions
10`` as shipped, ``Subsystem sftp internal-sftp``, no PAM), generates its host key and a
client key with ``ssh-keygen``, creates a throwaway system user whose password is made
up at run time (``useradd``, ``chpasswd``: the tests run as root) and runs ``sshd -D``
with its log in a file, so a test can count the logins the server saw. Everything is
removed at teardown, the user included.

Where sshd cannot run here (not installed, not root) :func:`unavailable` says why; the
fixture skips with that message, except under ``CI=true`` where it fails.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
HOST = "127.0.0.1"
_TOOLS = ("ssh-keygen", "useradd", "userdel", "chpasswd")


def unavailable() -> str | None:
    """Why a real sshd cannot run on this machine, or None when it can."""
    if not SSHD.is_file():
        return f"{SSHD} not installed (apt-get install openssh-server; .ci/run does)"
    missing = [t for t in _TOOLS if shutil.which(t) is None]
    if missing:
        return f"missing {', '.join(missing)}"
    if os.geteuid() != 0:
        return "a real sshd test must run as root (it starts sshd and adds a user)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _run(*cmd: str, stdin: str | None = None) -> None:
    subprocess.run(cmd, input=stdin, text=True, check=True, capture_output=True)


class RealSshd:
    """One sshd, one throwaway user; :meth:`start` and :meth:`stop` bracket a session."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="supplyfeed-sshd-"))
        self.user = f"sfq{secrets.token_hex(4)}"
        self.password = secrets.token_urlsafe(18)
        self.home = Path("/home") / self.user
        self.client_key = self.dir / "client_key"
        self.host_key = self.dir / "host_ed25519"
        self.known_hosts = self.dir / "known_hosts"
        self.log = self.dir / "sshd.log"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._user_made = False

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        os.chmod(self.dir, 0o755)  # sshd reads authorized_keys as the user
        host_key = self.host_key
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key))
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.client_key))
        shutil.copy(f"{self.client_key}.pub", self.dir / "authorized_keys")
        os.chmod(self.dir / "authorized_keys", 0o644)
        self._add_user()
        Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)  # privilege separation
        for _ in range(5):  # a free port can be taken between the probe and sshd's bind
            self.port = _free_port()
            if self._launch(host_key):
                break
        else:
            raise RuntimeError(f"sshd did not start: {self.log.read_text()[-2000:]}")
        public = Path(f"{host_key}.pub").read_text().split()
        self.known_hosts.write_text(f"[{HOST}]:{self.port} {public[0]} {public[1]}\n")

    def _add_user(self) -> None:
        _run("useradd", "--create-home", "--home-dir", str(self.home), "-s", "/bin/sh", self.user)
        self._user_made = True
        _run("chpasswd", stdin=f"{self.user}:{self.password}\n")

    def _config(self, host_key: Path) -> Path:
        cfg = self.dir / "sshd_config"
        cfg.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    f"ListenAddress {HOST}",
                    f"HostKey {host_key}",
                    f"PidFile {self.dir / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
                    f"AllowUsers {self.user}",
                    "UsePAM no",
                    "StrictModes no",
                    "PasswordAuthentication yes",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "PermitRootLogin no",
                    "MaxSessions 10",
                    "MaxAuthTries 6",
                    "LogLevel VERBOSE",
                    "Subsystem sftp internal-sftp",
                    "",
                ]
            )
        )
        return cfg

    def _launch(self, host_key: Path) -> bool:
        cfg = self._config(host_key)
        self.log.write_text("")
        self._proc = subprocess.Popen(
            [str(SSHD), "-D", "-f", str(cfg), "-E", str(self.log)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            if "Server listening" in self.log.read_text():
                return True
            time.sleep(0.02)  # a real process starting: no clock to inject
        self._proc.kill()
        self._proc.wait()
        return False

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        if self._user_made:
            subprocess.run(["userdel", "-r", "-f", self.user], capture_output=True, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- the user's files ----------------------------------------------------------------
    def give(self, path: Path) -> None:
        """Hand ``path`` (a folder under the home) and all below it to the user."""
        for p in [path, *path.rglob("*")]:
            os.chown(p, *self._ids())
        for parent in path.parents:
            if parent == self.home.parent:
                break
            os.chown(parent, *self._ids())

    def _ids(self) -> tuple[int, int]:
        st = self.home.stat()
        return st.st_uid, st.st_gid

    def reset_home(self) -> None:
        """Empty the home folder (between tests sharing the session's server)."""
        for p in self.home.iterdir():
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()

    # -- what the server saw ----------------------------------------------------------
    def log_count(self, text: str) -> int:
        """Lines of sshd's log that contain ``text`` (``Failed password``, ``Accepted``)."""
        return len(self.log_lines(text))

    def log_lines(self, text: str) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if text in line]
