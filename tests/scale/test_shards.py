"""Shards keep every host and every supplier in one place; executor values parse or exit 2."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from supplyfeed._config import FeedSpec, SupplierSpec
from supplyfeed._exceptions import ConfigError
from supplyfeed._feedsfile import load_feeds_file
from supplyfeed._models import DocKind
from supplyfeed._run.plan import plan_endpoints
from supplyfeed._scale.shards import Shard, make_shards
from supplyfeed._scale.spec import ExecutorSpec, check_sink, parse_executor


def supplier(sid: str, *urls: str) -> SupplierSpec:
    return SupplierSpec(sid, (FeedSpec(DocKind.INVENTORY_SNAPSHOT, "json", tuple(urls)),))


def shard_of(shards: list[Shard], sid: str) -> int:
    return next(s.index for s in shards if sid in s.supplier_ids)


def test_a_host_and_a_supplier_each_live_in_exactly_one_shard() -> None:
    """A supplier on two hosts pulls both in; a host shared by two suppliers joins them."""
    suppliers = [
        supplier("A", "http://h1:80/a", "http://h2:80/a"),  # A spans h1 and h2
        supplier("B", "http://h2:80/b"),  # B shares h2 with A
        supplier("C", "http://h3:80/c"),
        supplier("D", "https://h3/d"),  # another scheme and port: another host
        supplier("E", "sftp://drop.example/out/*.edi"),  # a drop folder: one host
    ]
    shards = make_shards(suppliers, plan_endpoints(suppliers), count=10)
    assert shard_of(shards, "A") == shard_of(shards, "B")
    assert len({shard_of(shards, s) for s in "ACDE"}) == 4
    hosts = [h for s in shards for h in s.hosts]
    assert sorted(hosts) == sorted(set(hosts))  # no host in two shards
    ab = shards[shard_of(shards, "A")]
    assert set(ab.hosts) == {"http://h1:80", "http://h2:80"}
    assert ab.endpoints == 3


def test_components_are_packed_into_at_most_count_shards_heaviest_first() -> None:
    """Eight independent suppliers over 3 shards: balanced, none lost, none twice."""
    suppliers = [
        supplier(f"S{i}", *(f"http://h{i}:80/{n}" for n in range(i + 1))) for i in range(8)
    ]
    shards = make_shards(suppliers, plan_endpoints(suppliers), count=3)
    assert len(shards) == 3
    ids = [sid for s in shards for sid in s.supplier_ids]
    assert sorted(ids) == sorted(s.id for s in suppliers)
    loads = [s.endpoints for s in shards]
    assert loads == sorted(loads, reverse=True)
    assert sum(loads) == 36
    assert max(loads) - min(loads) <= 8  # LPT: within the largest component


def test_a_resume_shards_only_suppliers_with_work_left() -> None:
    """Endpoints already done are not in ``todo``: their supplier gets no shard."""
    suppliers = [supplier("A", "http://h1:80/a"), supplier("B", "http://h2:80/b")]
    todo = [p for p in plan_endpoints(suppliers) if p.endpoint.supplier_id == "B"]
    shards = make_shards(suppliers, todo, count=4)
    assert [s.supplier_ids for s in shards] == [("B",)]
    assert make_shards(suppliers, [], count=4) == []


def test_a_shard_crosses_a_process_boundary() -> None:
    """Shards and their suppliers pickle (they travel to worker processes and Dask)."""
    suppliers = [supplier("A", "http://h1:80/a")]
    [shard] = make_shards(suppliers, plan_endpoints(suppliers), count=1)
    assert pickle.loads(pickle.dumps(shard)) == shard


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("local", ExecutorSpec("local")),
        ("processes:3", ExecutorSpec("processes", workers=3)),
        ("dask://127.0.0.1:8786", ExecutorSpec("dask", address="tcp://127.0.0.1:8786")),
    ],
)
def test_executor_values_parse(text: str, spec: ExecutorSpec) -> None:
    """The three forms, and they print back as written."""
    assert parse_executor(text) == spec
    assert str(spec) == text


@pytest.mark.parametrize("text", ["process:2", "processes:0", "processes:x", "dask://host", ""])
def test_bad_executor_values_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_executor(text)


def test_dask_refuses_a_sink_its_workers_cannot_share() -> None:
    """SQLite and memory:// are local files/processes; PostgreSQL is fine."""
    dask = parse_executor("dask://127.0.0.1:8786")
    for url in ("sqlite:///x.db", "memory://"):
        with pytest.raises(ConfigError, match="postgresql://"):
            check_sink(dask, url)
    check_sink(dask, "postgresql://postgres@127.0.0.1/x")
    check_sink(parse_executor("processes:2"), "sqlite:///x.db")  # relayed to one writer


def feeds_file(tmp_path: Path, executor: str, sink: str = "sqlite:///x.db") -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(
        f"sink: {sink}\nexecutor: {executor}\nsuppliers:\n  - id: A\n    feeds:\n"
        "      - {kind: po_ack, format: json, urls: [http://127.0.0.1:9/a]}\n"
    )
    return path


def test_the_feeds_file_names_an_executor(tmp_path: Path) -> None:
    assert load_feeds_file(feeds_file(tmp_path, "processes:2")).executor.workers == 2
    with pytest.raises(ConfigError, match=r"feeds.yaml:2: key 'executor'"):
        load_feeds_file(feeds_file(tmp_path, "threads:2"))


def supplyfeed(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supplyfeed", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow  # CLI subprocesses
def test_cli_bad_executor_and_unshareable_sink_exit_2_in_one_line(tmp_path: Path) -> None:
    """--executor junk, and dask:// with a SQLite sink: exit 2, one line, no traceback."""
    feeds = feeds_file(tmp_path, "local")
    bad = supplyfeed("run", str(feeds), "--executor", "threads:2", cwd=tmp_path)
    assert bad.returncode == 2
    assert "unknown executor 'threads:2'" in bad.stderr
    refused = supplyfeed("run", str(feeds), "--executor", "dask://127.0.0.1:9", cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    [line] = refused.stderr.strip().splitlines()
    assert "needs a sink every worker can reach" in line
    assert "Traceback" not in refused.stderr
