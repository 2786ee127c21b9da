"""Acceptance of the room contract: outside its rooms, the platform names no service in code.

Every module of ``src/cachefront`` but ``services/``, ``simulators/`` and
``db/migrations/`` is parsed; imports, identifiers, keyword arguments and string
literals (f-string parts included) must not contain a service's words. Docstrings and
comments may give examples, so they are not read.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import cachefront
from cachefront.services import ROOMS

PACKAGE = Path(cachefront.__file__).parent
ROOMS_AND_THEIR_TOOLS = ("services", "simulators", "db/migrations")
# Words of the one service there is (its upstream, its local library, its job), found
# anywhere in a name, and the name of every room in the list, found as a word of its
# own: a short room name ("ai") is part of many ordinary words ("main", "email").
SERVICE_WORDS = frozenset({"ephemeris", "horizons", "skyfield", "precompute"})
ROOM_NAMES = frozenset(room.name.lower() for room in ROOMS)
# Word boundaries: any non-letter, and the start of a capital in CamelCase.
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_NOT_LETTERS = re.compile(r"[^a-z]+")
# Names of other libraries that happen to spell a room's name as a word.
_NOT_A_SERVICE = frozenset({"AI_PASSIVE"})  # socket.getaddrinfo's flag

_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the Constant nodes that are docstrings."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, _DOCUMENTED) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                found.add(id(first.value))
    return found


def _names(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, text) of every import, identifier and string literal but docstrings."""
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Name):
            yield line, node.id
        elif isinstance(node, ast.Attribute):
            yield line, node.attr
        elif isinstance(node, ast.alias):
            yield line, node.name
            if node.asname:
                yield line, node.asname
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield line, node.module
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield line, node.name
        elif isinstance(node, ast.arg) or (isinstance(node, ast.keyword) and node.arg):
            yield line, node.arg
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            yield line, node.value


def _names_a_service(text: str) -> bool:
    lowered = text.lower()
    if any(word in lowered for word in SERVICE_WORDS):
        return True
    if text in _NOT_A_SERVICE:
        return False
    words = set(_NOT_LETTERS.split(_CAMEL.sub(" ", text).lower()))
    return not words.isdisjoint(ROOM_NAMES)


def service_names_in(source: str) -> list[tuple[int, str]]:
    """Where ``source`` names a service in code: (line, the name or string)."""
    return [(line, text) for line, text in _names(ast.parse(source)) if _names_a_service(text)]


def _platform_modules() -> list[Path]:
    excluded = [PACKAGE / part for part in ROOMS_AND_THEIR_TOOLS]
    return [
        path
        for path in sorted(PACKAGE.rglob("*.py"))
        if not any(path.is_relative_to(folder) for folder in excluded)
    ]


def test_the_platform_names_no_service() -> None:
    found = [
        f"{path.relative_to(PACKAGE)}:{line}: {text!r}"
        for path in _platform_modules()
        for line, text in service_names_in(path.read_text(encoding="utf-8"))
    ]
    assert not found, "the platform names a service:\n" + "\n".join(found)


def test_the_scan_reads_the_whole_platform() -> None:
    modules = {path.relative_to(PACKAGE).as_posix() for path in _platform_modules()}
    assert {"app.py", "config.py", "cli.py", "jobs/schedule.py", "ratelimit/groups.py"} <= modules
    assert not any(name.startswith(ROOMS_AND_THEIR_TOOLS) for name in modules)


def test_the_scan_finds_code_and_lets_docstrings_and_comments_be() -> None:
    source = '''
"""Module docstring: e.g. the ephemeris room."""
from cachefront.services.ephemeris.service import EphemerisService  # a comment: horizons
import skyfield.api as sky

def open_room(settings):
    """Docstring of a function: precompute, say."""
    group = route("/v1/ephemeris")
    size = settings.horizons_budget
    build(provider="x", precompute_hours=2)
    return f"{size} for Horizons"
'''
    flagged = {text for _, text in service_names_in(source)}
    assert flagged == {
        "cachefront.services.ephemeris.service",
        "EphemerisService",
        "skyfield.api",
        "/v1/ephemeris",
        "horizons_budget",
        "precompute_hours",
        " for Horizons",
    }


def test_room_names_are_found_as_words_not_inside_other_words() -> None:
    assert _names_a_service("cachefront.services.ai.room") == ("ai" in ROOM_NAMES)
    assert _names_a_service("AiService") == ("ai" in ROOM_NAMES)
    assert not _names_a_service("main")
    assert not _names_a_service("remaining email")
