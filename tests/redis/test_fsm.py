"""FSM state in Redis: a flow started on one replica continues on another, and a Redis that
cannot answer gets the user a clear "try again" (nothing lost, nothing bought)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio import Redis
from redis.asyncio.connection import Connection

from bot.app import build_dispatcher
from handlers.send_queue import UNPACED
from tests.handlers.test_buy import open_confirm
from tests.harness import ChatDriver


@contextlib.contextmanager
def redis_round_trips(marker: bytes) -> Iterator[list[bytes]]:
    """Every round trip to Redis (all of a pipeline's commands are one) whose commands name
    `marker`, as sent, while inside."""
    sent: list[bytes] = []
    send = Connection.send_packed_command

    async def recorded(self: Connection, command: Any, check_health: bool = True) -> None:
        packed = b"".join(command) if isinstance(command, list) else bytes(command)
        if marker in packed:
            sent.append(packed)
        await send(self, command, check_health)

    Connection.send_packed_command = recorded  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        Connection.send_packed_command = send  # type: ignore[method-assign]


async def _keyed(services: Any, sandbox: Any, sandbox_key: str, user_id: int) -> None:
    await services.accounts.add_key(
        user_id, base_url=sandbox.url, api_key=sandbox_key, label="test"
    )


async def test_a_prompt_opened_on_one_replica_takes_the_answer_on_another(
    services: Any, replica: Any, bot: Any, sandbox: Any, sandbox_key: str, redis: Redis
) -> None:
    second = await replica()
    first_dp = build_dispatcher(services, bot, with_tracker=False, send_limits=UNPACED)
    second_dp = build_dispatcher(second, bot, with_tracker=False, send_limits=UNPACED)
    assert isinstance(first_dp.storage, RedisStorage)
    await _keyed(services, sandbox, sandbox_key, 111)
    on_first = ChatDriver(first_dp, bot, user_id=111)
    on_second = ChatDriver(second_dp, bot, user_id=111, first_update_id=10_000)

    await open_confirm(on_first)
    await on_first.tap("Set a maximum price")
    # The state is in Redis, under the bot's id, not in either process.
    assert await redis.keys(f"sms-bot:{bot.id}:fsm:*")
    # The user's answer lands on the other replica: it knows what the screen asked.
    await on_second.send("30")
    assert "Maximum price: 30.00" in on_second.last_text
    # And the flow goes on wherever the next tap lands.
    await on_first.tap("Buy for")
    assert len(sandbox.state.purchases) == 1
    requests = [r for r in sandbox.state.requests if r["action"].startswith("getNumber")]
    assert requests[-1]["params"].get("maxPrice") == "30"


async def test_a_redis_that_cannot_answer_gets_a_try_again_and_buys_nothing(
    services: Any, bot: Any, sandbox: Any, sandbox_key: str, unused_tcp_port: int
) -> None:
    dp = build_dispatcher(services, bot, with_tracker=False, send_limits=UNPACED)
    chat = ChatDriver(dp, bot, user_id=111)
    await _keyed(services, sandbox, sandbox_key, 111)
    await open_confirm(chat)
    confirm = chat.last_bot_message()
    # Redis goes away (nothing listens on that port): the FSM state cannot be read.
    dead = Redis.from_url(f"redis://127.0.0.1:{unused_tcp_port}/0", socket_connect_timeout=1)
    alive, services.redis = services.redis, dead
    try:
        down_dp = build_dispatcher(services, bot, with_tracker=False, send_limits=UNPACED)
        down = ChatDriver(down_dp, bot, user_id=111, first_update_id=10_000)
        answer = await down.tap("Buy for", confirm)
        assert answer is not None and "Please try again" in (answer.text or "")
        await down.send("/start")
        assert "Please try again" in down.last_text
        assert sandbox.state.purchases == []
    finally:
        services.redis = alive
        await dead.aclose()
    # Redis is back (the first replica's client): the same confirm screen still buys, once.
    await chat.tap("Buy for", confirm)
    assert len(sandbox.state.purchases) == 1


async def test_an_update_reads_its_dialogue_state_from_redis_once(
    services: Any, bot: Any, sandbox: Any, sandbox_key: str
) -> None:
    """aiogram reads the state, the prompt middleware and the handler read the data: one MGET
    per update answers them all, and what the update wrote is what its later reads see."""
    dp = build_dispatcher(services, bot, with_tracker=False, send_limits=UNPACED)
    await _keyed(services, sandbox, sandbox_key, 111)
    chat = ChatDriver(dp, bot, user_id=111)
    await open_confirm(chat)
    with redis_round_trips(b":fsm:") as trips:
        await chat.tap("Set a maximum price")  # a prompt: state and data written
        await chat.send("30")  # the answer: the prompt's state and data read, then cleared
    reads = [trip for trip in trips if b"GET" in trip]
    assert len(reads) == 2 and all(b"MGET" in trip for trip in reads)
    assert "Maximum price: 30.00" in chat.last_text
    await chat.tap("Buy for")
    assert len(sandbox.state.purchases) == 1


async def test_a_page_turn_writes_nothing_and_a_new_screen_writes_once(
    services: Any, bot: Any, sandbox: Any, sandbox_key: str
) -> None:
    """Turning a page keeps the screen's state and data: nothing is written. Choosing a
    service enters the next screen: its state and data go in one round trip."""
    dp = build_dispatcher(services, bot, with_tracker=False, send_limits=UNPACED)
    await _keyed(services, sandbox, sandbox_key, 112)
    chat = ChatDriver(dp, bot, user_id=112)
    await chat.send("/buy")
    with redis_round_trips(b":fsm:") as sent:
        await chat.tap("›")  # the next page of services
        turned = list(sent)
        sent.clear()
        await chat.tap("Discord")  # the countries of a service
        entered = list(sent)
    assert [b"MGET" in trip for trip in turned] == [True]  # the read, no write
    assert [b"MGET" in trip for trip in entered] == [True, False]  # the read, one write
    assert b"MULTI" in entered[1] and entered[1].count(b":fsm:") == 2  # state and data
    assert "Discord</b>: choose a country" in chat.last_text
    [(state, data)] = [
        (
            await services.redis.get(key.replace(b":data", b":state")),
            await services.redis.get(key),
        )
        for key in await services.redis.keys("*:fsm:*112*:data")
    ]
    assert state == b"BuyStates:countries"
    assert json.loads(data) == {"q": "", "cq": "", "s": "ds"}
