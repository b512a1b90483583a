"""Limits shared by every process of one bot through Redis (or Valkey): the throttle of one
user's floods and Telegram's send budget (and one claim: which replica retires an old prompt).
Either is optional: without REDIS_URL each process keeps its own (`ThrottleMiddleware`'s
bucket, `SendSchedule`'s pace), which is exact for one process; with several replicas, a user
whose taps land on two of them, or codes sent by two workers, must take from one bucket.

Both are the same rule the in-process throttle keeps: a token bucket stored as one number per
bucket, the moment it is full again (`full_at`); taking a token pushes it one `step` further;
more than `burst` steps ahead of now is empty. One Lua script keeps that rule for one or several
buckets at once (a message takes from the bot's bucket and its chat's bucket together), atomic
on the server, timed by the server's clock (the replicas' clocks never need to agree).

A Redis that fails (down, restarting, too slow) never stops a handler or a message: the caller
falls back to its process's own limiter and tells the log once per outage (`Outage`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from handlers.send_queue import SendLimits

log = logging.getLogger(__name__)

MICROS = 1_000_000

# KEYS: the buckets. ARGV[1]: "take" (a token of every bucket now, or none: then nothing is
# taken) or "reserve" (book the next token, however far ahead). ARGV[2i], ARGV[2i+1]: bucket i's
# step (µs) and burst. Returns the µs to wait for the token booked (0: now), or, when "take"
# found a bucket empty, minus the µs until every bucket has one.
# Each bucket expires once full again: a bucket that is full is like one never used.
_TAKE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local wait = 0
local full = {}
for i = 1, #KEYS do
  local step = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local at = tonumber(redis.call('GET', KEYS[i]) or now)
  if at < now then at = now end
  full[i] = at
  local needed = at + step - now - step * burst
  if needed > wait then wait = needed end
end
if ARGV[1] == 'take' and wait > 0 then return -wait end
local go = now + wait
for i = 1, #KEYS do
  local at = full[i]
  if at < go then at = go end
  at = at + tonumber(ARGV[2 * i])
  local ttl = math.floor((at - now) / 1000) + 1
  redis.call('SET', KEYS[i], string.format('%.0f', at), 'PX', ttl)
end
return wait
"""


@dataclass(frozen=True, slots=True)
class Bucket:
    """One bucket of the script: its key, seconds per token, tokens it holds when full."""

    key: str
    step: float
    burst: int = 1


class Outage:
    """Logs a Redis outage once when it starts and once when it ends, not once per call."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.down = False

    def failed(self, error: RedisError) -> None:
        if not self.down:
            self.down = True
            log.warning(
                "Redis unavailable (%s): the %s falls back to this process's own limit",
                type(error).__name__,
                self.what,
            )

    def ok(self) -> None:
        if self.down:
            self.down = False
            log.info("Redis is back: the %s is shared again", self.what)


class RedisBuckets:
    """The token-bucket script on one Redis: take a token from one or several buckets."""

    def __init__(self, redis: Redis) -> None:
        self._script = redis.register_script(_TAKE)

    @staticmethod
    def _args(mode: str, buckets: Sequence[Bucket]) -> list[str | int]:
        args: list[str | int] = [mode]
        for bucket in buckets:
            args += [round(bucket.step * MICROS), max(1, bucket.burst)]
        return args

    async def _run(self, mode: str, buckets: Sequence[Bucket]) -> float:
        args = self._args(mode, buckets)
        return int(await self._script(keys=[b.key for b in buckets], args=args)) / MICROS

    def take_in(self, pipe: Pipeline, bucket: Bucket) -> None:
        """`take` of one bucket, queued on `pipe` (by the script's hash: a server that does not
        know the script yet answers an error there, and the caller asks again the usual way).
        Its answer, in the pipeline's results: 0 when taken, below 0 when not."""
        pipe.evalsha(self._script.sha, 1, bucket.key, *self._args("take", [bucket]))

    async def take(self, buckets: Sequence[Bucket]) -> float:
        """Take a token of every bucket now: 0 when taken; else nothing is taken and the answer
        is the seconds until every bucket has one. (Several buckets are never booked ahead:
        a chat's turn a second away must not hold the bot's bucket for every other chat.)"""
        return max(0.0, -await self._run("take", buckets))

    async def reserve(self, bucket: Bucket) -> float:
        """Book the bucket's next token, however far ahead; the seconds until it."""
        return await self._run("reserve", [bucket])


# The throttle's tokens taken ahead in the update being handled, in the round trip that reads
# its dialogue state (handlers.redis_fsm): user id -> taken (True), found none (False), or
# no answer to use (None: not answered, or used already). Open only inside an update the
# throttle may meet.
_AHEAD: ContextVar[dict[int, bool | None] | None] = ContextVar("throttle_ahead", default=None)


@contextmanager
def throttle_ahead() -> Iterator[None]:
    """Inside: the update's throttle token may be taken ahead (`RedisThrottle.take_ahead`)."""
    token = _AHEAD.set({})
    try:
        yield
    finally:
        _AHEAD.reset(token)


class RedisThrottle:
    """The throttle's buckets (one per user) in Redis: a user's flood spread over replicas
    meets one bucket. Never raises: when Redis fails it answers None (cannot say), and
    `ThrottleMiddleware` decides with its own bucket.

    With `rate` (the throttle's, and its `burst`), an update's token can be taken ahead, in the
    same round trip as its dialogue state's read (`take_ahead`): the throttle then finds its
    answer there instead of asking Redis once more. The rule is the same: a token taken when
    the bucket has one, nothing taken when it is empty (then a paced input books its token the
    usual way)."""

    def __init__(self, redis: Redis, prefix: str, *, rate: float = 0.0, burst: int = 1) -> None:
        self._buckets = RedisBuckets(redis)
        self._prefix = prefix
        self._outage = Outage("throttle")
        self._ahead = (rate, burst)

    def _bucket(self, user_id: int, rate: float, burst: int) -> Bucket:
        return Bucket(f"{self._prefix}:throttle:{user_id}", rate, burst)

    def take_ahead(self, pipe: Pipeline, user_id: int) -> Callable[[object], None] | None:
        """Queue the take of `user_id`'s token on `pipe`, once per update and only inside
        `throttle_ahead()`; what to call with the pipeline's answer to it (an error there is
        no answer: the throttle asks again), or None when nothing was queued."""
        ahead = _AHEAD.get()
        rate, burst = self._ahead
        if ahead is None or rate <= 0 or user_id in ahead:
            return None
        self._buckets.take_in(pipe, self._bucket(user_id, rate, burst))
        ahead[user_id] = None  # asked: no second take in this update, whatever the answer

        def answered(answer: object) -> None:
            if isinstance(answer, int):
                ahead[user_id] = answer >= 0

        return answered

    def _use_ahead(self, user_id: int, rate: float, burst: int) -> bool | None:
        ahead = _AHEAD.get()
        if ahead is None or (rate, burst) != self._ahead:
            return None
        taken = ahead.get(user_id)
        if taken is not None:
            ahead[user_id] = None  # one update, one token
        return taken

    async def allow(self, user_id: int, rate: float, burst: int) -> bool | None:
        taken = self._use_ahead(user_id, rate, burst)
        if taken is not None:
            return taken
        try:
            allowed = await self._buckets.take([self._bucket(user_id, rate, burst)]) == 0
        except RedisError as error:
            self._outage.failed(error)
            return None
        self._outage.ok()
        return allowed

    async def reserve(self, user_id: int, rate: float, burst: int) -> float | None:
        if self._use_ahead(user_id, rate, burst):
            return 0.0  # taken with the update's dialogue state
        try:
            wait = await self._buckets.reserve(self._bucket(user_id, rate, burst))
        except RedisError as error:
            self._outage.failed(error)
            return None
        self._outage.ok()
        return wait


# Tokens the bot's shared bucket holds when full. Each process's `SendSchedule` already keeps
# `per_second`; at one token, a take a little late (a Redis round trip, a busy core) lost the
# slot it came for, the shared bucket ran slower than the processes' own pace, and the
# messages waiting on it (codes among them, whoever asked again first won) fell behind by
# seconds: at 25 messages a second, a code's p95 wait there was 0.8 s with one process
# sending. Two tokens keep a late slot; in any second at most `per_second` + 2 go (28 + 2:
# Telegram's 30).
BOT_BURST = 2


class RedisSendBudget:
    """Telegram's send budget of one bot shared by its processes: every message takes a token
    of the bot's bucket (`per_second`, `BOT_BURST`) and of its chat's (one a second, a group's
    one per three) together, waiting until both have one. The process's own `SendSchedule`
    still orders and paces its queue; this only keeps the processes together within
    Telegram's limits.

    Never raises: when Redis fails, a message goes at its process's own pace (0 s to wait)."""

    def __init__(self, redis: Redis, prefix: str, limits: SendLimits) -> None:
        self._buckets = RedisBuckets(redis)
        self._prefix = prefix
        self._limits = limits
        self._outage = Outage("Telegram send budget")

    def _of(self, chat_id: int) -> list[Bucket]:
        buckets: list[Bucket] = []
        if self._limits.per_second > 0:
            buckets.append(
                Bucket(f"{self._prefix}:send:all", 1.0 / self._limits.per_second, BOT_BURST)
            )
        interval = self._limits.interval(chat_id)
        if interval > 0:
            buckets.append(Bucket(f"{self._prefix}:send:chat:{chat_id}", interval))
        return buckets

    async def take(self, chat_id: int) -> float:
        """Take this chat's next message's tokens: 0 when taken, else the seconds until both
        buckets have one (nothing taken: the caller waits, then takes again)."""
        buckets = self._of(chat_id)
        if not buckets:
            return 0.0
        try:
            wait = await self._buckets.take(buckets)
        except RedisError as error:
            self._outage.failed(error)
            return 0.0
        self._outage.ok()
        return wait


class RedisPromptClaims:
    """An old prompt retired by one replica only (`PromptMiddleware`): the first to claim
    (chat, message) sets a key that only it can set (SET NX), kept a day. Never raises: when
    Redis fails, the process's own claim decides (a second replica's edit is then refused by
    Telegram as "not modified", which the prompt's retirement already takes in its stride)."""

    TTL = 86_400

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._outage = Outage("prompt claims")

    async def claim(self, chat_id: int, message_id: int) -> bool:
        key = f"{self._prefix}:prompt-retired:{chat_id}:{message_id}"
        try:
            first = await self._redis.set(key, 1, nx=True, ex=self.TTL)
        except RedisError as error:
            self._outage.failed(error)
            return True
        self._outage.ok()
        return bool(first)
