"""FSM state in Redis (REDIS_URL): aiogram's own `RedisStorage`, so a user whose next update
lands on another replica finds the screen that awaits their input, and what it gathered.

Keys carry the bot's id (several bots may share one Redis) and expire after FSM_TTL untouched:
a flow left for a month is abandoned, and Redis holds no key for ever. The Redis client belongs
to the composition root (`Services.close`), so closing the dispatcher's storage leaves it open
for the rest that shares it.

When Redis fails, reading the state raises before any handler runs: the dispatcher's error
path (`handlers.fallback.on_error`) tells the user to try again, and nothing was bought or
changed; money never passes through this state (purchase tokens live in the database)."""

from __future__ import annotations

from datetime import timedelta

from aiogram.fsm.storage.base import DefaultKeyBuilder
from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio import Redis

FSM_TTL = timedelta(days=30)


class SharedRedisStorage(RedisStorage):
    def __init__(self, redis: Redis, prefix: str) -> None:
        super().__init__(
            redis,
            key_builder=DefaultKeyBuilder(prefix=f"{prefix}:fsm", with_destiny=True),
            state_ttl=FSM_TTL,
            data_ttl=FSM_TTL,
        )

    async def close(self) -> None:
        return None  # the client is closed by its owner (Services.close)
