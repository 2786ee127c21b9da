"""The replica's lag against the primary's positions: zero once it has replayed what the
primary has flushed, else the time since the primary first stood past its position."""

from __future__ import annotations

from cachefront.db.replica import PrimaryPositions, lsn_number


def test_lsn_numbers_order_as_postgresql_orders_positions() -> None:
    assert lsn_number("0/0") == 0
    assert lsn_number("0/FFFFFFFF") < lsn_number("1/0")
    assert lsn_number("16/B374D848") == (0x16 << 32) | 0xB374D848


def test_a_replica_at_the_primarys_position_has_no_lag() -> None:
    seen = PrimaryPositions()
    seen.add(10.0, 100)
    assert seen.lag(50.0, 100) == 0.0
    assert seen.lag(50.0, 120) == 0.0


def test_the_lag_runs_from_the_first_position_not_replayed() -> None:
    seen = PrimaryPositions()
    for at, position in ((10.0, 100), (11.0, 100), (12.0, 200), (13.0, 300)):
        seen.add(at, position)
    # Replayed through 150: behind since the primary was first seen at 200 (at 12 s).
    assert seen.lag(15.0, 150) == 3.0
    assert seen.lag(15.0, 250) == 2.0
    # An idle primary adds nothing: the same position seen later keeps its first time.
    seen.add(20.0, 300)
    assert seen.lag(21.0, 250) == 8.0


def test_old_positions_go_but_one_before_the_window_stays() -> None:
    seen = PrimaryPositions(keep_seconds=10)
    for second in range(100):
        seen.add(float(second), second + 1)
    # A replica stuck at the start is still seen as far behind as the window allows.
    assert seen.lag(99.0, 0) >= 10.0
    # Position 99 was first seen at 98 s, 100 at 99 s.
    assert seen.lag(99.0, 98) == 1.0
    assert seen.lag(99.0, 99) == 0.0
