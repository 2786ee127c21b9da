"""``POST /v1/ai/reflections``: a short reflection of the caller's text, from a server template."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from cachefront.http.problems import problem_response
from cachefront.rooms import service_dependency
from cachefront.services.ai.flight import FlightError
from cachefront.services.ai.openai_errors import AiRequestError
from cachefront.services.ai.reflection_templates import Language, Tone
from cachefront.services.ai.reflections import reflect
from cachefront.services.ai.routes import caller_namespace
from cachefront.services.ai.service import AiService
from cachefront.services.ai.settings import AiSettings

__all__ = ["ReflectionRequest", "reflection_router"]

reflection_router = APIRouter(tags=["ai"])
AiServiceDep = Annotated[AiService, Depends(service_dependency(AiService))]


class ReflectionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4000, description="The words to reflect on")
    language: Language = Field(default="en", description="The reflection's language")
    tone: Tone = Field(default="gentle", description="How the reflection sounds")


@reflection_router.post("/v1/ai/reflections", summary="A short reflection of a text")
async def reflections(
    payload: ReflectionRequest, request: Request, service: AiServiceDep
) -> Response:
    """The prompt is the server's versioned template; the same normalized request is
    answered from cache (``X-Cache: HIT``) for five minutes, for every caller."""
    if not payload.text.strip():
        return problem_response(
            422, "'text' must hold more than whitespace", errors=[{"field": "text"}]
        )
    model = request.app.state.settings.room(AiSettings).ai_reflection_model
    try:
        made = await reflect(
            service, caller_namespace(request), model, payload.text, payload.language, payload.tone
        )
    except AiRequestError as exc:
        return problem_response(exc.status, exc.message, headers=exc.headers)
    except FlightError as exc:
        headers = dict(exc.headers)
        if exc.retry_after is not None:
            headers["Retry-After"] = str(exc.retry_after)
        return problem_response(exc.status, exc.message, headers=headers)
    headers = {"X-Cache": made.x_cache}
    if made.age is not None:
        headers["Age"] = str(made.age)
    body = orjson.dumps(made.document(payload.language, payload.tone))
    return Response(body, media_type="application/json", headers=headers)
