"""Owner names are namespaced by credential kind, so no credential takes another's name."""

from __future__ import annotations

from cachefront.auth.identity import SERVICE_OWNER, Identity, Kind, Role, owner_of


def test_each_kind_has_its_own_namespace() -> None:
    assert owner_of(Identity("1", Role.USER, Kind.KEY)) == "key:1"
    assert owner_of(Identity("1", Role.USER, Kind.JWT)) == "jwt::1"
    assert owner_of(Identity("1", Role.USER, Kind.JWT), "https://auth.example") == (
        "jwt:https://auth.example:1"
    )
    assert owner_of(Identity("10.0.0.1", Role.ANON, Kind.IP)) == "ip:10.0.0.1"


def test_a_token_subject_never_equals_an_api_key_owner() -> None:
    key_owner = owner_of(Identity("1", Role.USER, Kind.KEY))
    for sub in ("1", "key-1", "key:1", key_owner):
        assert owner_of(Identity(sub, Role.USER, Kind.JWT)) != key_owner, sub
        assert owner_of(Identity(sub, Role.USER, Kind.JWT), "") != key_owner, sub


def test_the_service_role_owns_as_the_service_whatever_its_credential() -> None:
    for kind in Kind:
        assert owner_of(Identity("anything", Role.SERVICE, kind)) == SERVICE_OWNER
