"""An old prompt loses its buttons once when the two updates that leave it run on two
replicas: the replicas share the claim through Redis."""

from __future__ import annotations

from aiogram.methods import EditMessageReplyMarkup
from redis.asyncio import Redis

from handlers.middlewares import PromptMiddleware
from handlers.redis_limits import RedisPromptClaims
from tests.harness import leave_one_prompt_at_once

PREFIX = "sms-bot:test"


async def test_two_replicas_leaving_one_prompt_retire_it_once(redis: Redis) -> None:
    replicas = [PromptMiddleware(RedisPromptClaims(redis, PREFIX)) for _ in range(2)]
    session, prompt = await leave_one_prompt_at_once(replicas)
    assert len(session.calls(EditMessageReplyMarkup)) == 1
    assert prompt.markup is None


async def test_a_redis_that_cannot_answer_leaves_the_claim_to_the_process(
    unused_tcp_port: int,
) -> None:
    dead = Redis.from_url(f"redis://127.0.0.1:{unused_tcp_port}/0", socket_connect_timeout=1)
    try:
        assert await RedisPromptClaims(dead, PREFIX).claim(77, 5) is True
    finally:
        await dead.aclose()
