"""Provider calls saved by the reflections cache: a replay of requests from 1,000 users.

One run starts the OpenAI simulator (``--latency-ms``, a provider's think time) and one
``cachefront serve`` in front of it, then replays reflection requests from 1,000 users
(each its own access token), three each, ``--concurrency`` in flight at once. What
users write follows a Zipf law over a pool of texts (a few are very common: "I feel
tired today"), in three languages and four tones, typed with stray spacing, as a
day of app traffic would be. Reflections are shared across users by normalized
request, so the provider is asked once per distinct request and template version;
the simulator's own count of requests is the number of provider calls.

    python benchmarks/ai_reflections_replay.py [--users 1000] [--per-user 3] [--pool 300]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import random
import time
from typing import Any

import httpx
from harness import (
    ai_gateway_env,
    bench_database,
    cachefront,
    simulator,
    simulator_requests,
    user_token,
)

LANGUAGES = ("en", "fr", "ar")
TONES = ("gentle", "encouraging", "direct", "neutral")
_SUBJECTS = ("work", "my family", "the exam", "my health", "a friend", "the move", "money")
_FEELINGS = ("tired", "hopeful", "anxious", "proud", "lost", "grateful", "angry", "calm")


def token(user: int) -> str:
    return user_token(f"user-{user}")


def pool(size: int, rng: random.Random) -> list[dict[str, str]]:
    texts = []
    for index in range(size):
        feeling = _FEELINGS[index % len(_FEELINGS)]
        subject = _SUBJECTS[(index // len(_FEELINGS)) % len(_SUBJECTS)]
        texts.append(
            {
                "text": f"I feel {feeling} about {subject} today ({index // 56}).",
                "language": LANGUAGES[rng.randrange(3)] if index > 20 else "en",
                "tone": TONES[rng.randrange(4)] if index > 10 else "gentle",
            }
        )
    return texts


def respaced(text: str, rng: random.Random) -> str:
    # What typing adds: stray spaces the normalization folds away.
    words = text.split(" ")
    return "  " * rng.randrange(2) + "  ".join(words) if rng.random() < 0.3 else text


async def replay(
    base: str, users: int, per_user: int, size: int, concurrency: int
) -> tuple[int, collections.Counter[str], float]:
    rng = random.Random(20261201)
    texts = pool(size, rng)
    weights = [1 / (rank + 1) for rank in range(size)]  # Zipf, s = 1
    requests = []
    for user in range(users):
        auth = {"Authorization": f"Bearer {token(user)}"}
        for choice in rng.choices(texts, weights, k=per_user):
            requests.append((auth, {**choice, "text": respaced(choice["text"], rng)}))
    rng.shuffle(requests)
    states: collections.Counter[str] = collections.Counter()
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        async def one(auth: dict[str, str], body: dict[str, Any]) -> None:
            async with gate:
                response = await client.post("/v1/ai/reflections", json=body, headers=auth)
                assert response.status_code == 200, response.text
                states[response.headers["x-cache"]] += 1

        started = time.perf_counter()
        await asyncio.gather(*(one(auth, body) for auth, body in requests))
        elapsed = time.perf_counter() - started
    return len(requests), states, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--per-user", type=int, default=3)
    parser.add_argument("--pool", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=300.0)
    args = parser.parse_args()
    with simulator(args.latency_ms, name="openai") as sim, bench_database() as db:
        limits = '{"general": "1000000/minute", "ai": "1000000/minute"}'
        env = ai_gateway_env(sim, db, rate_limits=limits, users=True)
        with cachefront(env) as base:
            before = simulator_requests(sim)
            total, states, elapsed = asyncio.run(
                replay(base, args.users, args.per_user, args.pool, args.concurrency)
            )
            calls = simulator_requests(sim) - before
    print(
        f"python benchmarks/ai_reflections_replay.py --users {args.users} --per-user "
        f"{args.per_user} --pool {args.pool} --concurrency {args.concurrency} "
        f"--latency-ms {args.latency_ms:g}"
    )
    print(
        "| requests | distinct asked | provider calls | saved | HIT | COALESCED | MISS | wall s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    saved = total - calls
    print(
        f"| {total} | {states['MISS'] + states['']} | {calls} | {saved} ({saved / total:.1%}) "
        f"| {states['HIT']} | {states['COALESCED']} | {states['MISS']} | {elapsed:.1f} |"
    )


if __name__ == "__main__":
    main()
