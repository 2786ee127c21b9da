"""Key format, credential extraction, JWT claims to identities, and the authenticator's cache."""

from __future__ import annotations

import time

import jwt
import pytest

from cachefront.auth import Authenticator, Identity, JwtVerifier, Kind, Role, credential_of
from cachefront.auth.keys import generate_key, hash_key, key_prefix
from cachefront.errors import AuthenticationError

SECRET = "unit-test-secret-0123456789abcdefgh"


def test_generated_keys_parse_and_hash() -> None:
    key, prefix, digest = generate_key()
    assert key_prefix(key) == prefix
    assert hash_key(key) == digest != key
    assert key_prefix("cf_short_x") is None
    assert generate_key()[0] != key


def test_credential_of_prefers_authorization() -> None:
    assert credential_of([(b"apikey", b"k1"), (b"authorization", b"Bearer t1")]) == "t1"
    assert credential_of([(b"apikey", b"k1")]) == "k1"
    assert credential_of([(b"authorization", b"Basic abc")]) == ""
    assert credential_of([]) is None


async def test_jwt_roles_and_cache() -> None:
    verifier = JwtVerifier(secret=SECRET, audience="aud", leeway=0)
    exp = int(time.time()) + 60

    def make(**claims: object) -> str:
        return jwt.encode({"aud": "aud", "exp": exp, **claims}, SECRET, algorithm="HS256")

    assert await verifier.verify(make(sub="u", role="authenticated")) == Identity(
        "u", Role.USER, Kind.JWT
    )
    assert (await verifier.verify(make(sub="s", role="service_role"))).role is Role.SERVICE
    assert (await verifier.verify(make(role="anon"))).role is Role.ANON
    with pytest.raises(AuthenticationError, match="no subject"):
        await verifier.verify(make(role="authenticated"))
    with pytest.raises(AuthenticationError):
        await verifier.verify(jwt.encode({"sub": "u", "aud": "aud"}, SECRET, algorithm="HS256"))


async def test_authenticator_service_key_anonymous_and_unknown() -> None:
    auth = Authenticator(service_key="svc")
    assert (await auth.authenticate("svc", "1.2.3.4")).role is Role.SERVICE
    anon = await auth.authenticate(None, "1.2.3.4")
    assert anon == Identity("1.2.3.4", Role.ANON, Kind.IP)
    assert anon.limit_key == "ip:1.2.3.4"
    with pytest.raises(AuthenticationError):
        await auth.authenticate("svc2", "1.2.3.4")
