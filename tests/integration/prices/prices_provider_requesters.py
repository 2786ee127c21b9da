"""Requesters for the price providers in tests: plain httpx, and the platform's client."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from cachefront.upstream import Priority, UpstreamClient


@dataclass(frozen=True)
class Call:
    """One request a provider made: where, with what, at which cost and priority."""

    method: str
    path: str
    params: dict[str, str]
    cost: int
    priority: str


class RecordingRequester:
    """The smallest requester: a plain httpx client, no retries or budget; an error
    status comes back as the response. Records every call."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.calls: list[Call] = []

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        priority: Priority = "user",
        cost: int = 1,
    ) -> httpx.Response:
        path = httpx.URL(url).path
        self.calls.append(Call(method, path, dict(params or {}), cost, priority))
        return await self.client.request(method, url, params=params, headers=headers)

    def paths(self) -> list[str]:
        return [call.path for call in self.calls]


class PlatformRequester:
    """The platform's UpstreamClient (which raises on an error status), passing ``cost``
    once the client takes it and recording it meanwhile."""

    def __init__(self, client: UpstreamClient) -> None:
        self.client = client
        self.costs: list[int] = []
        self._takes_cost = "cost" in inspect.signature(client.request).parameters

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        priority: Priority = "user",
        cost: int = 1,
    ) -> httpx.Response:
        self.costs.append(cost)
        extra: dict[str, Any] = {"cost": cost} if self._takes_cost else {}
        return await self.client.request(
            method, url, params=params, headers=headers, priority=priority, **extra
        )


class ManualClock:
    """A wall clock (epoch seconds) tests move by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
