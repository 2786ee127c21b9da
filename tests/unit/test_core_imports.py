"""The core knows nothing of the metrics or the settings: both are injected from outside.

The recorder is handed to whatever counts calls; the settings are read by the composition
root (``cachefront.composition``), which hands the core plain values and policies.
"""

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


def _imports_of(package: str, module: str) -> set[str]:
    """Each import of ``module`` (or of a submodule) under ``package``, with its file."""
    sources = sorted((PACKAGE / package).rglob("*.py"))
    assert sources, f"no sources found under {package}/"
    return {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in sources
        for name in _imported_modules(path)
        if name == module or name.startswith(f"{module}.")
    }


@pytest.mark.parametrize("package", ["cache", "upstream"])
def test_the_core_imports_nothing_from_metrics(package: str) -> None:
    offenders = _imports_of(package, "cachefront.metrics")
    assert not offenders, sorted(offenders)


@pytest.mark.parametrize("package", ["cache", "upstream", "ratelimit"])
def test_the_core_imports_nothing_from_the_settings(package: str) -> None:
    offenders = _imports_of(package, "cachefront.config")
    assert not offenders, sorted(offenders)


def test_the_check_sees_a_settings_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from cachefront.config import Settings\n"
    )
    assert "cachefront.config" in _imported_modules(probe)


def test_the_check_sees_a_metrics_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from cachefront.metrics.context import current_tally\nimport cachefront.metrics\n"
    )
    assert {"cachefront.metrics.context", "cachefront.metrics"} <= _imported_modules(probe)
