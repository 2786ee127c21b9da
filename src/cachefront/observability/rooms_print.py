"""The rooms' own figures as rich tables, for ``cachefront stats --rooms``.

Rendered from the generic structure alone (``rooms.RoomFigures``), each value by its
unit, as the dashboard's ``rooms.js`` renders it: the platform never knows what a
room's figures mean. A series is printed as a table of its points.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import orjson
from rich.console import Console
from rich.table import Table

from cachefront.rooms import Cell, RoomFigures, Unit

__all__ = ["format_cell", "print_room_figures", "room_figures_json"]


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:,.1f} {unit}"
    return f"{seconds:,.1f} s"


def _bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:,.0f} B"


def format_cell(value: Cell, unit: Unit) -> str:
    """A value as a person reads it: ``-`` for none, else by its unit."""
    if value is None:
        return "-"
    if isinstance(value, bool | str):
        return str(value)
    if unit == "ratio":
        return f"{value:.1%}"
    if unit == "usd":
        return f"{value:,.4f}"
    if unit == "seconds":
        return _duration(value)
    if unit == "bytes":
        return _bytes(value)
    if isinstance(value, int) or (unit in ("count", "tokens") and value.is_integer()):
        return f"{int(value):,}"
    return f"{value:,.2f}"


def room_figures_json(rooms: Mapping[str, RoomFigures]) -> str:
    """The figures as the admin route's ``rooms`` member, indented for people and ``jq``."""
    doc = {name: room.model_dump(mode="json") for name, room in rooms.items()}
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()


def print_room_figures(rooms: Mapping[str, RoomFigures], console: Console) -> None:
    if not rooms:
        console.print("no room has figures of its own")
    for name, room in rooms.items():
        if room.error is not None:
            console.print(f"[bold red]{name}: {room.error}[/]")
            continue
        summary = Table("figure", "value", title=f"room {name}")
        for f in room.figures:
            text = format_cell(f.value, f.unit)
            summary.add_row(f.label, f"[yellow]{text}[/]" if f.status == "warn" else text)
        console.print(summary)
        for t in room.tables:
            table = Table(*t.columns, title=f"{name}: {t.title}")
            for row in t.rows:
                table.add_row(*(format_cell(v, u) for v, u in zip(row, t.units, strict=False)))
            console.print(table)
        for s in room.series:
            table = Table("time (UTC)", *s.lines, title=f"{name}: {s.title}")
            for i, at in enumerate(s.t):
                when = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M")
                table.add_row(when, *(format_cell(v[i], s.unit) for v in s.lines.values()))
            console.print(table)
