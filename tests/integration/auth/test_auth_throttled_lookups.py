"""Keys from throttled addresses: still checked against the real database, a few at a time."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth import Authenticator, Identity, KeyManager, Role
from cachefront.auth.keys import generate_key
from cachefront.errors import AuthenticationError

ADDRESS = "203.0.113.9"


class CountingKeys(KeyManager):
    """The real key manager, noting how many lookups run at once."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self.active = self.most = 0

    async def verify(self, key: str) -> Identity | None:
        self.active += 1
        self.most = max(self.most, self.active)
        try:
            return await super().verify(key)
        finally:
            self.active -= 1


async def test_throttled_lookups_queue_and_valid_keys_still_pass(engine: AsyncEngine) -> None:
    valid, _ = await KeyManager(engine).create("throttled-lookups", Role.USER)
    keys = CountingKeys(engine)
    auth = Authenticator(keys=keys, cache_seconds=0)

    async def attempt(token: str, throttled: bool) -> Identity | AuthenticationError:
        try:
            return await auth.authenticate(token, ADDRESS, throttled=throttled)
        except AuthenticationError as exc:
            return exc

    guesses = [generate_key()[0] for _ in range(10)]
    answers = await asyncio.gather(*(attempt(g, True) for g in [*guesses, valid]))
    assert all(isinstance(a, AuthenticationError) for a in answers[:-1])
    admitted = answers[-1]
    assert isinstance(admitted, Identity)
    assert admitted.role is Role.USER
    assert keys.most == 2
    # Addresses that are not throttled are looked up without queueing.
    keys.most = 0
    await asyncio.gather(*(attempt(g, False) for g in guesses))
    assert keys.most == len(guesses)
