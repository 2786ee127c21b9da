"""FastAPI dependencies: the caller's identity, and role requirements, for framework routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from cachefront.auth.identity import Identity, Role
from cachefront.errors import AuthenticationError, NotReadyError, PermissionDeniedError
from cachefront.http.wire import IDENTITY_SCOPE_KEY

__all__ = ["IdentityDep", "get_identity", "require_service"]

# Declared only so the OpenAPI schema shows how to authenticate; the gate in front of
# the app has already checked the credential by the time a route runs.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API key (`cf_...`), the service key, or a JWT access token.",
)
apikey_scheme = APIKeyHeader(
    name="apikey",
    auto_error=False,
    scheme_name="apikey",
    description="The same credentials in the `apikey` header (Supabase client convention).",
)


async def get_identity(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)] = None,
    _apikey: Annotated[str | None, Security(apikey_scheme)] = None,
) -> Identity:
    """The identity the gate admitted this request as."""
    identity: Identity | None = request.scope.get(IDENTITY_SCOPE_KEY)
    if identity is None:
        raise NotReadyError("request did not pass the authentication gate")
    return identity


IdentityDep = Annotated[Identity, Depends(get_identity)]


async def require_service(identity: IdentityDep) -> Identity:
    """Only the service role; the gate already enforces this on admin routes."""
    if identity.role is Role.SERVICE:
        return identity
    if identity.role is Role.ANON:
        raise AuthenticationError("credentials required")
    raise PermissionDeniedError("the service role is required")
