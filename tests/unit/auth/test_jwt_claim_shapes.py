"""Validly signed tokens whose claims have shapes we do not read are refused, never a crash."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from cachefront.auth import JwtVerifier, Role
from cachefront.errors import AuthenticationError

SECRET = "jwt-secret-for-claim-tests-0123456789abcdef"


def _signed(**claims: Any) -> str:
    return jwt.encode({"sub": "user-1", "exp": int(time.time()) + 300, **claims}, SECRET)


@pytest.mark.parametrize(
    "role",
    [[{"a": 1}], [["service"]], 5, 1.5, True, {"a": 1}, ["service", 7]],
    ids=["list-of-dicts", "list-of-lists", "int", "float", "bool", "dict", "mixed-list"],
)
async def test_a_role_claim_that_is_not_strings_is_refused(role: object) -> None:
    with pytest.raises(AuthenticationError, match="role claim"):
        await JwtVerifier(secret=SECRET).verify(_signed(role=role))


async def test_a_nested_role_claim_of_the_wrong_shape_names_its_path() -> None:
    verifier = JwtVerifier(secret=SECRET, role_claim="app_metadata.role")
    with pytest.raises(AuthenticationError, match=r"app_metadata\.role claim"):
        await verifier.verify(_signed(app_metadata={"role": [{"a": 1}]}))


async def test_an_exp_claim_of_digits_in_a_string_is_refused() -> None:
    # PyJWT reads "1767225600" as a number; RFC 7519 says a NumericDate is a JSON number.
    with pytest.raises(AuthenticationError, match="exp"):
        await JwtVerifier(secret=SECRET).verify(_signed(exp=str(int(time.time()) + 300)))


async def test_role_lists_of_strings_still_read() -> None:
    identity = await JwtVerifier(secret=SECRET).verify(_signed(role=["reader", "service_role"]))
    assert identity.role is Role.SERVICE
    assert identity.id == "user-1"


@pytest.mark.parametrize("sub", [5, ["user-1"], {"id": "user-1"}], ids=["int", "list", "dict"])
async def test_a_subject_that_is_not_a_string_is_refused(sub: object) -> None:
    # PyJWT refuses these itself today; the verifier reads sub as a string either way.
    with pytest.raises(AuthenticationError):
        await JwtVerifier(secret=SECRET).verify(_signed(sub=sub, role="service_role"))
