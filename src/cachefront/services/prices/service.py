"""Prices domain logic: latest prices and batches through the tiered cache, history, refresh.

A latest price is cached per symbol. A read of any number of symbols does one batch
read of the cache tiers per provider, and the misses of each provider are fetched in
one provider call (``latest`` takes a list of ids), so a batch of a thousand symbols
costs at most one call per provider. The periodic refresh re-prices every active asset
the same way, keeping reads hits: all Binance assets in one call, Yahoo's in
multi-symbol batches, and stocks, ETFs and FX only while their market trades (plus one
refresh after the close, for the closing price); a price written while its market is
closed stays fresh until the market opens, so a weekend costs no stock calls at all.

A user does not wait on a slow provider past the user deadline (``cache.overtime``):
the last price is served with ``stale: true``, or the symbol is listed as failed, and
the provider's answer, when it comes, is stored for the next reader.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cachefront.cache import Cached, CachePolicy, Fetched, Tier, TieredCache, compute_etag
from cachefront.cache.entry import tier_rank
from cachefront.errors import InvalidInputError, NotFoundError, UpstreamError, UpstreamTimeoutError
from cachefront.services.prices.keys import (
    HISTORY_NAMESPACE,
    LATEST_NAMESPACE,
    history_key,
    latest_key,
    normalize_symbol,
)
from cachefront.services.prices.markets import MarketHours
from cachefront.services.prices.models import Asset, LatestQuotes
from cachefront.services.prices.providers import PriceProvider
from cachefront.services.prices.service_backfill import Advance, Backfiller, BackfillReport
from cachefront.services.prices.service_catalog import AssetCatalog
from cachefront.services.prices.service_ports import AssetDirectory, CandleStore
from cachefront.services.prices.service_records import (
    batch_body,
    history_body,
    parse_range,
    price_record,
    served_resolution,
    with_source,
)
from cachefront.upstream import Priority

__all__ = ["Answer", "PricesService", "RefreshReport"]

log = logging.getLogger(__name__)

# A closed market's prices stay fresh until it opens, but never longer than this: a
# calendar that is wrong about a holiday costs at most this much staleness.
_MAX_CLOSED_FRESH = timedelta(days=4)
# Looked up once per price of a batch: plain dicts, not enum attribute access.
_SOURCES = {tier: tier.value for tier in Tier}
_RANKS = {tier: tier_rank(tier) for tier in Tier}


@dataclass(frozen=True, slots=True)
class Answer:
    """A JSON body ready to serve, with what the cache headers are built from."""

    body: bytes
    etag: str
    tier: Tier
    stored_at: float
    fresh_until: float


@dataclass(slots=True)
class RefreshReport:
    """What one refresh did: assets priced per provider, skipped as closed, failures."""

    priced: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    closed: int = 0
    unavailable: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class PricesService:
    def __init__(
        self,
        cache: TieredCache,
        assets: AssetDirectory,
        history: CandleStore,
        providers: Mapping[str, PriceProvider],
        *,
        markets: MarketHours | None = None,
        refresh_seconds: float = 60.0,
        stale_days: float = 7.0,
        batch_max_symbols: int = 1000,
        history_fresh_seconds: float = 60.0,
        hourly_fresh_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cache = cache
        self.catalog = AssetCatalog(assets)
        self.directory = assets
        self.history_store = history
        self.providers = dict(providers)
        self.markets = markets if markets is not None else MarketHours()
        self.refresh_seconds = refresh_seconds
        self.batch_max_symbols = batch_max_symbols
        # Wall-clock time the service judges market hours by; tests drive it.
        self.clock = clock
        self._stale = timedelta(days=stale_days)
        # One refresh interval and a margin: a refresh that runs a little late does not
        # let prices go stale and send readers' revalidations to the provider.
        self.policy = CachePolicy(
            fresh_for=timedelta(seconds=refresh_seconds * 1.25), stale_for=self._stale
        )
        self.history_policy = CachePolicy(
            fresh_for=timedelta(seconds=history_fresh_seconds),
            stale_for=timedelta(days=1),
            # The database is the record of stored history; the cache keeps answers near.
            tiers=("memory", "redis"),
        )
        self.hourly_policy = CachePolicy(
            fresh_for=timedelta(seconds=hourly_fresh_seconds), stale_for=timedelta(days=1)
        )

    # --- latest prices -------------------------------------------------------------------
    async def latest(self, symbol: str) -> Answer:
        """The latest price of ``symbol``; 404 naming close matches when it is unknown."""
        wanted = normalize_symbol(symbol)
        found, _ = await self.catalog.find([wanted])
        asset = found.get(wanted)
        if asset is None or not asset.active:
            raise await self._unknown(wanted, asset)
        answers, failures = await self._read({wanted: asset})
        cached = answers.get(wanted)
        if cached is None:
            if wanted in failures:
                raise failures[wanted]
            raise await self._unknown(wanted, asset)
        entry = cached.entry
        if cached.tier is Tier.STALE:
            body = with_source(entry.value, asset.provider, stale=True)
            return Answer(body, compute_etag(body), cached.tier, entry.stored_at, entry.fresh_until)
        return Answer(entry.value, entry.etag, cached.tier, entry.stored_at, entry.fresh_until)

    async def batch(self, symbols: Sequence[str]) -> Answer:
        """Latest prices of ``symbols`` (deduplicated, in the order asked).

        Cached prices come from one batch read of the tiers per provider; the misses of
        each provider are fetched in one call. Symbols the table lacks are listed in
        ``unknown``, those no provider could price now (and with no last price) in
        ``failed``.
        """
        wanted = list(dict.fromkeys(normalize_symbol(s) for s in symbols if s.strip()))
        if not wanted:
            raise InvalidInputError("name at least one symbol", field="symbols")
        if len(wanted) > self.batch_max_symbols:
            raise InvalidInputError(
                f"{len(wanted)} symbols, more than the limit of {self.batch_max_symbols}",
                field="symbols",
            )
        found, unknown = await self.catalog.find(wanted)
        priced = {s: a for s, a in found.items() if a.active}
        unknown += [s for s, a in found.items() if not a.active]
        answers, failures = await self._read(priced)
        parts: list[bytes] = []
        cached = fetched = 0
        tier = Tier.MEMORY
        stored_at = fresh_until = float("inf")
        for symbol in wanted:
            answer = answers.get(symbol)
            if answer is None:
                continue
            entry = answer.entry
            if answer.tier is Tier.UPSTREAM:
                fetched += 1
                parts.append(entry.value)
            else:
                cached += 1
                parts.append(
                    with_source(entry.value, _SOURCES[answer.tier], stale=answer.tier is Tier.STALE)
                )
            if _RANKS[answer.tier] > _RANKS[tier]:
                tier = answer.tier
            stored_at = min(stored_at, entry.stored_at)
            fresh_until = min(fresh_until, entry.fresh_until)
        # Known symbols the provider did not price (it no longer knows them) count as unknown.
        missing = set(unknown) | {s for s in priced if s not in answers and s not in failures}
        body = batch_body(
            parts,
            cached=cached,
            fetched=fetched,
            unknown=[s for s in wanted if s in missing],
            failed=[s for s in wanted if s in failures],
        )
        if not parts:
            stored_at = fresh_until = self.clock()
        return Answer(body, _batch_etag(wanted, answers, body), tier, stored_at, fresh_until)

    async def _read(
        self, assets: Mapping[str, Asset], priority: Priority = "user"
    ) -> tuple[dict[str, Cached], dict[str, UpstreamError]]:
        """Prices of ``assets`` (cached or fetched), and the providers' failures by symbol."""
        groups: dict[str, dict[str, Asset]] = {}
        for symbol, asset in assets.items():
            groups.setdefault(asset.provider, {})[symbol] = asset
        outcomes = await asyncio.gather(
            *(self._read_provider(name, group, priority) for name, group in groups.items())
        )
        answers: dict[str, Cached] = {}
        failures: dict[str, UpstreamError] = {}
        for found, failed in outcomes:
            answers.update(found)
            failures.update(failed)
        return answers, failures

    async def _read_provider(
        self, name: str, assets: dict[str, Asset], priority: Priority
    ) -> tuple[dict[str, Cached], dict[str, UpstreamError]]:
        keys = [latest_key(symbol) for symbol in assets]
        provider = self.providers.get(name)
        try:
            if provider is None:
                raise UpstreamError(name, f"provider {name!r} is not configured")
            fetcher = _LatestFetcher(self, provider, assets, priority)
            found = await self.cache.get_many_or_fetch(LATEST_NAMESPACE, keys, fetcher, self.policy)
            return found, {}
        except UpstreamError as exc:
            error = exc
        # The provider failed for some keys: what the tiers hold, even stale, still answers.
        answers: dict[str, Cached] = {}
        failures: dict[str, UpstreamError] = {}
        for key in keys:
            try:
                cached = await self.cache.get(LATEST_NAMESPACE, key, self.policy)
            except NotFoundError:
                cached = None
            if cached is None:
                failures[key] = error
            else:
                answers[key] = cached
        return answers, failures

    async def _unknown(self, symbol: str, asset: Asset | None) -> NotFoundError:
        if asset is not None:
            return NotFoundError(
                f"{symbol} is not priced: {asset.provider} does not know {asset.provider_id!r}"
            )
        matches = await self.directory.close_matches(symbol)
        hint = f"; did you mean {', '.join(matches)}?" if matches else ""
        return NotFoundError(f"unknown symbol {symbol!r}{hint}")

    def policy_for(self, assets: Sequence[Asset], now: float) -> CachePolicy:
        """The normal policy, or, when every asset's market is closed, fresh until it opens."""
        opens: list[float] = []
        for asset in assets:
            next_open = self.markets.next_open(asset, now)
            if next_open is None or self.markets.is_open(asset, now):
                return self.policy
            opens.append(next_open)
        if not opens:
            return self.policy
        fresh = min(timedelta(seconds=min(opens) - now), _MAX_CLOSED_FRESH)
        if fresh <= self.policy.fresh_for:
            return self.policy
        return CachePolicy(fresh_for=fresh, stale_for=self._stale)

    def encode(
        self, provider: str, assets: Sequence[Asset], quotes: LatestQuotes
    ) -> dict[str, bytes]:
        """Stored records of the assets ``quotes`` priced, by cache key."""
        values: dict[str, bytes] = {}
        for asset in assets:
            quote = quotes.quotes.get(asset.provider_id)
            if quote is not None:
                values[latest_key(asset.symbol)] = price_record(asset, quote, provider)
        return values

    async def forget(self, provider: str, provider_ids: frozenset[str]) -> None:
        """Mark ids the provider does not know as unavailable; refresh skips them from now on."""
        for provider_id in sorted(provider_ids):
            await self.directory.mark_unavailable(provider, provider_id)
            log.warning(
                "%s does not know %s: marked unavailable",
                provider,
                provider_id,
                extra={"action": "prices.asset_unavailable"},
            )
        if provider_ids:
            self.catalog.invalidate()

    # --- history ---------------------------------------------------------------------------
    async def history(self, symbol: str, range_name: str) -> Answer:
        """Candles of ``symbol`` over a named range, as the history route serves them."""
        spec = parse_range(range_name)
        wanted = normalize_symbol(symbol)
        found, _ = await self.catalog.find([wanted])
        asset = found.get(wanted)
        if asset is None:
            raise await self._unknown(wanted, None)
        key = history_key(wanted, spec.name, 0)

        async def fetch() -> bytes:
            end = datetime.fromtimestamp(self.clock(), UTC)
            start = end - spec.span if spec.span is not None else datetime(1970, 1, 1, tzinfo=UTC)
            if spec.on_demand:
                provider = self.providers.get(asset.provider)
                if provider is None:
                    raise UpstreamError(asset.provider, "provider is not configured")
                call = provider.history(
                    asset.provider_id, spec.resolution, start, end, priority="user"
                )
                future = await self.cache.overtime.within(call, _ignore)
                if future is None or not future.done():
                    raise UpstreamTimeoutError(
                        asset.provider,
                        f"no answer within the user deadline ({self.cache.overtime.deadline:g} s)",
                    )
                candles = future.result()
                resolution = spec.resolution
            else:
                resolution = served_resolution(spec, self.history_store.kept_for)
                candles = await self.history_store.read(asset, resolution, start, end)
            return history_body(wanted, spec, candles, resolution)

        policy = self.hourly_policy if spec.on_demand else self.history_policy
        cached = await self.cache.get_or_fetch(HISTORY_NAMESPACE, key, fetch, policy)
        entry = cached.entry
        return Answer(entry.value, entry.etag, cached.tier, entry.stored_at, entry.fresh_until)

    # --- backfill --------------------------------------------------------------------------
    async def backfill(
        self,
        symbols: Sequence[str] | None = None,
        *,
        years: int = 10,
        advance: Advance | None = None,
    ) -> BackfillReport:
        """Store ``years`` of daily candles of ``symbols`` (default every active asset)."""
        if symbols:
            wanted = list(dict.fromkeys(normalize_symbol(s) for s in symbols if s.strip()))
            found, unknown = await self.catalog.find(wanted)
            if unknown:
                raise InvalidInputError(f"unknown symbols: {', '.join(unknown)}", field="symbols")
            assets = [found[s] for s in wanted]
        else:
            assets = sorted(await self.catalog.active(), key=lambda a: a.symbol)
        today = datetime.fromtimestamp(self.clock(), UTC).date()
        backfiller = Backfiller(
            self.history_store, self.providers, mark_unavailable=self.directory.mark_unavailable
        )
        report = await backfiller.run(assets, years=years, today=today, advance=advance)
        if report.written:
            # Range reads may run on a replica: let it replay the bars before the cached
            # ranges go, or the next read would cache its older view again.
            await self.history_store.reads_caught_up()
        for symbol in report.written:
            # A range read before the backfill was cached with what was stored then.
            await self.cache.invalidate(HISTORY_NAMESPACE, prefix=f"{symbol}:")
        if report.unavailable:
            self.catalog.invalidate()
        return report

    # --- refresh ---------------------------------------------------------------------------
    def due(self, asset: Asset, now: float) -> bool:
        """Whether refresh prices ``asset`` now: its market trades, or closed since the last run."""
        if self.markets.is_open(asset, now):
            return True
        closed = self.markets.closed_since(asset, now)
        # One refresh after the close records the closing price, fresh until the open.
        return closed is not None and now - closed < self.refresh_seconds

    async def refresh(self) -> RefreshReport:
        """Re-price every active asset whose market trades, one call per provider (batched)."""
        now = self.clock()
        assets = await self.catalog.active()
        await self.markets.load(assets, now=now)
        report = RefreshReport()
        groups: dict[str, list[Asset]] = {}
        for asset in assets:
            if asset.provider not in self.providers:
                continue
            if self.due(asset, now):
                groups.setdefault(asset.provider, []).append(asset)
            else:
                report.closed += 1
        await asyncio.gather(
            *(self._refresh_provider(name, group, now, report) for name, group in groups.items())
        )
        return report

    async def _refresh_provider(
        self, name: str, assets: list[Asset], now: float, report: RefreshReport
    ) -> None:
        provider = self.providers[name]
        try:
            quotes = await provider.latest([a.provider_id for a in assets], priority="background")
        except UpstreamError as exc:
            # Readers keep the last prices (stale) until the provider answers again.
            report.failed[name] = exc.detail
            log.warning(
                "refresh of %d %s prices failed: %s",
                len(assets),
                name,
                exc.detail,
                extra={"action": "prices.refresh_failed", "provider": name},
            )
            return
        report.calls[name] = 1
        await self.forget(name, quotes.unavailable)
        report.unavailable += sorted(quotes.unavailable)
        # Assets whose market is closed now keep their price until it opens.
        by_policy: dict[CachePolicy, list[Asset]] = {}
        for asset in assets:
            by_policy.setdefault(self.policy_for([asset], now), []).append(asset)
        priced = 0
        for policy, group in by_policy.items():
            values = self.encode(name, group, quotes)
            priced += len(values)
            await self.cache.put_many(LATEST_NAMESPACE, values, policy)
        report.priced[name] = priced


def _batch_etag(wanted: Sequence[str], answers: Mapping[str, Cached], body: bytes) -> str:
    """A weak ETag of what the batch says, whichever tier answered each price.

    The body names the tier of each price (``source``), so the same prices read from
    Redis and then from memory differ in bytes but not in meaning: weak, so a client or
    a CDN revalidating gets its 304 (If-None-Match compares weakly).
    """
    parts = [
        b"%s=%s%s"
        % (
            symbol.encode(),
            answers[symbol].entry.etag.encode() if symbol in answers else b"-",
            b"!" if symbol in answers and answers[symbol].tier is Tier.STALE else b"",
        )
        for symbol in wanted
    ]
    # The unknown and failed lists are the body's tail; a change there changes the tag.
    tail = body[body.rfind(b'"unknown":') :]
    return "W/" + compute_etag(b"\n".join([*parts, tail]))


async def _ignore(_: object) -> None:
    """Hourly candles that came after the deadline: the next reader asks again."""


@dataclass(slots=True)
class _LatestFetcher:
    """Fetches the latest prices of one provider's missing symbols in one call."""

    service: PricesService
    provider: PriceProvider
    assets: dict[str, Asset]
    priority: Priority

    async def __call__(self, keys: list[str]) -> Mapping[str, bytes]:
        wanted = [self.assets[key] for key in keys]
        call = self.provider.latest([a.provider_id for a in wanted], priority=self.priority)
        if self.priority != "user":
            quotes = await call
        else:
            overtime = self.service.cache.overtime
            future = await overtime.within(call, self._store_late(wanted))
            if future is None or not future.done():
                raise UpstreamTimeoutError(
                    self.provider.name,
                    f"no answer within the user deadline ({overtime.deadline:g} s)",
                )
            quotes = future.result()
        service = self.service
        await service.forget(self.provider.name, quotes.unavailable)
        values = service.encode(self.provider.name, wanted, quotes)
        policy = service.policy_for(wanted, service.clock())
        return values if policy is service.policy else Fetched(values, policy=policy)

    def _store_late(self, wanted: list[Asset]) -> Callable[[LatestQuotes], Awaitable[None]]:
        service = self.service
        name = self.provider.name

        async def store(quotes: LatestQuotes) -> None:
            values = service.encode(name, wanted, quotes)
            await service.cache.put_many(
                LATEST_NAMESPACE, values, service.policy_for(wanted, service.clock())
            )

        return store
