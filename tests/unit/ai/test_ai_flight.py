"""Flights in one process: late followers get every payload, failures reach all of them,
and a caller that stops reading never stops the flight."""

from __future__ import annotations

import asyncio

import pytest

from cachefront.services.ai.flight import Flight, FlightError, Flights


async def test_a_late_follower_gets_the_payloads_already_sent_then_the_live_ones() -> None:
    flights = Flights()
    release = asyncio.Event()

    async def run(flight: Flight) -> None:
        flight.publish(b"1")
        flight.publish(b"2")
        await release.wait()
        flight.publish(b"3")
        flight.finish()

    flight = flights.start("k", run)
    await flight.first()
    assert flights.joined("k") is flight

    async def read() -> list[bytes]:
        return [payload async for payload in flight.follow()]

    early = asyncio.create_task(read())
    await asyncio.sleep(0)
    late = asyncio.create_task(read())
    release.set()
    assert await early == [b"1", b"2", b"3"]
    assert await late == [b"1", b"2", b"3"]
    await asyncio.sleep(0)
    assert flights.joined("k") is None
    await flights.aclose()


async def test_a_failure_reaches_every_follower() -> None:
    flights = Flights()
    go = asyncio.Event()

    async def run(flight: Flight) -> None:
        flight.publish(b"part")
        await go.wait()
        raise FlightError(503, "no provider could answer", retry_after=30)

    flight = flights.start("k", run)

    async def read() -> list[bytes]:
        return [payload async for payload in flight.follow()]

    readers = [asyncio.create_task(read()) for _ in range(3)]
    await asyncio.sleep(0)
    go.set()
    for reader in readers:
        with pytest.raises(FlightError) as failed:
            await reader
        assert failed.value.status == 503
    with pytest.raises(FlightError):
        await flight.result()
    await flights.aclose()


async def test_a_reader_cancelled_midway_does_not_stop_the_flight() -> None:
    flights = Flights()
    step = asyncio.Event()

    async def run(flight: Flight) -> None:
        for index in range(5):
            flight.publish(str(index).encode())
            await step.wait()
        flight.finish()

    flight = flights.start(None, run)

    async def read_one() -> None:
        async for _ in flight.follow():
            await asyncio.sleep(3600)  # a client that stalls, then goes away

    quitter = asyncio.create_task(read_one())
    await asyncio.sleep(0)
    quitter.cancel()
    step.set()
    assert await flight.result() == [b"0", b"1", b"2", b"3", b"4"]
    await flights.aclose()


async def test_an_unexpected_error_is_a_502_not_a_hang() -> None:
    flights = Flights()

    async def run(flight: Flight) -> None:
        raise RuntimeError("bug")

    flight = flights.start("k", run)
    with pytest.raises(FlightError) as failed:
        await flight.first()
    assert failed.value.status == 502
    await flights.aclose()
