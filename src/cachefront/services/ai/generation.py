"""The ``ai-generation`` job type: a template's steps run in order, each stored once finished.

Each step's output is stored under (job, step, hash of its request) in
``ai_generation_steps`` as soon as it is had; a run (the first, a retry, or a worker
taking over from one that died) reads what is stored and starts after the last step
whose input is unchanged. Every step's request is repeatable (temperature 0, cache
opt-in), so when a worker dies after the provider answered, the answer waits in the
gateway's cache and the next run pays nothing for it. With ``CACHEFRONT_AI_GENERATION_URL``
the steps are asked of a gateway server over HTTP (as the service): the call then
outlives a worker killed in the middle of it, and the retry meets the stored answer;
without it they are asked of this process's gateway, billed to the job's owner.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth.isolation import acting_as_service
from cachefront.errors import UpstreamError
from cachefront.jobs.registry import (
    JobResources,
    JobResult,
    JobStopped,
    JobType,
    Progress,
    current_job,
)
from cachefront.services.ai.cache_control import OPT_IN_HEADER, CacheDirectives
from cachefront.services.ai.flight import FlightError
from cachefront.services.ai.generation_result import as_json, as_markdown
from cachefront.services.ai.generation_templates import (
    GENERATION_VERSION,
    TemplateName,
    chapter_body,
    outline_body,
    steps_of,
)
from cachefront.services.ai.models import CHAT, AiRequest
from cachefront.services.ai.openai_errors import AiRequestError
from cachefront.services.ai.quota import QUERIES
from cachefront.services.ai.service import AiService
from cachefront.services.ai.settings import AiSettings

__all__ = [
    "GENERATION_JOB",
    "GenerationParams",
    "GenerationStopped",
    "generation_detail",
    "input_hash",
    "request_stop",
    "run_generation",
    "stored_outputs",
]

GENERATION_JOB = "ai-generation"
_OWNER_FALLBACK = "service"

Ask = Callable[[dict[str, Any]], Awaitable[str]]


class GenerationParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: TemplateName = Field(default="textbook", description="The steps to run")
    topic: str = Field(min_length=1, max_length=300, description="What the book is about")
    chapters: int = Field(default=10, ge=1, le=30, description="Chapters after the outline")
    model: str | None = Field(
        default=None, description="Model or alias (default: CACHEFRONT_AI_GENERATION_MODEL)"
    )


class GenerationStopped(JobStopped):
    """The owner asked the job to stop; raised between steps, so the queue ends it
    cancelled with this message, its finished steps kept."""


class GenerationStepError(UpstreamError):
    """A step's call failed in a way worth retrying (the queue retries UpstreamError)."""


def input_hash(body: Mapping[str, Any]) -> str:
    """The hash a step's output is stored under: its whole request and the template version."""
    canonical = orjson.dumps({"v": GENERATION_VERSION, "body": body}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def _content(raw: bytes) -> str:
    try:
        content = orjson.loads(raw)["choices"][0]["message"]["content"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        raise GenerationStepError("ai", "the answer held no message") from None
    if not isinstance(content, str):
        raise GenerationStepError("ai", "the answer held no text")
    return content


def _over_http(url: str, key: str | None, timeout: float) -> Ask:
    async def ask(body: dict[str, Any]) -> str:
        headers = {OPT_IN_HEADER: "1"}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        async with httpx.AsyncClient(trust_env=False, timeout=timeout) as client:
            try:
                response = await client.post(
                    url.rstrip("/") + "/v1/chat/completions", json=body, headers=headers
                )
            except httpx.HTTPError as exc:
                raise GenerationStepError("ai", f"the gateway: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise GenerationStepError("ai", f"the gateway answered {response.status_code}")
        return _content(response.content)

    return ask


def _in_process(service: AiService, owner: str) -> Ask:
    async def ask(body: dict[str, Any]) -> str:
        request = AiRequest(CHAT, body, owner, CacheDirectives(), opted_in=True, caller=owner)
        try:
            delivery = await service.answer(request)
        except (AiRequestError, FlightError) as exc:
            raise GenerationStepError("ai", str(exc)) from None
        assert delivery.body is not None
        return _content(delivery.body)

    return ask


async def _stored(engine: AsyncEngine, job_id: uuid.UUID) -> dict[tuple[int, str], str]:
    async with engine.connect() as conn:
        rows = await conn.execute(QUERIES.text("generation_steps"), {"job_id": job_id})
        return {(int(row.step), str(row.input_hash)): str(row.output) for row in rows}


async def stored_outputs(engine: AsyncEngine, job_id: uuid.UUID) -> list[str]:
    """The outputs of the steps stored so far, in order, up to the first one missing."""
    by_step: dict[int, str] = {}
    for (step, _), output in sorted((await _stored(engine, job_id)).items()):
        by_step.setdefault(step, output)
    outputs: list[str] = []
    while len(outputs) in by_step:
        outputs.append(by_step[len(outputs)])
    return outputs


async def request_stop(engine: AsyncEngine, job_id: uuid.UUID, owner: str) -> None:
    """Ask a running generation to stop before its next step."""
    async with engine.begin() as conn:
        await conn.execute(
            QUERIES.text("request_generation_stop"), {"job_id": job_id, "owner": owner}
        )


async def _stop_requested(engine: AsyncEngine, job_id: uuid.UUID) -> bool:
    async with engine.connect() as conn:
        found = await conn.execute(QUERIES.text("generation_stop_requested"), {"job_id": job_id})
        return bool(found.scalar_one())


async def _save(
    engine: AsyncEngine, job_id: uuid.UUID, owner: str, step: int, digest: str, output: str
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            QUERIES.text("save_generation_step"),
            {
                "job_id": job_id,
                "step": step,
                "input_hash": digest,
                "owner": owner,
                "output": output,
            },
        )


async def run_generation(
    resources: JobResources, params: GenerationParams, progress: Progress
) -> JobResult:
    job = current_job.get()
    job_id = job.id if job is not None else uuid.uuid4()
    owner = (job.owner if job is not None else None) or _OWNER_FALLBACK
    own = resources.settings.room(AiSettings)
    model = params.model or own.ai_generation_model
    if own.ai_generation_url:
        key = resources.settings.service_key
        ask = _over_http(
            own.ai_generation_url,
            key.get_secret_value() if key else None,
            own.ai_deadline_seconds + 5,
        )
    else:
        ask = _in_process(resources.service(AiService), owner)
    total = steps_of(params.chapters)
    # The worker acts as the service; rows are still written with the job's owner.
    with acting_as_service():
        done = await _stored(resources.engine, job_id)
    outputs: list[str] = []
    for step in range(total):
        if step == 0:
            body = outline_body(model, params.topic, params.chapters)
        else:
            body = chapter_body(model, params.topic, step, outputs[0], outputs[1:])
        digest = input_hash(body)
        output = done.get((step, digest))
        if output is None:
            with acting_as_service():
                stop = await _stop_requested(resources.engine, job_id)
            if stop:
                raise GenerationStopped(f"cancelled by its owner after {step} of {total} steps")
            output = await ask(body)
            with acting_as_service():
                await _save(resources.engine, job_id, owner, step, digest, output)
        outputs.append(output)
        await progress((step + 1) / total)
    document = as_json(job_id, params.topic, params.template, GENERATION_VERSION, outputs)
    return JobResult(
        content=document,
        content_type="application/json",
        filename=f"generation-{job_id}.json",
        summary={
            "steps": total,
            "markdown_url": f"/v1/ai/generations/{job_id}?format=markdown",
            "bytes_markdown": len(as_markdown(params.topic, outputs)),
        },
    )


async def generation_detail(
    engine: AsyncEngine, job_id: uuid.UUID, params: Mapping[str, Any]
) -> Mapping[str, Any]:
    """Steps done and total, and the outputs had so far (GET /v1/jobs/{id})."""
    chapters = params.get("chapters", 10)
    total = steps_of(chapters if isinstance(chapters, int) else 10)
    stored = await _stored(engine, job_id)
    steps = sorted(stored.items())
    return {
        "steps_done": len({step for step, _ in stored}),
        "steps_total": total,
        "outputs": [{"step": step, "output": output} for (step, _), output in steps],
    }


def generation_job_type() -> JobType:
    return JobType(GENERATION_JOB, GenerationParams, run_generation, detail=generation_detail)
