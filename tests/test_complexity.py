"""No function in src/ has a cyclomatic complexity above 15 (radon), issue 19."""

from __future__ import annotations

from radon.complexity import cc_visit

from .conftest import REPO_ROOT

LIMIT = 15
SRC = REPO_ROOT / "src" / "supplyfeed"


def _complexities() -> dict[str, int]:
    found: dict[str, int] = {}
    for path in sorted(SRC.rglob("*.py")):
        for block in cc_visit(path.read_text(encoding="utf-8")):
            for b in [block, *getattr(block, "methods", [])]:
                name = f"{b.classname}.{b.name}" if getattr(b, "classname", None) else b.name
                found[f"{path.relative_to(SRC)}:{name}"] = int(b.complexity)
    return found


def test_no_function_is_more_complex_than_the_limit() -> None:
    over = {name: cc for name, cc in _complexities().items() if cc > LIMIT}
    assert over == {}, f"over {LIMIT}: {over}"
