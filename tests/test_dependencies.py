"""Every runtime dependency pyproject.toml declares is imported by the package: none is
declared and left unused (aiolimiter and defusedxml were, issue 18)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import tomllib

import pytest

from .conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # reads the metadata of every installed distribution


def _imported_modules() -> set[str]:
    """Top-level names of every module that ``src/supplyfeed`` imports."""
    found: set[str] = set()
    for path in (REPO_ROOT / "src" / "supplyfeed").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.partition(".")[0])
    return found


def test_every_declared_dependency_is_imported() -> None:
    """Each name under [project] dependencies provides a module the source imports."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    modules_of: dict[str, set[str]] = {}
    for module, dists in importlib.metadata.packages_distributions().items():
        for dist in dists:
            modules_of.setdefault(_normal(dist), set()).add(module)
    imported = _imported_modules()
    unused = []
    for requirement in project["dependencies"]:
        name = _normal(re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0])
        provides = modules_of.get(name, set())
        assert provides, f"{name} is declared but not installed"
        if not provides & imported:
            unused.append(name)
    assert unused == []


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
