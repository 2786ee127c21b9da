"""The AI gateway's domain service: resolve the model, read the cache, coalesce, call providers.

One request goes: the catalog resolves its model to a chain of providers; a repeatable
request (``keys.is_repeatable``) is looked up in the cache under the key of each
provider of the chain; on a miss it joins the flight of an identical request in
progress (in this process, or through Redis in another), or starts one. A flight tries
the chain in order: 429/5xx are retried by the provider within the deadline, then the
next provider is asked; only a complete answer (a stream that ended with ``[DONE]``) is
stored, under the key of the provider that gave it. A flight is bracketed by the usage
gate's ``reserve``, taken by the caller that starts it before it exists, and ``settle``;
a caller joining one is only ``check``-ed against its own quota, so a caller's 429 is
its own and a follower gets nothing but the provider's answer or failure.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import orjson

from cachefront.cache import CachePolicy, TieredCache
from cachefront.errors import UpstreamError
from cachefront.services.ai.estimate import maximum_tokens
from cachefront.services.ai.flight import Flight, FlightError, Flights
from cachefront.services.ai.keys import answer_key, is_repeatable
from cachefront.services.ai.models import EMBEDDINGS, AiRequest, Delivery
from cachefront.services.ai.openai_errors import AiRequestError
from cachefront.services.ai.providers import (
    Catalog,
    OpenAICompatibleProvider,
    ProviderFailure,
    Target,
)
from cachefront.services.ai.providers.openai_compatible import DONE
from cachefront.services.ai.quota_headers import QuotaState, ratelimit_headers
from cachefront.services.ai.shared_flight import Lease, SharedFlights
from cachefront.services.ai.stored import StoredAnswer, decode_answer, encode_answer
from cachefront.services.ai.usage import CallUsage, Reservation, UnlimitedUsage, UsageGate

__all__ = ["CACHE_NS", "AiService"]

log = logging.getLogger(__name__)

CACHE_NS = "ai"
# What an answer may use when the request names no max_tokens, for the quota's hold.
DEFAULT_ANSWER_CAP = 1024

Emit = Callable[[bytes], Awaitable[None]]


def _usage_of(payloads: Sequence[bytes]) -> tuple[int | None, int | None]:
    for payload in reversed(payloads):
        if b'"usage"' not in payload:
            continue
        try:
            usage = orjson.loads(payload).get("usage")
        except (orjson.JSONDecodeError, AttributeError):
            continue
        if isinstance(usage, dict):
            return usage.get("prompt_tokens"), usage.get("completion_tokens")
    return None, None


def _is_usage_chunk(payload: bytes) -> bool:
    """The chunk OpenAI sends for ``include_usage``: no choices, only usage."""
    if b'"usage"' not in payload:
        return False
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    return isinstance(doc, dict) and doc.get("choices") == [] and "usage" in doc


async def _replay(payloads: Sequence[bytes], keep_usage: bool) -> AsyncIterator[bytes]:
    for payload in payloads:
        if keep_usage or not _is_usage_chunk(payload):
            yield payload


async def _follow(flight: Flight, keep_usage: bool) -> AsyncIterator[bytes]:
    async for payload in flight.follow():
        if keep_usage or not _is_usage_chunk(payload):
            yield payload


class AiService:
    """Answers chat completions and embeddings for callers, from cache or providers."""

    def __init__(
        self,
        cache: TieredCache,
        providers: Sequence[OpenAICompatibleProvider],
        catalog: Catalog[OpenAICompatibleProvider],
        *,
        cache_seconds: float,
        deadline_seconds: float,
        shared: SharedFlights | None = None,
        usage: UsageGate | None = None,
        answer_cap: int = DEFAULT_ANSWER_CAP,
    ) -> None:
        self.cache = cache
        self.providers = list(providers)
        self.catalog = catalog
        self.deadline_seconds = deadline_seconds
        self.shared = shared
        self.usage: UsageGate = usage or UnlimitedUsage()
        self.answer_cap = answer_cap
        self.flights = Flights()
        self._policy = (
            CachePolicy(fresh_for=timedelta(seconds=cache_seconds)) if cache_seconds > 0 else None
        )

    async def aclose(self) -> None:
        await self.flights.aclose()
        await self.usage.aclose()
        for provider in self.providers:
            await provider.aclose()
        if self.shared is not None:
            await self.shared.aclose()

    # --- what callers may use ----------------------------------------------------------

    def models(self) -> list[dict[str, Any]]:
        return [
            {"id": name, "object": "model", "created": 0, "owned_by": provider}
            for name, provider in self.catalog.names()
        ]

    def _chain(self, request: AiRequest) -> list[Target[OpenAICompatibleProvider]]:
        if not self.providers:
            raise AiRequestError(
                503, "no AI provider is configured on this server", headers={"Retry-After": "60"}
            )
        model = str(request.body["model"])
        chain = self.catalog.resolve(model)
        if not chain:
            raise AiRequestError(
                404,
                f"The model `{model}` does not exist or you do not have access to it "
                "(GET /v1/models lists what you may use)",
                param="model",
                code="model_not_found",
            )
        return chain

    # --- answering -----------------------------------------------------------------------

    async def answer(self, request: AiRequest) -> Delivery:
        """The answer to send: cached, joined to an identical call, or from a provider.

        Raises ``AiRequestError`` for what the caller must change and ``FlightError``
        when no answer could be had before anything was sent.
        """
        chain = self._chain(request)
        mode = "s" if request.stream else "p"
        keys = [
            answer_key(
                request.route,
                request.body,
                provider=target.provider_name,
                model=target.model,
                namespace=request.namespace,
            )
            + mode
            for target in chain
        ]
        repeatable = request.route == EMBEDDINGS or is_repeatable(
            request.body, opted_in=request.opted_in
        )
        directives = request.directives
        if repeatable and not directives.no_cache:
            hit = await self._lookup(keys, directives.max_age)
            if hit is not None:
                answer, age, index = hit
                self._note_hit(request, chain[index], answer)
                delivered = self._delivered(request, answer, age)
                return dataclasses.replace(
                    delivered, ratelimit=await self._ratelimit(request, None)
                )
        answered = repeatable and not directives.no_cache and self._answered(keys[0])
        if directives.only_if_cached and not answered:
            raise AiRequestError(
                504,
                "the answer is not in the cache and Cache-Control said only-if-cached",
                code="cache_miss",
            )
        storable = repeatable and not directives.no_store and self._policy is not None
        waiting = time.perf_counter()
        flight = self._joinable(request, chain, keys, repeatable)
        if isinstance(flight, Delivery):
            return dataclasses.replace(flight, ratelimit=await self._ratelimit(request, None))
        began = time.perf_counter()
        reservation: Reservation | None = None
        if flight is None:
            # This caller's own hold, before any flight exists: past its quota it alone
            # is refused, and nobody joins a flight that could fail on someone's quota.
            reservation = await self._reserve(request, chain[0])
            quota = reservation.state
            # The hold awaited: an identical flight may have started (or ended) meanwhile.
            flight = self._joinable(request, chain, keys, repeatable)
            if flight is not None:
                await self._release(reservation)
                reservation = None
                if isinstance(flight, Delivery):
                    ratelimit = await self._ratelimit(request, quota)
                    return dataclasses.replace(flight, ratelimit=ratelimit)
        elif flight.done:
            quota = None  # answered already: as good as cached, and hits count nothing
        else:
            # A follower is never billed and never holds, but is checked like a hold,
            # so a caller past its quota is not served by other callers' flights.
            quota = await self.usage.check(request.billed, self._maximum(request))
        gate_ms = (time.perf_counter() - began) * 1000
        x_cache = "COALESCED"
        if flight is not None and flight.done and flight.error is None:
            # Answered already and being stored: as good as cached, and as young.
            x_cache, flight.age = "HIT", 0
            self._note_hit(request, chain[0], StoredAnswer(request.stream, tuple(flight.payloads)))
        if flight is None:
            assert reservation is not None
            deadline_at = time.monotonic() + self.deadline_seconds
            held = reservation

            async def run(started: Flight) -> None:
                await self._fly(
                    started, request, chain, keys, held, storable, deadline_at, repeatable
                )

            flight = self.flights.start(keys[0] if repeatable else None, run)
            x_cache = "" if repeatable else "BYPASS"
        ratelimit = await self._ratelimit(request, quota)
        if request.stream:
            await flight.first()
            waited = (time.perf_counter() - waiting) * 1000
            return Delivery(
                x_cache or flight.origin,
                flight.age,
                waited,
                payloads=_follow(flight, request.wants_usage),
                gate_ms=gate_ms,
                ratelimit=ratelimit,
            )
        payloads = await flight.result()
        waited = (time.perf_counter() - waiting) * 1000
        return Delivery(
            x_cache or flight.origin,
            flight.age,
            waited,
            body=payloads[0],
            gate_ms=gate_ms,
            ratelimit=ratelimit,
        )

    def _joinable(
        self,
        request: AiRequest,
        chain: Sequence[Target[OpenAICompatibleProvider]],
        keys: Sequence[str],
        repeatable: bool,
    ) -> Flight | Delivery | None:
        """The flight in progress to join, or an answer stored meanwhile, or None."""
        if not repeatable:
            return None
        directives = request.directives
        flight = self.flights.joined(keys[0])
        if flight is None and not directives.no_cache:
            # A lookup awaited: a flight may have ended and stored its answer meanwhile.
            # Its memory entry is written before the flight lets go of the key, with no
            # await between, so this synchronous look closes the gap.
            late = self._peek_memory(keys, directives.max_age)
            if late is not None:
                self._note_hit(request, chain[late[2]], late[0])
                return self._delivered(request, late[0], late[1])
        if flight is not None and flight.done and (directives.no_cache or flight.error):
            # An answer already given is a cached one, not what no-cache asks for; a
            # failure already given is not repeated to a newcomer: it gets a new try.
            return None
        return flight

    def _answered(self, key: str) -> bool:
        """Whether a flight for ``key`` has answered and is being stored: as good as a
        cached answer (only-if-cached takes it), though the cache has not got it yet."""
        flight = self.flights.joined(key)
        return flight is not None and flight.done and flight.error is None

    def _maximum(self, request: AiRequest) -> int:
        return maximum_tokens(request.route, request.body, self.answer_cap)

    async def _ratelimit(self, request: AiRequest, held: QuotaState | None) -> dict[str, str]:
        """The caller's x-ratelimit-* headers: from its hold, or its counters now."""
        state = held if held is not None else await self.usage.current(request.billed)
        return ratelimit_headers(state) if state is not None else {}

    def _note_hit(
        self,
        request: AiRequest,
        target: Target[OpenAICompatibleProvider],
        answer: StoredAnswer,
    ) -> None:
        self.usage.cache_hit(
            request.billed, target.provider_name, target.model, _usage_of(answer.payloads)
        )

    def _delivered(self, request: AiRequest, answer: StoredAnswer, age: int) -> Delivery:
        if request.stream:
            return Delivery("HIT", age, 0.0, payloads=_replay(answer.payloads, request.wants_usage))
        return Delivery("HIT", age, 0.0, body=answer.payloads[0])

    async def _lookup(
        self, keys: Sequence[str], max_age: int | None
    ) -> tuple[StoredAnswer, int, int] | None:
        """The answer, its age, and the index of the key (provider) it was under."""
        if self._policy is None:
            return None
        for index, key in enumerate(keys):
            cached = await self.cache.get(CACHE_NS, key, self._policy)
            if cached is None:
                continue
            age = cached.age()
            if max_age is not None and age > max_age:
                continue
            answer = decode_answer(cached.entry.value)
            if answer is not None:
                return answer, age, index
        return None

    def _peek_memory(
        self, keys: Sequence[str], max_age: int | None
    ) -> tuple[StoredAnswer, int, int] | None:
        now = time.time()
        for index, key in enumerate(keys):
            entry = self.cache.memory.peek(CACHE_NS, key)
            if entry is None or entry.negative or entry.fresh_until <= now:
                continue
            age = max(0, int(now - entry.stored_at))
            if max_age is not None and age > max_age:
                continue
            answer = decode_answer(entry.value)
            if answer is not None:
                return answer, age, index
        return None

    async def _store(self, key: str, answer: StoredAnswer) -> None:
        assert self._policy is not None
        await self.cache.put_many(CACHE_NS, {key: encode_answer(answer)}, self._policy)

    # --- one flight ----------------------------------------------------------------------

    async def _fly(
        self,
        flight: Flight,
        request: AiRequest,
        chain: Sequence[Target[OpenAICompatibleProvider]],
        keys: Sequence[str],
        reservation: Reservation,
        storable: bool,
        deadline_at: float,
        shared: bool,
    ) -> None:
        lease: Lease | None = None
        try:
            if shared and self.shared is not None:
                lease = await self.shared.lease(keys[0], deadline_at)
        except FlightError:
            await self._release(reservation)
            raise
        if lease is not None and not lease.leader:
            assert self.shared is not None
            # Another process makes the call: this caller's hold is not needed.
            await self._release(reservation)
            flight.origin = "COALESCED"
            async for payload in self.shared.relay(lease, deadline_at):
                flight.publish(payload)
            flight.finish()
            return

        async def emit(payload: bytes) -> None:
            flight.publish(payload)
            if lease is not None:
                assert self.shared is not None
                await self.shared.publish(lease, payload)

        to_store: tuple[str, StoredAnswer] | None = None
        settled: _Settlement | None = None
        try:
            hit = None
            if lease is not None and not request.directives.no_cache:
                # Another process may have stored the answer just before we took the lead.
                hit = await self._lookup(keys, request.directives.max_age)
            if hit is not None:
                await self._release(reservation)
                flight.origin, flight.age = "HIT", hit[1]
                self._note_hit(request, chain[hit[2]], hit[0])
                for payload in hit[0].payloads:
                    await emit(payload)
            else:
                settled = await self._call_chain(
                    flight, request, chain, keys, reservation, deadline_at, emit
                )
                to_store = settled.key, settled.answer
        except FlightError as exc:
            if lease is not None and self.shared is not None:
                await self.shared.finish(lease, exc)
            raise
        # Callers get the answer first; then it is stored, and only then does the lead
        # pass, so a process arriving later finds it in the cache.
        flight.finish()
        try:
            if settled is not None:
                # After the callers have their answer: the settle is not theirs to
                # wait on. The flight runs on whether they stay or not, so a stream
                # the caller abandoned is billed all the same.
                await self._settle(
                    settled.reservation, settled.target, settled.answer.payloads, settled.started
                )
            if to_store is not None and storable:
                await self._store(*to_store)
        finally:
            if lease is not None and self.shared is not None:
                await self.shared.finish(lease, None)

    def _upstream_body(self, request: AiRequest, model: str) -> dict[str, Any]:
        body = dict(request.body)
        body["model"] = model
        if request.stream:
            # Usage is always asked for, so it can be accounted (and a stored stream
            # serves callers who ask for it); callers who did not ask do not see it.
            options = body.get("stream_options")
            body["stream_options"] = {
                **(options if isinstance(options, dict) else {}),
                "include_usage": True,
            }
        return body

    async def _call_chain(
        self,
        flight: Flight,
        request: AiRequest,
        chain: Sequence[Target[OpenAICompatibleProvider]],
        keys: Sequence[str],
        reservation: Reservation,
        deadline_at: float,
        emit: Emit,
    ) -> _Settlement:
        """Ask the chain in order under the one hold; the key and answer of the provider
        that gave one, to settle once the callers have the answer. Each attempt the chain
        moves past gets its ledger row; a chain that fails ends the hold."""
        failures: list[str] = []
        for target, key in zip(chain, keys, strict=True):
            remaining = deadline_at - time.monotonic()
            if remaining <= 0:
                failures.append(f"{target.provider_name}: deadline passed")
                break
            body = self._upstream_body(request, target.model)
            started = time.perf_counter()
            sent: list[bytes] = []
            try:
                if request.stream:
                    stream = await target.provider.open_stream(body, remaining)
                    async for payload in stream.events():
                        if not sent:
                            flight.provider_ms = (time.perf_counter() - started) * 1000
                        sent.append(payload)
                        await emit(payload)
                    if not sent or sent[-1] != DONE:
                        raise UpstreamError(target.provider_name, "the stream ended before [DONE]")
                else:
                    answer = await target.provider.post(request.route, body, remaining)
                    flight.provider_ms = (time.perf_counter() - started) * 1000
                    sent.append(answer.body)
                    await emit(answer.body)
            except ProviderFailure as exc:
                await self._settle(reservation, target, sent, started, ok=False)
                raise FlightError(
                    exc.status_code,
                    f"provider {target.provider_name} refused the request: {exc.message}",
                ) from None
            except UpstreamError as exc:
                log.warning(
                    "ai provider %s failed: %s",
                    target.provider_name,
                    exc.detail,
                    extra={"action": "ai.provider_failed", "provider": target.provider_name},
                )
                if sent:
                    await self._settle(reservation, target, sent, started, ok=False)
                    # Chunks went out already: another provider's answer cannot follow them.
                    raise FlightError(
                        502, f"provider {target.provider_name} broke off its answer"
                    ) from None
                self.usage.record(reservation, self._usage(target, sent, started, ok=False))
                failures.append(f"{target.provider_name}: {exc.detail}")
                continue
            return _Settlement(
                key, StoredAnswer(request.stream, tuple(sent)), reservation, started, target
            )
        await self._release(reservation)
        raise FlightError(
            503, "no provider could answer (" + "; ".join(failures) + ")", retry_after=30
        )

    async def _reserve(
        self, request: AiRequest, target: Target[OpenAICompatibleProvider]
    ) -> Reservation:
        """The caller's hold for a call; ``AiRequestError`` (429) past its quota."""
        return await self.usage.reserve(
            request.billed, target.provider_name, target.model, self._maximum(request)
        )

    async def _release(self, reservation: Reservation) -> None:
        """Give back a hold no provider call used (another process or the cache answered)."""
        try:
            await self.usage.settle(reservation, CallUsage(None, None, 0.0, True, called=False))
        except Exception:  # a hold not given back stands until its day ends
            log.warning(
                "could not release an AI quota hold",
                exc_info=True,
                extra={"action": "ai.release_failed"},
            )

    @staticmethod
    def _usage(
        target: Target[OpenAICompatibleProvider],
        sent: Sequence[bytes],
        started: float,
        *,
        ok: bool,
    ) -> CallUsage:
        prompt, completion = _usage_of(sent)
        latency = (time.perf_counter() - started) * 1000
        return CallUsage(
            prompt, completion, latency, ok, provider=target.provider_name, model=target.model
        )

    async def _settle(
        self,
        reservation: Reservation,
        target: Target[OpenAICompatibleProvider],
        sent: Sequence[bytes],
        started: float,
        *,
        ok: bool = True,
    ) -> None:
        try:
            await self.usage.settle(reservation, self._usage(target, sent, started, ok=ok))
        except Exception:  # the answer was given; a lost settlement must not undo it
            log.warning(
                "could not settle an AI call's usage",
                exc_info=True,
                extra={"action": "ai.settle_failed"},
            )


@dataclasses.dataclass(frozen=True, slots=True)
class _Settlement:
    """The answer a provider gave, under its key, and the hold it is to settle."""

    key: str
    answer: StoredAnswer
    reservation: Reservation
    started: float
    target: Target[OpenAICompatibleProvider]
