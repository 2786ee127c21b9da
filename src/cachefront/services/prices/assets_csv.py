"""Reading asset lists from CSV: the columns, their checks, and the starter list shipped inside.

Columns ``symbol,name,type,provider,provider_id,currency`` are required, ``exchange``
and ``active`` optional, in any order (the header says which is which). Symbols and
provider ids are compared upper-case: ``btc`` and ``BTC`` are one asset. Every error
names the line and the column, so a file of a thousand rows is fixed in one pass.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from importlib import resources

from cachefront.services.prices.models import Asset, AssetType

__all__ = [
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "AssetCsvError",
    "load_starter_assets",
    "parse_assets_csv",
]

REQUIRED_COLUMNS = ("symbol", "name", "type", "provider", "provider_id", "currency")
OPTIONAL_COLUMNS = ("exchange", "active")
_TRUE = frozenset({"true", "yes", "1", "y", "t"})
_FALSE = frozenset({"false", "no", "0", "n", "f"})
STARTER_FILE = "starter_assets.csv"


class AssetCsvError(ValueError):
    """What is wrong with a CSV of assets: every problem found, each with its line and column."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def _flag(value: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


def parse_assets_csv(text: str) -> list[Asset]:
    """The assets of a CSV document; raises ``AssetCsvError`` listing every bad cell."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header_row = next(reader, None)
    if header_row is None or not any(cell.strip() for cell in header_row):
        raise AssetCsvError(["line 1: the file is empty; it needs a header row"])
    header = [cell.strip().lower() for cell in header_row]
    problems: list[str] = []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        problems.append(f"line 1: missing required column(s) {', '.join(missing)}")
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    unknown = [c for c in header if c not in known]
    if unknown:
        problems.append(
            f"line 1: unknown column(s) {', '.join(repr(c) for c in unknown)}; "
            f"the columns are {', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}"
        )
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        problems.append(f"line 1: column(s) given twice: {', '.join(repeated)}")
    if problems:
        raise AssetCsvError(problems)
    where = {name: header.index(name) for name in header}
    assets: list[Asset] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue  # blank lines separate groups in hand-written files
        if len(row) != len(header):
            problems.append(f"line {line}: {len(row)} fields where the header has {len(header)}")
            continue
        cells = {name: row[index].strip() for name, index in where.items()}
        asset = _asset(cells, line, problems)
        if asset is None:
            continue
        if asset.symbol in seen:
            problems.append(
                f"line {line}, column symbol: {asset.symbol!r} is already on line "
                f"{seen[asset.symbol]}"
            )
            continue
        seen[asset.symbol] = line
        assets.append(asset)
    if problems:
        raise AssetCsvError(problems)
    return assets


def _asset(cells: dict[str, str], line: int, problems: list[str]) -> Asset | None:
    before = len(problems)
    for column in REQUIRED_COLUMNS:
        if not cells[column]:
            problems.append(f"line {line}, column {column}: empty")
    kind: AssetType | None = None
    if cells["type"]:
        try:
            kind = AssetType(cells["type"].lower())
        except ValueError:
            allowed = ", ".join(t.value for t in AssetType)
            problems.append(f"line {line}, column type: {cells['type']!r} is not one of {allowed}")
    symbol = cells["symbol"].upper()
    if symbol and (len(symbol) > 32 or any(ch.isspace() for ch in symbol)):
        problems.append(
            f"line {line}, column symbol: {cells['symbol']!r} must be 1 to 32 characters "
            "without spaces"
        )
    active = True
    if cells.get("active"):
        flag = _flag(cells["active"])
        if flag is None:
            problems.append(f"line {line}, column active: {cells['active']!r} is not true or false")
        else:
            active = flag
    if len(problems) > before or kind is None:
        return None
    return Asset(
        symbol=symbol,
        name=cells["name"],
        type=kind,
        provider=cells["provider"].lower(),
        provider_id=cells["provider_id"].upper(),
        currency=cells["currency"].upper(),
        exchange=(cells.get("exchange") or "").upper() or None,
        active=active,
    )


def load_starter_assets() -> list[Asset]:
    """The starter list shipped with the package (a few crypto pairs, stocks, ETFs, FX)."""
    package = resources.files("cachefront.services.prices")
    return parse_assets_csv(package.joinpath("data", STARTER_FILE).read_text(encoding="utf-8"))
