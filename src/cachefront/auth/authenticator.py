"""The one verification core: from request credentials to an ``Identity``, cached for speed.

The gate calls ``Authenticator.authenticate`` for every request, hot path and framework
routes alike. The credential is ``Authorization: Bearer <token>`` or, as Supabase
clients send it, the ``apikey`` header (Authorization wins when both are present; a
header sent twice with different values is refused): ``http/wire.py`` reads it, with
``credential_of`` or ``RequestHead.credential``, one rule for all. A token is an API key
(``cf_...``), the configured service key, or a JWT access token. No credential means
an anonymous caller identified by its client address.

API keys are verified against PostgreSQL at most once per ``cache_seconds`` per process
(valid and invalid answers alike), so a revoked key stops working everywhere within
that time. Verified JWTs are remembered until they expire.

Callers whose address is throttled for failed authentications (``throttled=True``,
decided by the gate) still have every credential checked, since any one of them may
be a valid key of someone behind the same address; but their uncached API keys are
looked up at most ``_THROTTLED_LOOKUPS`` at a time per process, so a guesser cannot
turn its failures into database load. A valid key waits its turn; it is never refused.
"""

from __future__ import annotations

import asyncio
import hmac
import time

from cachefront.auth.identity import Identity, Kind, Role
from cachefront.auth.jwt import JwtVerifier
from cachefront.auth.keys import KEY_PATTERN
from cachefront.auth.manager import KeyManager
from cachefront.errors import AuthenticationError, NotReadyError
from cachefront.http.wire import credential_of  # re-exported: the one rule lives in the wire

__all__ = ["DEFAULT_AUTH_CACHE_SECONDS", "SERVICE_IDENTITY", "Authenticator", "credential_of"]

DEFAULT_AUTH_CACHE_SECONDS = 5.0
SERVICE_IDENTITY = Identity(id="service", role=Role.SERVICE, kind=Kind.KEY)
# Bounds of the per-process memories; past them they start over (cheap and bounded).
_KEY_CACHE_MAX = 10_000
_ANON_CACHE_MAX = 50_000
# Concurrent database lookups per process for keys from throttled addresses.
_THROTTLED_LOOKUPS = 2


class Authenticator:
    """Turns a credential into an identity; ``AuthenticationError`` when it is not valid."""

    def __init__(
        self,
        *,
        service_key: str | None = None,
        jwt: JwtVerifier | None = None,
        keys: KeyManager | None = None,
        cache_seconds: float = DEFAULT_AUTH_CACHE_SECONDS,
    ) -> None:
        self._service_key = service_key.encode() if service_key else None
        self.jwt = jwt
        self.keys = keys
        self.cache_seconds = cache_seconds
        self._key_cache: dict[str, tuple[Identity | None, float]] = {}
        self._anon: dict[str, Identity] = {}
        self._throttled_lookups = asyncio.Semaphore(_THROTTLED_LOOKUPS)

    def anonymous(self, client_ip: str) -> Identity:
        identity = self._anon.get(client_ip)
        if identity is None:
            if len(self._anon) >= _ANON_CACHE_MAX:
                self._anon.clear()
            identity = self._anon[client_ip] = Identity(client_ip, Role.ANON, Kind.IP)
        return identity

    async def authenticate(
        self, token: str | None, client_ip: str, *, throttled: bool = False
    ) -> Identity:
        """The identity ``token`` proves, or anonymous for ``client_ip`` when it is None.

        ``throttled``: the address failed too often lately; lookups queue (see above).
        """
        if token is None:
            return self.anonymous(client_ip)
        if token.startswith("cf_"):
            return await self._api_key(token, throttled)
        if self._service_key is not None and hmac.compare_digest(token.encode(), self._service_key):
            return SERVICE_IDENTITY
        if self.jwt is not None and token.count(".") == 2:
            identity = await self.jwt.verify(token)
            return self.anonymous(client_ip) if identity.role is Role.ANON else identity
        raise AuthenticationError("credentials not recognised")

    def known(self, token: str | None, client_ip: str) -> Identity | None:
        """The identity ``token`` proves when that is known without awaiting, else None.

        For the server's direct path: anonymous callers, the service key and API keys
        verified lately (valid ones; a cached refusal is None too, so the caller falls
        back to ``authenticate``, which refuses it). JWTs are always None.
        """
        if token is None:
            return self.anonymous(client_ip)
        if token.startswith("cf_"):
            cached = self._cached_key(token, time.monotonic())
            return cached[0] if cached is not None else None
        if self._service_key is not None and hmac.compare_digest(token.encode(), self._service_key):
            return SERVICE_IDENTITY
        return None

    def _cached_key(self, token: str, now: float) -> tuple[Identity | None, float] | None:
        """The cached verification of API key ``token`` while it is still trusted."""
        cached = self._key_cache.get(token)
        return cached if cached is not None and cached[1] > now else None

    async def _api_key(self, token: str, throttled: bool) -> Identity:
        now = time.monotonic()
        cached = self._cached_key(token, now)
        if cached is not None:
            identity = cached[0]
        else:
            if KEY_PATTERN.match(token) is None:
                raise AuthenticationError("API key malformed")
            if self.keys is None:
                raise NotReadyError("API keys checked before the database was opened")
            if throttled:
                async with self._throttled_lookups:
                    identity = await self.keys.verify(token)
            else:
                identity = await self.keys.verify(token)
            if len(self._key_cache) >= _KEY_CACHE_MAX:
                self._key_cache.clear()
            self._key_cache[token] = (identity, now + self.cache_seconds)
        if identity is None:
            raise AuthenticationError("API key not valid or revoked")
        return identity
