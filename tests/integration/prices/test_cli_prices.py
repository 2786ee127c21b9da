"""`cachefront assets ...` and `cachefront prices backfill`, run as a user runs them."""

from __future__ import annotations

import os
import random
import re
import string
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.services.prices.assets import AssetStore
from cachefront.services.prices.simulators import RunningBinance


def cachefront(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cachefront", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def binance() -> Iterator[RunningBinance]:
    with RunningBinance(seed=3, symbols=["BTCUSDT", "ETHUSDT", "ETHBTC"]) as running:
        yield running


@pytest.fixture
def env(database_url: str, redis_url: str, binance: RunningBinance) -> dict[str, str]:
    return {
        "CACHEFRONT_DATABASE_URL": database_url,
        "CACHEFRONT_REDIS_URL": redis_url,
        "CACHEFRONT_BINANCE_URL": binance.base_url,
        "CACHEFRONT_PRICES_PROVIDERS": "binance",
        "CACHEFRONT_MIGRATE_ON_START": "false",
        # Wide enough that rich's tables never wrap a cell the tests look for.
        "COLUMNS": "250",
    }


@pytest.fixture
def tag() -> str:
    return "".join(random.choices(string.ascii_uppercase, k=4))


def test_import_then_reimport_counts_and_lists(
    tmp_path: Path, env: dict[str, str], tag: str
) -> None:
    csv = tmp_path / "assets.csv"
    rows = [
        f"{tag}A,Alpha,crypto,binance,{tag}AUSDT,USD",
        f"{tag}B,Beta,crypto,binance,{tag}BUSDT,USD",
    ]
    csv.write_text("symbol,name,type,provider,provider_id,currency\n" + "\n".join(rows) + "\n")
    first = cachefront("assets", "import", str(csv), env=env)
    assert first.returncode == 0, first.stderr
    assert "inserted 2, updated 0, unchanged 0" in first.stdout
    csv.write_text(csv.read_text().replace("Beta", "Beta Two"))
    again = cachefront("assets", "import", str(csv), env=env)
    assert "inserted 0, updated 1, unchanged 1" in again.stdout
    listed = cachefront("assets", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert f"{tag}A" in listed.stdout
    assert "Beta Two" in listed.stdout


def test_a_bad_csv_is_refused_naming_the_line(tmp_path: Path, env: dict[str, str]) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("symbol,name,type,provider,provider_id,currency\nX,X,bond,binance,XUSDT,USD\n")
    result = cachefront("assets", "import", str(csv), env=env)
    assert result.returncode == 1
    assert "line 2" in result.stderr


async def test_sync_registers_trading_usdt_pairs(env: dict[str, str], engine: AsyncEngine) -> None:
    result = cachefront("assets", "sync", "binance", env=env)
    assert result.returncode == 0, result.stderr
    assert "inserted" in result.stdout
    found = await AssetStore(engine).by_symbols(["BTC", "ETH"])
    # ETHBTC is quoted in BTC: not registered; BTCUSDT and ETHUSDT are, unless another
    # provider's asset already holds the symbol.
    for symbol in ("BTC", "ETH"):
        if found[symbol].provider == "binance":
            assert found[symbol].provider_id == f"{symbol}USDT"


async def test_backfill_stores_history_and_resumes(
    tmp_path: Path, env: dict[str, str], tag: str, engine: AsyncEngine
) -> None:
    csv = tmp_path / "one.csv"
    csv.write_text(
        f"symbol,name,type,provider,provider_id,currency\n{tag}K,K,crypto,binance,{tag}KUSDT,USD\n"
    )
    assert cachefront("assets", "import", str(csv), env=env).returncode == 0
    first = cachefront("prices", "backfill", "--years", "1", "--symbols", f"{tag}K", env=env)
    assert first.returncode == 0, first.stderr
    again = cachefront("prices", "backfill", "--years", "1", "--symbols", f"{tag}K", env=env)
    assert again.returncode == 0, again.stderr
    first_row = next(line for line in first.stdout.splitlines() if "│" in line and "1" in line)
    assert "36" in first_row  # 365 or 366 candles written
    again_row = next(line for line in again.stdout.splitlines() if "│" in line and "1" in line)
    assert again_row.split("│")[2].strip() == "0"  # none written: all stored
    # Each run was a prices-backfill job, in the job API with its progress.
    ids = [_job_id(run.stderr) for run in (first, again)]
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT type, status, progress, owner, params FROM jobs WHERE id = ANY(:ids)"),
                {"ids": ids},
            )
        ).all()
    assert len(rows) == 2
    for row in rows:
        assert (row.type, row.status, row.progress, row.owner) == (
            "prices-backfill",
            "succeeded",
            1.0,
            "service",
        )
        assert row.params == {"years": 1, "symbols": [f"{tag}K"]}


def _job_id(stderr: str) -> uuid.UUID:
    match = re.search(r"job ([0-9a-f-]{36})", stderr)
    assert match is not None, stderr
    return uuid.UUID(match.group(1))


def test_a_backfill_of_an_unknown_symbol_fails_naming_it(env: dict[str, str], tag: str) -> None:
    result = cachefront("prices", "backfill", "--years", "1", "--symbols", f"{tag}NOPE", env=env)
    assert result.returncode == 1
    assert f"{tag}NOPE" in result.stderr
    assert "failed" in result.stderr
