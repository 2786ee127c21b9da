"""How big a lease is: a share of the limit split over the live processes, within bounds."""

from __future__ import annotations

from cachefront.ratelimit.leases import LEASE_MAX_UNITS, LEASE_SHARE, lease_size
from cachefront.redis_keys import ratelimit_procs_key


def test_lease_is_a_share_of_the_limit_split_over_live_processes() -> None:
    assert lease_size(300, 3) == 5
    assert lease_size(300, 1) == 15
    assert lease_size(20000, 2) == 500


def test_small_limits_lease_one_unit_at_a_time() -> None:
    # One unit is a round trip per request: the exact mode, and no unit held idle.
    assert lease_size(5, 1) == 1
    assert lease_size(40, 2) == 1
    assert lease_size(300, 0) == 15  # no heartbeat counted yet: this process alone


def test_huge_limits_stop_at_the_cap() -> None:
    assert lease_size(1_000_000_000, 2) == LEASE_MAX_UNITS


def test_the_cluster_holds_at_most_the_documented_share() -> None:
    # Up to 1.5 leases per process (the rest of one and a refill taken ahead).
    for amount in (100, 300, 1000, 12345):
        for live in (1, 2, 3, 8):
            held = live * 1.5 * lease_size(amount, live)
            if lease_size(amount, live) > 1:
                assert held <= amount * LEASE_SHARE * 1.5 + live


def test_the_heartbeat_key_is_pinned() -> None:
    assert ratelimit_procs_key("cf") == "cf:ratelimit_procs_v1"
