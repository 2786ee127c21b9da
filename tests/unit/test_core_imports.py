"""The core (cache, upstream) knows nothing of the metrics: they are injected from outside."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import cachefront

PACKAGE = Path(cachefront.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("package", ["cache", "upstream"])
def test_the_core_imports_nothing_from_metrics(package: str) -> None:
    sources = sorted((PACKAGE / package).rglob("*.py"))
    assert sources, f"no sources found under {package}/"
    offenders = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in sources
        for name in _imported_modules(path)
        if name == "cachefront.metrics" or name.startswith("cachefront.metrics.")
    }
    assert not offenders, sorted(offenders)


def test_the_check_sees_a_metrics_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from cachefront.metrics.context import current_tally\nimport cachefront.metrics\n"
    )
    assert {"cachefront.metrics.context", "cachefront.metrics"} <= _imported_modules(probe)
