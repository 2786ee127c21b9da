"""Named SQL statements: each package's ``sql/queries.sql``, read once when it is imported.

SQL worth reading stays SQL. A package keeps its statements together in one file,
each under a ``-- name: <name>`` line (aiosql's and procrastinate's convention), and
loads them once at import::

    QUERIES = load_queries("cachefront.cache")  # read once, however many modules ask
    ...
    await conn.execute(QUERIES.text("delete_expired_batch"), {...})

The text of a statement runs from its name line to the next one, without its comment
lines and the trailing semicolon. An unknown name raises ``KeyError`` naming the file and
the names it has, so a typo fails at the first call (and a test calls every one).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources

from sqlalchemy import TextClause, text

__all__ = ["Queries", "load_queries", "parse_queries"]

_NAME_LINE = re.compile(r"^--\s*name:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$", re.MULTILINE)


def parse_queries(source: str, *, origin: str = "<sql>") -> dict[str, str]:
    """The statements of ``source`` by name; a name given twice or a bodiless one is an error."""
    marks = list(_NAME_LINE.finditer(source))
    statements: dict[str, str] = {}
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        name = mark.group(1)
        end = following.start() if following is not None else len(source)
        # Comment lines are for the reader of the file: left out of what is sent, so a
        # parameter named in a comment (":since", "%(uid)s") is never taken for one.
        lines = source[mark.end() : end].splitlines()
        code = "\n".join(line for line in lines if not line.lstrip().startswith("--"))
        body = code.strip().rstrip(";").rstrip()
        if name in statements:
            raise ValueError(f"{origin}: the name {name!r} is given twice")
        if not body:
            raise ValueError(f"{origin}: {name!r} has no statement")
        statements[name] = body
    return statements


class Queries(Mapping[str, str]):
    """One package's named statements: ``queries[name]`` is the SQL, ``.text(name)`` a clause."""

    def __init__(self, statements: Mapping[str, str], *, origin: str) -> None:
        self._statements = dict(statements)
        self._clauses = {name: text(sql) for name, sql in self._statements.items()}
        self.origin = origin

    def __getitem__(self, name: str) -> str:
        try:
            return self._statements[name]
        except KeyError:
            raise KeyError(
                f"{self.origin} has no statement {name!r}; it has {sorted(self._statements)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._statements)

    def __len__(self) -> int:
        return len(self._statements)

    def text(self, name: str) -> TextClause:
        """The statement as a SQLAlchemy clause (``:name`` parameters), built once."""
        self[name]  # the error that names the file, for an unknown name
        return self._clauses[name]


@cache
def load_queries(package: str) -> Queries:
    """The statements of ``<package>/sql/queries.sql``, read once per process."""
    origin = f"{package.replace('.', '/')}/sql/queries.sql"
    source = resources.files(package).joinpath("sql", "queries.sql").read_text()
    return Queries(parse_queries(source, origin=origin), origin=origin)
