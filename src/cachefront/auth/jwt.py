"""Access tokens (JWT) of the app's identity provider: verified once, then remembered until expiry.

Tokens are verified with PyJWT against an HS256 secret (Supabase Auth's default) or
the signing keys published at a JWKS URL (any OIDC provider), checking signature,
``exp`` (required), ``nbf``, ``iss`` and ``aud`` when configured, with a bounded clock
skew. ``sub`` is the user id; the role claim maps to a role: ``service_role`` or
``service`` is the service role, ``anon`` is anonymous, anything else is a user. A JWKS
endpoint that cannot be reached is ``NotReadyError`` (503), not a verdict on the token.

A signature proves who issued a token, not that its claims have the shapes we read:
``exp`` must be a JSON number, ``sub`` a string, and the role claim a string or a list
of strings. Any other shape is a token we cannot understand, so 401 like a bad one.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import jwt

from cachefront.auth.identity import Identity, Kind, Role
from cachefront.errors import AuthenticationError, ConfigurationError, NotReadyError

__all__ = ["DEFAULT_JWKS_CACHE_SECONDS", "JwtVerifier"]

# Signing keys of a JWKS endpoint are fetched again after this long (key rotation).
DEFAULT_JWKS_CACHE_SECONDS = 300
# A fetch of the signing keys holds a worker thread and the request; give up sooner
# than PyJWKClient's 30 s so a hung provider turns into a prompt 503.
_JWKS_TIMEOUT_SECONDS = 5.0
# At most one refetch of the key set per this long for tokens naming an unknown kid.
_JWKS_REFETCH_COOLDOWN_SECONDS = 30.0
# Verified tokens remembered per process; past this the memory starts over.
_CACHE_MAX = 10_000
_ASYMMETRIC = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "EdDSA"]
_SERVICE_ROLES = frozenset({"service", "service_role"})


class JwtVerifier:
    """Verifies access tokens; each distinct token costs one verification until it expires."""

    def __init__(
        self,
        *,
        secret: str | None = None,
        jwks_url: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        leeway: float = 30.0,
        role_claim: str = "role",
    ) -> None:
        if secret is None and jwks_url is None:
            raise ConfigurationError("JWT verification needs CACHEFRONT_JWT_SECRET or _JWKS_URL")
        self._secret = secret
        self._jwks = (
            jwt.PyJWKClient(
                jwks_url,
                cache_keys=True,
                lifespan=DEFAULT_JWKS_CACHE_SECONDS,
                timeout=_JWKS_TIMEOUT_SECONDS,
                # A token naming an unknown kid makes the client look for a rotated key;
                # the cooldown bounds that to one fetch per period, so made-up kids
                # cannot turn each request into a call to the identity provider.
                cooldown_duration=_JWKS_REFETCH_COOLDOWN_SECONDS,
            )
            if jwks_url is not None
            else None
        )
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.role_claim = role_claim.split(".")
        self._cache: dict[str, tuple[Identity, float]] = {}

    async def verify(self, token: str) -> Identity:
        """The identity a valid token speaks for; ``AuthenticationError`` otherwise."""
        cached = self._cache.get(token)
        if cached is not None:
            if cached[1] > time.time():
                return cached[0]
            del self._cache[token]
        claims = await self._decode(token)
        expires = _expiry(claims)
        identity = self._identity(claims)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[token] = (identity, expires)
        return identity

    async def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            if self._jwks is not None and header.get("alg") != "HS256":
                # PyJWKClient fetches with blocking urllib; keys are cached after that.
                signing = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
                key: Any = signing.key
                algorithms = _ASYMMETRIC
            elif self._secret is not None:
                key, algorithms = self._secret, ["HS256"]
            else:
                raise AuthenticationError("access token algorithm not accepted")
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={
                    "require": ["exp"],
                    "verify_aud": self.audience is not None,
                    "verify_iss": self.issuer is not None,
                },
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationError("access token expired") from exc
        except jwt.PyJWKClientConnectionError as exc:
            raise NotReadyError("identity provider's signing keys unreachable") from exc
        except jwt.PyJWKClientError as exc:
            raise AuthenticationError("access token signing key not found") from exc
        except jwt.InvalidTokenError as exc:
            # The library's message names the failed check (audience, issuer, signature),
            # never the token or the key.
            raise AuthenticationError(f"access token not valid: {exc}") from exc
        return claims

    def _identity(self, claims: dict[str, Any]) -> Identity:
        values = self._roles(claims)
        sub = claims.get("sub")
        if sub is not None and not isinstance(sub, str):
            raise AuthenticationError("access token not valid: the sub claim must be a string")
        if values & _SERVICE_ROLES:
            return Identity(id=sub or "service", role=Role.SERVICE, kind=Kind.JWT)
        if "anon" in values and not sub:
            return Identity(id="", role=Role.ANON, kind=Kind.JWT)
        if not sub:
            raise AuthenticationError("access token has no subject (sub)")
        return Identity(id=sub, role=Role.USER, kind=Kind.JWT)

    def _roles(self, claims: dict[str, Any]) -> set[str]:
        """The role names the role claim holds; none when the claim is absent."""
        value: Any = claims
        for part in self.role_claim:
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            return set()
        if isinstance(value, str):
            return {value}
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return set(value)
        name = ".".join(self.role_claim)
        raise AuthenticationError(
            f"access token not valid: the {name} claim must be a string or a list of strings"
        )


def _expiry(claims: dict[str, Any]) -> float:
    """``exp`` as a Unix time; PyJWT has checked it but lets digit strings ("1767225600") by."""
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
        raise AuthenticationError("access token not valid: the exp claim must be a number")
    return float(exp)
