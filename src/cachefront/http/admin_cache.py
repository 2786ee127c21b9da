"""The admin purge route: ``DELETE /v1/admin/cache/{namespace}`` with ``key=`` or ``prefix=``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from cachefront.auth.dependencies import require_service
from cachefront.cache.purge import purge, purge_target

__all__ = ["PurgeResult", "admin_cache_router"]

admin_cache_router = APIRouter(prefix="/v1/admin", tags=["admin"])


class PurgeResult(BaseModel):
    """What was purged: the namespace, the key or prefix, how many entries went."""

    namespace: str
    key: str | None = None
    prefix: str | None = None
    purged: int


@admin_cache_router.delete(
    "/cache/{namespace}",
    summary="Purge cached entries of a namespace from every tier and every process's memory",
    dependencies=[Depends(require_service)],
    response_model=PurgeResult,
    response_model_exclude_none=True,
)
async def purge_cache(
    request: Request,
    namespace: str,
    key: Annotated[str | None, Query(max_length=1024, description="One key")] = None,
    prefix: Annotated[
        str | None,
        Query(max_length=1024, description="Every key starting with it; empty for all"),
    ] = None,
) -> PurgeResult:
    target = purge_target(namespace, key, prefix)
    purged = await purge(request.app.state.resources.cache, target)
    return PurgeResult(namespace=namespace, key=key, prefix=prefix, purged=purged)
