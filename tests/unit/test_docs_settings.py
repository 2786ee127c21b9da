"""docs/operations.md has a table row for every setting: the platform's and every room's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from cachefront.config import ENV_PREFIX, Settings, env_name
from cachefront.services import ROOMS

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"

# A table row's first cell, e.g. "| `CACHEFRONT_HOST` / `_PORT` / `_WORKERS` |" or, in the
# tables headed "setting (`CACHEFRONT_...`)", "| `WORKER_IN_PROCESS` |".
_FIRST_CELL = re.compile(r"^\|([^|]+)\|", re.MULTILINE)
_CODE = re.compile(r"`([A-Z_][A-Z0-9_]*)`")


def documented_variables(text: str) -> set[str]:
    """Every ``CACHEFRONT_*`` variable the first cell of a table row names.

    A mention in prose is not a row: only the tables say a setting's default and meaning.

    ``CACHEFRONT_A_B`` followed by `` `_C` `` in one cell names ``CACHEFRONT_A_C`` (its
    last word replaced) and ``CACHEFRONT_A_B_C``-style siblings sharing a longer stem,
    as the tables write ``_BACKOFF_MAX_SECONDS`` after ``CACHEFRONT_UPSTREAM_BACKOFF_SECONDS``.
    """
    names: set[str] = set()
    for cell in _FIRST_CELL.findall(text):
        base: str | None = None
        for token in _CODE.findall(cell):
            if token.startswith(ENV_PREFIX):
                base = token
                names.add(token)
            elif token.startswith("_") and base is not None:
                words = base.split("_")
                # Replace one to three trailing words of the stem with the short form.
                for cut in range(1, 4):
                    names.add("_".join(words[:-cut]) + token)
            elif not token.startswith("_"):
                names.add(ENV_PREFIX + token)
    return names


def _models() -> list[type[BaseSettings]]:
    return [Settings, *(room.settings_model for room in ROOMS)]


def _variables() -> list[str]:
    return [env_name(field) for model in _models() for field in model.model_fields]


def test_the_parser_reads_every_form_the_tables_use() -> None:
    text = (
        "| `CACHEFRONT_HOST` / `_PORT` | x |\n"
        "| `CACHEFRONT_UPSTREAM_BACKOFF_SECONDS` / `_BACKOFF_MAX_SECONDS` | x |\n"
        "| `WORKER_IN_PROCESS` | x |\n"
        "prose naming CACHEFRONT_LOG_LEVEL.\n"
        "| `cachefront serve` | a command row naming `CACHEFRONT_DATA_DIR` in its second cell |\n"
    )
    found = documented_variables(text)
    assert {
        "CACHEFRONT_HOST",
        "CACHEFRONT_PORT",
        "CACHEFRONT_UPSTREAM_BACKOFF_MAX_SECONDS",
        "CACHEFRONT_WORKER_IN_PROCESS",
    } <= found
    assert "CACHEFRONT_LOG_LEVEL" not in found
    assert "CACHEFRONT_DATA_DIR" not in found


def test_every_room_contributes_settings() -> None:
    # Guards the test below against a list of rooms that silently came out empty.
    assert len(_models()) > 1
    assert all(model.model_fields for model in _models())


@pytest.mark.parametrize("variable", _variables())
def test_operations_md_documents_the_setting(variable: str) -> None:
    documented = documented_variables(OPERATIONS.read_text(encoding="utf-8"))
    assert variable in documented, f"{variable} has no row in docs/operations.md"
