"""SQL one way: every statement named in a package's sql/queries.sql, none built inline."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import cachefront
from cachefront.db.queries import load_queries, parse_queries

PACKAGE = Path(cachefront.__file__).parent
SOURCES = sorted(
    p for p in PACKAGE.rglob("*.py") if "migrations" not in p.relative_to(PACKAGE).parts
)
SQL_PACKAGES = sorted(
    "cachefront." + ".".join(p.parent.parent.relative_to(PACKAGE).parts)
    for p in PACKAGE.rglob("sql/queries.sql")
)
# What a statement starts with; an English sentence starts "Select ..." or "Delete ...".
_SQL_START = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|COPY)\s")


def _names_used(path: Path) -> set[str]:
    """Names looked up in a loaded query set: ``X.text("name")`` and ``X["name"]``."""
    used: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "text"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            used.add(node.args[0].value)
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
            and "queries" in ast.unparse(node.value).lower()
        ):
            used.add(node.slice.value)
    return used


def test_the_packages_with_sql_are_the_expected_ones() -> None:
    assert SQL_PACKAGES == [
        "cachefront.auth",
        "cachefront.cache",
        "cachefront.db",
        "cachefront.jobs",
        "cachefront.metrics",
        "cachefront.observability",
        "cachefront.services.ai",
        "cachefront.services.ephemeris",
        "cachefront.services.prices",
    ]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_name_used_in_code_is_in_its_packages_file(path: Path) -> None:
    # A room keeps its SQL in its own package (services/<room>/sql): the deepest
    # package with a queries file that holds the module is the one it may use.
    module = ".".join(("cachefront", *path.relative_to(PACKAGE).with_suffix("").parts))
    owners = [p for p in SQL_PACKAGES if module.startswith(p + ".")]
    package = max(owners, key=len) if owners else "cachefront." + path.relative_to(PACKAGE).parts[0]
    used = _names_used(path)
    if package not in SQL_PACKAGES:
        # A module outside the packages with SQL may look up none.
        assert not used or all(any(n in load_queries(p) for p in SQL_PACKAGES) for n in used)
        return
    assert used <= set(load_queries(package)), sorted(used - set(load_queries(package)))


def test_every_named_statement_is_used_somewhere() -> None:
    code = "\n".join(path.read_text() for path in SOURCES)
    unused = [
        f"{package}:{name}"
        for package in SQL_PACKAGES
        for name in load_queries(package)
        # Names built from a table name (metrics retention) appear as their prefix.
        if f'"{name}"' not in code and not any(f'f"{name[:i]}' in code for i in range(1, len(name)))
    ]
    assert not unused


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_builds_sql_from_string_literals(path: Path) -> None:
    literals = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value[:40]!r}"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and _SQL_START.match(node.value)
    ]
    assert not literals


def test_the_literal_check_sees_inline_sql() -> None:
    tree = ast.parse('Q = "SELECT 1"\nR = f"DELETE FROM {t} WHERE x"\nS = "Select a body"\n')
    found = [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and _SQL_START.match(n.value)
    ]
    assert found == ["SELECT 1", "DELETE FROM "]


def test_parse_takes_each_block_up_to_the_next_name() -> None:
    source = (
        "-- header, not a statement\n\n"
        "-- name: a\n-- why a\nSELECT 1;\n\n"
        "-- name: b_2\nSELECT\n  2\n"
    )
    assert parse_queries(source) == {"a": "SELECT 1", "b_2": "SELECT\n  2"}


def test_comment_lines_are_not_sent() -> None:
    source = "-- name: a\n-- rows since :since, for %(uid)s\nSELECT 1 -- trailing stays\n"
    assert parse_queries(source) == {"a": "SELECT 1 -- trailing stays"}


def test_parse_refuses_a_name_given_twice_or_without_a_statement() -> None:
    with pytest.raises(ValueError, match="'a' is given twice"):
        parse_queries("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n", origin="x.sql")
    with pytest.raises(ValueError, match="'b' has no statement"):
        parse_queries("-- name: b\n\n-- name: c\nSELECT 1;\n")


def test_an_unknown_name_says_which_file_and_what_it_has() -> None:
    queries = load_queries("cachefront.jobs")
    with pytest.raises(KeyError, match=r"cachefront/jobs/sql/queries.sql has no statement 'nope'"):
        queries.text("nope")


def test_each_package_is_read_once() -> None:
    assert load_queries("cachefront.cache") is load_queries("cachefront.cache")
