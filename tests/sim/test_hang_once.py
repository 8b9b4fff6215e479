"""The simulator's "hang once" fault and exact fault mixes (issue 17's benchmark)."""

from __future__ import annotations

from collections import Counter

from supplyfeed.sim import Fault, FleetSpec


def test_hang_once_is_loaded_by_a_client_that_tries_again() -> None:
    once = Fault.hang(times=1)
    assert once.misbehaves_on(1)
    assert not once.misbehaves_on(2)
    assert once.outcome(attempts=2, timeout=5.0) == "loaded"
    assert once.outcome(attempts=1, timeout=5.0) == "failed"
    assert Fault.hang().outcome(attempts=3, timeout=5.0) == "failed"


def test_an_exact_mix_gives_each_kind_its_share() -> None:
    mix = {"hang_once": 3.0, "not_found": 17.0}
    spec = FleetSpec.generate(
        endpoints=500, records_per_endpoint=1, formats=("json",), fault_rate=0.2,
        fault_mix=mix, exact_mix=True, seed=4,
    )  # fmt: skip
    kinds = Counter((e.fault.kind, e.fault.times) for e in spec.endpoints if e.fault is not None)
    assert kinds == {("hang", 1): 15, ("not_found", None): 85}
