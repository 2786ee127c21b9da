"""Who owns a job: the authenticated caller, so each user sees only the jobs it submitted."""

from __future__ import annotations

from fastapi import Request

from cachefront.auth.dependencies import get_identity

__all__ = ["current_owner"]


async def current_owner(request: Request) -> str | None:
    """The id of the caller making this request; None for the service role (all jobs).

    Every job query filters by owner when this is not None; row-level security on the
    ``jobs`` table refuses other users' rows even to a query that forgets the filter.
    """
    return get_identity(request).owner
