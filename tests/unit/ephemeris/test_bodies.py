"""Tests for the Body enum: names, Horizons ids, DE421 targets and parse_body."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from cachefront.errors import InvalidInputError
from cachefront.services.ephemeris.bodies import Body, body_for_horizons_id, parse_body
from cachefront.services.ephemeris.providers.local import LocalProvider

EXPECTED_IDS = {
    "sun": "10",
    "moon": "301",
    "mercury": "199",
    "venus": "299",
    "mars": "499",
    "jupiter": "599",
    "saturn": "699",
    "uranus": "799",
    "neptune": "899",
    "pluto": "999",
}


def test_every_body_has_its_horizons_id() -> None:
    assert {body.value: body.horizons_id for body in Body} == EXPECTED_IDS


@pytest.mark.parametrize(("name", "horizons_id"), EXPECTED_IDS.items())
def test_body_for_horizons_id_inverts_the_mapping(name: str, horizons_id: str) -> None:
    assert body_for_horizons_id(horizons_id) is Body(name)
    assert body_for_horizons_id(f" {horizons_id} ") is Body(name)


def test_body_for_unknown_horizons_id_is_none() -> None:
    assert body_for_horizons_id("399") is None
    assert body_for_horizons_id("Mars") is None


@pytest.mark.parametrize("text", ["mars", "Mars", " MARS ", "mArS\n"])
def test_parse_body_ignores_case_and_spaces(text: str) -> None:
    assert parse_body(text) is Body.MARS


@pytest.mark.parametrize("text", ["", "earth", "499", "mars barycenter"])
def test_parse_body_rejects_unknown_names_listing_the_valid_ones(text: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_body(text)
    assert caught.value.field == "body"
    for body in Body:
        assert body.value in caught.value.detail


def test_display_name_is_what_horizons_prints() -> None:
    assert Body.MARS.display_name == "Mars"
    assert Body.SUN.display_name == "Sun"


def test_body_values_are_plain_strings() -> None:
    assert f"{Body.JUPITER}" == "jupiter"
    assert Body.JUPITER == "jupiter"


@pytest.mark.parametrize("body", list(Body))
def test_every_de421_target_resolves(local_provider: LocalProvider, body: Body) -> None:
    seen = local_provider.observe(body, [datetime(2000, 1, 1, tzinfo=UTC)])
    values = [seen.ra_deg, seen.dec_deg, seen.distance_au, seen.ecl_lon_deg, seen.ecl_lat_deg]
    assert all(np.isfinite(value).all() for value in values)
    assert 0 < seen.distance_au[0] < 60


def test_parse_body_names_the_field_it_was_read_from() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_body("vulcan", field="bodies")
    assert caught.value.field == "bodies"
