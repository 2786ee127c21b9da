"""Who owns a job: the authenticated caller, so each user sees only the jobs it submitted."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from cachefront.auth.dependencies import get_identity
from cachefront.auth.identity import Role, owner_of

__all__ = ["JobCaller", "current_caller"]


@dataclass(frozen=True, slots=True)
class JobCaller:
    """The caller of a jobs route: the owner name its jobs get, and whose jobs it sees."""

    owner: str
    sees_all: bool

    @property
    def scope(self) -> str | None:
        """The owner every job query filters by; None for the service (all jobs)."""
        return None if self.sees_all else self.owner


async def current_caller(request: Request) -> JobCaller:
    """The caller making this request, with its namespaced owner name (``owner_of``).

    Every job query filters by ``scope``; row-level security on the ``jobs`` table
    refuses other users' rows even to a query that forgets the filter.
    """
    identity = await get_identity(request)
    issuer = request.app.state.settings.jwt_issuer
    return JobCaller(owner=owner_of(identity, issuer), sees_all=identity.role is Role.SERVICE)
