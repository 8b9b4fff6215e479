"""``--executor`` values: ``local``, ``processes:N`` or ``dask://HOST:PORT``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from .._exceptions import ConfigError

__all__ = ["ExecutorSpec", "check_sink", "parse_executor"]

_USAGE = "use local, processes:N or dask://HOST:PORT"


@dataclass(frozen=True, slots=True)
class ExecutorSpec:
    """Where a run's endpoints run: here, in N local processes, or on a Dask cluster."""

    kind: Literal["local", "processes", "dask"]
    workers: int = 1  # processes:N
    address: str = ""  # dask: the scheduler, tcp://HOST:PORT

    def __str__(self) -> str:
        if self.kind == "processes":
            return f"processes:{self.workers}"
        return f"dask://{self.address.removeprefix('tcp://')}" if self.kind == "dask" else "local"


LOCAL = ExecutorSpec("local")


def parse_executor(value: str, *, key: str = "executor") -> ExecutorSpec:
    """The executor ``value`` names; a ConfigError (exit 2) for anything else."""
    text = value.strip()
    if text == "local":
        return LOCAL
    if text.startswith("processes"):
        return _processes(text, key)
    if text.startswith("dask://"):
        hostport = text.removeprefix("dask://").rstrip("/")
        host, sep, port = hostport.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigError(f"{value!r}: a Dask scheduler is dask://HOST:PORT", key=key)
        return ExecutorSpec("dask", address=f"tcp://{hostport}")
    raise ConfigError(f"unknown executor {value!r}: {_USAGE}", key=key)


def _processes(text: str, key: str) -> ExecutorSpec:
    _, sep, count = text.partition(":")
    if not sep:  # ``processes``: one per core
        return ExecutorSpec("processes", workers=os.cpu_count() or 1)
    if not count.isdigit() or int(count) < 1:
        raise ConfigError(f"{text!r}: processes:N needs a whole number N >= 1", key=key)
    return ExecutorSpec("processes", workers=int(count))


def check_sink(spec: ExecutorSpec, sink_url: str) -> None:
    """Workers on other machines need a database they can all reach: PostgreSQL.

    A SQLite file (or ``memory://``) is local to the coordinator. ``processes:N`` relays
    the rows of its local workers to that one writer; a Dask cluster's workers may run
    anywhere, so a non-shared sink is refused before anything starts.
    """
    if spec.kind != "dask" or sink_url.startswith(("postgresql://", "postgres://")):
        return
    raise ConfigError(
        f"the {spec} executor needs a sink every worker can reach: {sink_url} is local to "
        "this machine; use a postgresql:// sink (or --executor processes:N)",
        key="sink",
    )
