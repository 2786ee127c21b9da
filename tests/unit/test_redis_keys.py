"""The Redis key schemas: pinned byte for byte, and spelled nowhere but cachefront.redis_keys."""

from __future__ import annotations

import ast
from pathlib import Path

import cachefront
from cachefront.redis_keys import (
    budget_key_prefix,
    cache_key,
    cache_key_pattern,
    hold_key,
    lock_key,
    ratelimit_key,
    ratelimit_key_prefix,
)

SRC = Path(cachefront.__file__).parent
KEYS_MODULE = SRC / "redis_keys.py"
# Parts of key names that only a key schema would contain.
KEY_PARTS = (":v1:", ":lock:", "ratelimit_v", "budget_v", "hold_v")


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the string nodes that are docstrings (prose may name keys)."""
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _key_parts_spelled(path: Path) -> list[str]:
    """``file:line: text`` for each string in code (f-string parts too) with a key part."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = _docstrings(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skip
            and any(part in node.value for part in KEY_PARTS)
        ):
            found.append(f"{path.relative_to(SRC)}:{node.lineno}: {node.value!r}")
    return found


def test_only_the_keys_module_spells_key_names() -> None:
    spelled = [
        line
        for path in sorted(SRC.rglob("*.py"))
        if path != KEYS_MODULE
        for line in _key_parts_spelled(path)
    ]
    assert spelled == []


def test_the_check_sees_the_keys_module_itself() -> None:
    # The scan above would pass vacuously if it could not see key parts at all.
    spelled = "\n".join(_key_parts_spelled(KEYS_MODULE))
    for part in KEY_PARTS:
        assert part in spelled


def test_key_names_stay_byte_identical() -> None:
    # Live keys (counters, budgets, cached entries) are read by every deployed process:
    # a change here is a migration, and needs a new schema version.
    assert cache_key("cf", "eph", "mars:2024") == "cf:v1:c:eph:mars:2024"
    assert lock_key("cf", "eph", "mars:2024") == "cf:v1:lock:eph:mars:2024"
    assert cache_key_pattern("cf", "eph", "a*") == r"cf:v1:c:eph:a\**"
    assert ratelimit_key_prefix("cf") == "cf:ratelimit_v3:"
    assert ratelimit_key("cf", "general", "ip:1.2.3.4") == "cf:ratelimit_v3:general/ip:1.2.3.4"
    assert budget_key_prefix("cf") == "cf:budget_v1"
    assert hold_key("cf", "binance") == "cf:hold_v1:binance"
