"""The storage check with per-namespace quotas: within, behind, far behind, unmeasured."""

from __future__ import annotations

from cachefront.observability.checks import Level
from cachefront.observability.health import _storage

MB = 1_000_000


def test_without_quotas_only_the_database_is_judged() -> None:
    check = _storage(5 * MB, 10 * MB, {}, {})
    assert check.status is Level.OK
    assert "namespace" not in check.detail


def test_namespaces_within_their_quota_are_ok_and_unmeasured_ones_named() -> None:
    check = _storage(5 * MB, None, {"a": 90}, {"a": 100, "b": 100})
    assert check.status is Level.OK
    assert "1 cache namespace(s) within quota" in check.detail
    assert "1 not measured yet" in check.detail


def test_a_namespace_past_its_quota_warns_and_far_past_it_is_critical() -> None:
    behind = _storage(5 * MB, None, {"a": 120, "b": 50}, {"a": 100, "b": 100})
    assert behind.status is Level.WARN
    assert "a 120%" in behind.detail
    far = _storage(5 * MB, None, {"a": 160}, {"a": 100})
    assert far.status is Level.CRITICAL
    zero = _storage(5 * MB, None, {"a": 1}, {"a": 0})
    assert zero.status is Level.CRITICAL


def test_the_database_quota_still_counts_when_namespaces_are_fine() -> None:
    check = _storage(11 * MB, 10 * MB, {"a": 10}, {"a": 100})
    assert check.status is Level.CRITICAL
    assert check.value == 11 * MB
