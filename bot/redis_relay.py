"""The change relay over Redis (or Valkey) pub/sub: what the use cases of one process changed
(a number bought, a rental opened, a purchase whose outcome is unknown) wakes the tracker of
another.

One channel; each message is one `Change` as JSON, `{"k": kind, "id": row id}`. Pub/sub is a
wake-up, not the record: the rows are in the database, and a change that finds no listener
(the tracker restarting, Redis restarting) is found there by the tracker's own reads. So:

- `publish` never blocks and never raises: the change waits in a bounded local buffer, and a
  sender task publishes it (in batches); while Redis is down the buffer keeps the newest
  `buffer` changes and the oldest are dropped with a log line;
- the receiver subscribes in `start` and keeps subscribing again after a Redis restart;
- a message that is not a change (garbled, another program's, a kind this version does not
  know) is dropped with a log line; a listener that fails never stops the receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Callable, Mapping

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.changes import Change, Changed

log = logging.getLogger(__name__)

CHANNEL = "sms-bot:changes"
BUFFER = 10_000  # changes waiting to be published at most (a few dozen bytes each)
BATCH = 200  # changes published in one round trip at most
RETRY = 1.0  # seconds between two attempts while Redis is down
LISTEN = 1.0  # seconds one wait for a message lasts (the receiver notices a dead link by then)
STOP_GRACE = 2.0  # seconds the last changes get to leave at shutdown

Deliver = Callable[[Change], None]


def encode(change: Change) -> str:
    return json.dumps({"k": change.kind.value, "id": change.id}, separators=(",", ":"))


def decode(data: bytes | str) -> Change | None:
    """The change a message carries, or None when it carries none."""
    try:
        fields = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(fields, dict):
        return None
    kind, row_id = fields.get("k"), fields.get("id")
    if not isinstance(kind, str) or type(row_id) is not int or row_id <= 0:
        return None
    try:
        return Change(Changed(kind), row_id)
    except ValueError:  # a kind this version does not know
        return None


class RedisChangeRelay:
    """`bot.changes.ChangeRelay` over one Redis pub/sub channel."""

    def __init__(
        self,
        redis: Redis,
        channel: str = CHANNEL,
        *,
        buffer: int = BUFFER,
        retry: float = RETRY,
    ) -> None:
        self._redis = redis
        self._channel = channel
        self._buffer = max(1, buffer)
        self._retry = retry
        self._outbox: deque[Change] = deque()
        self._wanted = asyncio.Event()  # something waits in the outbox
        self._sender: asyncio.Task[None] | None = None
        self._receiver: asyncio.Task[None] | None = None
        self._stopped = False
        self._sender_down = False  # the sender logs an outage once, not once per attempt
        self._receiver_down = False
        self.dropped = 0  # changes dropped because the buffer was full (Redis down too long)
        self.garbled = 0  # messages received that carried no change

    # ------------------------------------------------------------------ out

    def publish(self, change: Change) -> None:
        """Queue `change` for the other processes; returns at once, never raises."""
        try:
            self._keep(change)
            self._wanted.set()
            self._ensure_sender()
        except Exception:  # a wake-up must never break the use case that sent it
            log.exception("change relay: could not queue a change")

    def _keep(self, change: Change) -> None:
        if len(self._outbox) >= self._buffer:
            self._outbox.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning(
                    "change relay: buffer full, %s changes dropped so far (the trackers find "
                    "them in the database)",
                    self.dropped,
                )
        self._outbox.append(change)

    def _ensure_sender(self) -> None:
        if self._stopped or (self._sender is not None and not self._sender.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: the next publish inside one starts the sender
        self._sender = loop.create_task(self._send_forever())

    async def _send_forever(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            while self._outbox:
                if not await self._send_batch():
                    await asyncio.sleep(self._retry)

    async def _send_batch(self) -> bool:
        """Publish the oldest changes waiting; False (they wait again) when Redis failed."""
        batch = [self._outbox.popleft() for _ in range(min(BATCH, len(self._outbox)))]
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for change in batch:
                    pipe.publish(self._channel, encode(change))
                await pipe.execute()
        except (RedisError, OSError) as error:
            # Back at the front, oldest first; a full buffer keeps the newest.
            for change in reversed(batch):
                if len(self._outbox) >= self._buffer:
                    self.dropped += 1
                    continue
                self._outbox.appendleft(change)
            self._sender_down = _outage(self._sender_down, error, "publish", self._retry)
            return False
        self._sender_down = _recovered(self._sender_down, "publish")
        return True

    # ------------------------------------------------------------------ in

    async def start(self, deliver: Deliver) -> None:
        """Receive the changes of the other processes into `deliver`. Returns once the first
        subscription is made (or failed: it is retried in the background)."""
        if self._receiver is not None:
            return
        tried = asyncio.Event()
        self._receiver = asyncio.create_task(self._receive_forever(deliver, tried))
        await tried.wait()

    async def _receive_forever(self, deliver: Deliver, tried: asyncio.Event) -> None:
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self._receiver_down = _recovered(self._receiver_down, "receive")
                tried.set()
                while True:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=LISTEN
                    )
                    if message is not None:
                        self._hand_over(message, deliver)
            except (RedisError, OSError) as error:
                self._receiver_down = _outage(self._receiver_down, error, "receive", self._retry)
                tried.set()
            except Exception:  # whatever it was, the relay keeps receiving
                log.exception("change relay: the receiver failed; subscribing again")
                tried.set()
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
            await asyncio.sleep(self._retry)

    def _hand_over(self, message: Mapping[str, object], deliver: Deliver) -> None:
        data = message.get("data")
        change = decode(data) if isinstance(data, bytes | str) else None
        if change is None:
            self.garbled += 1
            log.warning("change relay: dropped a message that is not a change (%s)", _size(data))
            return
        try:
            deliver(change)
        except Exception:  # one listener's failure never stops the relay
            log.exception("change relay: delivering a change failed")

    # ------------------------------------------------------------------ life

    async def stop(self) -> None:
        """Stop receiving; the changes still waiting get STOP_GRACE to leave."""
        self._stopped = True
        for task in (self._receiver, self._sender):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._receiver = self._sender = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_GRACE):
                while self._outbox and await self._send_batch():
                    pass


def _outage(down: bool, error: Exception, side: str, retry: float) -> bool:
    if not down:
        log.warning(
            "change relay: Redis unavailable to %s (%s); retrying every %ss",
            side,
            type(error).__name__,
            retry,
        )
    return True


def _recovered(down: bool, side: str) -> bool:
    if down:
        log.info("change relay: Redis is back (%s)", side)
    return False


def _size(data: object) -> str:
    return f"{len(data)} bytes" if isinstance(data, bytes | str) else type(data).__name__
