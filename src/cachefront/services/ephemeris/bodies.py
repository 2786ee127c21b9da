"""The solar-system bodies cachefront serves, with their Horizons ids and DE421 targets."""

from __future__ import annotations

from enum import StrEnum

from cachefront.errors import InvalidInputError

__all__ = ["Body", "body_for_horizons_id", "parse_body"]


class Body(StrEnum):
    """A body we can give positions for; the value is the name used in URLs and storage."""

    SUN = "sun"
    MOON = "moon"
    MERCURY = "mercury"
    VENUS = "venus"
    MARS = "mars"
    JUPITER = "jupiter"
    SATURN = "saturn"
    URANUS = "uranus"
    NEPTUNE = "neptune"
    PLUTO = "pluto"

    @property
    def horizons_id(self) -> str:
        """The major-body id Horizons takes as ``COMMAND`` (e.g. ``'499'`` for Mars)."""
        return _HORIZONS_IDS[self]

    @property
    def de421_target(self) -> str:
        """The DE421 segment name Skyfield looks the body up by."""
        return _DE421_TARGETS[self]

    @property
    def display_name(self) -> str:
        """The display name Horizons prints in ``Target body name: Mars (499)``."""
        return self.value.capitalize()


_HORIZONS_IDS: dict[Body, str] = {
    Body.SUN: "10",
    Body.MOON: "301",
    Body.MERCURY: "199",
    Body.VENUS: "299",
    Body.MARS: "499",
    Body.JUPITER: "599",
    Body.SATURN: "699",
    Body.URANUS: "799",
    Body.NEPTUNE: "899",
    Body.PLUTO: "999",
}

# DE421 holds the centres of the Sun, Moon, Mercury, Venus and Mars, but only the system
# barycentres of Jupiter to Pluto. The barycentre sits off the planet's centre by the pull
# of its moons: about 200 km for Jupiter and 300 km for Saturn (under 0.1" at their
# distance), under 100 km for Uranus and Neptune (under 0.01"), and about 2100 km for
# Pluto-Charon (about 0.1"). All stay well inside the 1" the providers promise.
_DE421_TARGETS: dict[Body, str] = {
    Body.SUN: "sun",
    Body.MOON: "moon",
    Body.MERCURY: "mercury",
    Body.VENUS: "venus",
    Body.MARS: "mars",
    Body.JUPITER: "jupiter barycenter",
    Body.SATURN: "saturn barycenter",
    Body.URANUS: "uranus barycenter",
    Body.NEPTUNE: "neptune barycenter",
    Body.PLUTO: "pluto barycenter",
}

_BY_HORIZONS_ID: dict[str, Body] = {
    horizons_id: body for body, horizons_id in _HORIZONS_IDS.items()
}


def body_for_horizons_id(horizons_id: str) -> Body | None:
    """The body Horizons knows by ``horizons_id``, or None when it is not one of ours."""
    return _BY_HORIZONS_ID.get(horizons_id.strip())


def parse_body(text: str, *, field: str = "body") -> Body:
    """The body named by ``text`` (case and surrounding spaces ignored).

    Raises InvalidInputError naming ``field`` (``bodies`` when the name came from a
    list) and listing the valid names otherwise.
    """
    try:
        return Body(text.strip().lower())
    except ValueError:
        # The name is echoed to help, but a megabyte of it would not.
        shown = text if len(text) <= 40 else text[:40] + "..."
        names = ", ".join(body.value for body in Body)
        raise InvalidInputError(
            f"unknown body {shown!r}; expected one of: {names}", field=field
        ) from None
