"""FSM state in Redis (REDIS_URL): aiogram's own `RedisStorage`, so a user whose next update
lands on another replica finds the screen that awaits their input, and what it gathered.

Keys carry the bot's id (several bots may share one Redis) and expire after FSM_TTL unchanged:
a flow left for a month is abandoned, and Redis holds no key for ever. The Redis client belongs
to the composition root (`Services.close`), so closing the dispatcher's storage leaves it open
for the rest that shares it.

One read per update: aiogram reads the state before the handlers, the prompt middleware and
the handlers read the data, often more than once. Inside an update (`OneReadPerUpdate`, which
the dispatcher runs before aiogram's FSM middleware) the first read takes state and data in one
MGET, later reads are answered from it, and writes go to Redis and to it; a write of what the
update read already (a page turned within one screen) is not sent at all, and a screen's state
and data entered together (`handlers.fsm_storage.enter_screen`) go in one round trip. The
first read also takes the shared throttle's token for the update's user, in the same round
trip (`handlers.redis_limits.RedisThrottle.take_ahead`). Each update reads afresh: what
another replica wrote before it began is always seen.

When Redis fails, reading the state raises before any handler runs: the dispatcher's error
path (`handlers.fallback.on_error`) tells the user to try again, and nothing was bought or
changed; money never passes through this state (purchase tokens live in the database)."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiogram import BaseMiddleware
from aiogram.fsm.storage.base import DefaultKeyBuilder, StateType, StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import TelegramObject, Update
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from handlers.fsm_storage import state_name
from handlers.redis_limits import RedisThrottle, throttle_ahead

FSM_TTL = timedelta(days=30)


@dataclass(slots=True)
class _Read:
    """What Redis held for one storage key when this update first asked, and what the update
    has written since."""

    state: str | None
    data: dict[str, Any] = field(default_factory=dict)


# The reads of the update being handled (None outside an update: every call goes to Redis).
_READS: ContextVar[dict[StorageKey, _Read] | None] = ContextVar("fsm_reads", default=None)


def _text(value: bytes | str | None) -> str | None:
    return value.decode("utf-8") if isinstance(value, bytes) else value


class OneReadPerUpdate(BaseMiddleware):
    """Opens the update's read cache of the FSM storage (see the module's docstring)."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        token = _READS.set({})
        # A tap or a message meets the throttle: its token may come with the state's read.
        meets_throttle = isinstance(event, Update) and (
            event.message is not None or event.callback_query is not None
        )
        try:
            with throttle_ahead() if meets_throttle else contextlib.nullcontext():
                return await handler(event, data)
        finally:
            _READS.reset(token)


class SharedRedisStorage(RedisStorage):
    """`throttle`: the shared throttle, whose token for the update's user is taken in the
    same round trip as the first read (`RedisThrottle.take_ahead`)."""

    def __init__(self, redis: Redis, prefix: str, throttle: RedisThrottle | None = None) -> None:
        super().__init__(
            redis,
            key_builder=DefaultKeyBuilder(prefix=f"{prefix}:fsm", with_destiny=True),
            state_ttl=FSM_TTL,
            data_ttl=FSM_TTL,
        )
        self._throttle = throttle

    async def _fetch(self, key: StorageKey) -> list[bytes | str | None]:
        """State and data in one MGET, with the throttle's take in the same round trip."""
        keys = (self.key_builder.build(key, "state"), self.key_builder.build(key, "data"))
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.mget(*keys)
            taken = None if self._throttle is None else self._throttle.take_ahead(pipe, key.user_id)
            answers = await pipe.execute(raise_on_error=False)
        fetched = answers[0]
        if isinstance(fetched, Exception):
            raise fetched
        if taken is not None:
            taken(answers[1])
        return list(fetched)

    async def _read(self, reads: dict[StorageKey, _Read], key: StorageKey) -> _Read:
        read = reads.get(key)
        if read is None:
            state, data = await self._fetch(key)
            text = _text(data)
            read = reads[key] = _Read(_text(state), {} if text is None else self.json_loads(text))
        return read

    async def get_state(self, key: StorageKey) -> str | None:
        reads = _READS.get()
        if reads is None:
            return await super().get_state(key)
        return (await self._read(reads, key)).state

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        reads = _READS.get()
        if reads is None:
            return await super().get_data(key)
        # A copy, as a fresh read would be: a caller may change what it got.
        return copy.deepcopy((await self._read(reads, key)).data)

    def _known(self, key: StorageKey) -> _Read | None:
        """What this update read or wrote of `key` (None outside an update, or not read yet)."""
        return (_READS.get() or {}).get(key)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        read = self._known(key)
        name = state_name(state)
        if read is not None and read.state == name:
            return
        await super().set_state(key, state)
        if read is not None:
            read.state = name

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        read = self._known(key)
        if read is not None and read.data == data:
            return
        await super().set_data(key, data)
        if read is not None:
            read.data = copy.deepcopy(dict(data))

    async def enter_screen(
        self, key: StorageKey, state: StateType, update: Mapping[str, Any]
    ) -> None:
        """`set_state` and `update_data` in one round trip (a MULTI of what changed)."""
        read = await self._read(_READS.get() or {}, key)
        name = state_name(state)
        data = {**read.data, **update}
        async with self.redis.pipeline(transaction=True) as pipe:
            if name != read.state:
                self._put(pipe, self.key_builder.build(key, "state"), name, self.state_ttl)
            if data != read.data:
                text = self.json_dumps(data) if data else None  # empty data: no key, as aiogram
                self._put(pipe, self.key_builder.build(key, "data"), text, self.data_ttl)
            if len(pipe):
                await pipe.execute()
        read.state, read.data = name, copy.deepcopy(data)

    @staticmethod
    def _put(
        pipe: Pipeline, redis_key: str, value: str | None, ttl: int | timedelta | None
    ) -> None:
        """Queue `value` under `redis_key` (None: the key deleted)."""
        if value is None:
            pipe.delete(redis_key)
        else:
            pipe.set(redis_key, value, ex=ttl)

    async def close(self) -> None:
        return None  # the client is closed by its owner (Services.close)
