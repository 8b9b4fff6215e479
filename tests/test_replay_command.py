"""``replay`` after a real run of generic XML feeds whose mapping was wrong: every letter
keeps the mapping its feed had (also when a worker process decoded it, processes:N), a
replay without the feeds file decodes with that stored mapping, and a replay with the
fixed feeds file loads every record once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from supplyfeed._sink.factory import open_sink
from supplyfeed.sim import TABLES, FleetSpec, LatencyModel, SupplierFleet

from .reliability.checker import KEY_COLUMNS, cli, finish

pytestmark = pytest.mark.slow

_FLEET = FleetSpec.generate(
    endpoints=6,
    hosts=2,
    records_per_endpoint=3,
    formats=("xml",),
    fault_rate=0.0,
    latency=LatencyModel(median=0.005, sigma=0.2, max=0.02),
    seed=12,
)
_SETTINGS = {"timeout_seconds": 2.0, "backoff_initial": 0.05, "backoff_max": 0.2}


def _feeds(fleet: SupplierFleet, path: Path, db: str, *, broken: bool) -> dict[str, Any]:
    doc = fleet.feeds_document(sink=db, defaults=_SETTINGS)
    for supplier in doc["suppliers"]:
        for feed in supplier["feeds"]:
            assert feed["format"] == "xml"
            if broken:  # an element path the payloads do not have: nothing decodes
                feed["mapping"]["records"] = "Nowhere/Item"
    path.write_text(yaml.safe_dump(doc))
    return doc


async def _lost_duplicated_unexpected(db: str, fleet: SupplierFleet) -> tuple[int, int, int]:
    truth = fleet.expected(attempts=3, timeout=2.0)
    sink = open_sink(db, lock=False)
    await sink.open()
    try:
        counts = [0, 0, 0]
        for table in TABLES:
            rows = await sink.table_rows(table)
            d = truth.compare(table, [tuple(r[c] for c in KEY_COLUMNS[table]) for r in rows])
            for i, found in enumerate((d.lost, d.duplicated, d.unexpected)):
                counts[i] += len(found)
        assert sum(len(truth.rows(t)) for t in TABLES) > 0
    finally:
        await sink.close()
    return counts[0], counts[1], counts[2]


@pytest.mark.parametrize("executor", ["local", "processes:2"])
async def test_letters_keep_the_feeds_mapping_and_replay_with_it(
    tmp_path: Path, executor: str
) -> None:
    """Run with a wrong records path: every endpoint quarantined, each letter holding
    that mapping. replay (no feeds file) uses it: still undecodable, naming the path.
    replay --feeds with the mapping fixed: loaded, nothing lost, duplicated or unexpected."""
    db = f"sqlite:///{tmp_path / 'xml.db'}"
    async with SupplierFleet(_FLEET, seed=12) as fleet:
        broken = _feeds(fleet, tmp_path / "broken.yaml", db, broken=True)
        code, output = await finish(
            await cli("run", str(tmp_path / "broken.yaml"), "--quiet", "--executor", executor)
        )
        assert code == 1, output
        code, output = await finish(await cli("dead-letters", "--db", db, "--json"))
        assert code == 0, output
        letters = json.loads(output)
        assert len(letters) == len(_FLEET.endpoints)
        mapping_of = {
            url: feed["mapping"]
            for supplier in broken["suppliers"]
            for feed in supplier["feeds"]
            for url in feed["urls"]
        }
        assert sorted(d["url"] for d in letters) == sorted(mapping_of)
        for d in letters:
            assert d["mapping"] == mapping_of[d["url"]], d
            assert d["mapping"]["records"] == "Nowhere/Item"

        code, output = await finish(await cli("replay", "--db", db))
        assert code == 1, output
        assert output.count("still undecodable") == len(letters), output
        assert "Nowhere/Item" in output, output

        _feeds(fleet, tmp_path / "fixed.yaml", db, broken=False)
        code, output = await finish(
            await cli("replay", "--db", db, "--feeds", str(tmp_path / "fixed.yaml"))
        )
        assert code == 0, output
        assert output.count("loaded") == len(letters), output
        assert await _lost_duplicated_unexpected(db, fleet) == (0, 0, 0)
