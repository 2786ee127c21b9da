"""``GET /v1/ai/usage``: a caller's own usage and quota; every caller's totals for the service."""

from __future__ import annotations

import contextlib
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from cachefront.auth.identity import Identity, Role
from cachefront.auth.isolation import acting_as_service
from cachefront.errors import NotFoundError
from cachefront.http.wire import IDENTITY_SCOPE_KEY
from cachefront.rooms import service_dependency
from cachefront.services.ai.ledger import usage_report
from cachefront.services.ai.quota import QuotaGate
from cachefront.services.ai.routes import caller_namespace
from cachefront.services.ai.service import AiService

__all__ = ["usage_router"]

usage_router = APIRouter(tags=["ai"])
AiServiceDep = Annotated[AiService, Depends(service_dependency(AiService))]


@usage_router.get("/v1/ai/usage", summary="The caller's AI usage (every caller's for admins)")
async def usage(
    request: Request,
    service: AiServiceDep,
    days: Annotated[int, Query(ge=1, le=366, description="Days back, today included")] = 1,
) -> Response:
    """Calls, tokens, cost and cache savings of the last ``days`` days per model, and
    today's quota counters; a service caller gets every caller's totals (``users``)."""
    gate = service.usage
    if not isinstance(gate, QuotaGate):
        raise NotFoundError("this server keeps no AI usage ledger")
    identity: Identity | None = request.scope.get(IDENTITY_SCOPE_KEY)
    owner = (
        None
        if identity is not None and identity.role is Role.SERVICE
        else caller_namespace(request)
    )
    with acting_as_service() if identity is None else contextlib.nullcontext():
        report = await usage_report(gate, owner, days)
    return Response(orjson.dumps(report), media_type="application/json")
