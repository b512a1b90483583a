"""The throttle shared by the replicas: one user's flood spread over two dispatchers meets one
bucket; the shared bucket keeps the in-process rule (a burst passes, a refusal takes nothing,
paced input books the next token); a Redis that cannot answer leaves the process's own."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from bot.app import build_dispatcher
from handlers.middlewares import THROTTLE_BURST, ThrottleMiddleware
from handlers.redis_limits import RedisThrottle, throttle_ahead
from handlers.send_queue import UNPACED
from tests.harness import ChatDriver, find_middleware
from tests.redis.test_fsm import redis_round_trips

HELP = "How this bot works"


async def test_the_flood_limit_holds_across_two_replicas(
    services: Any, replica: Any, bot: Any
) -> None:
    services.settings = services.settings.model_copy(update={"throttle_rate": 30})
    second = await replica(throttle_rate=30)
    one = ChatDriver(build_dispatcher(services, bot, with_tracker=False, send_limits=UNPACED), bot)
    two = ChatDriver(
        build_dispatcher(second, bot, with_tracker=False, send_limits=UNPACED),
        bot,
        first_update_id=10_000,
    )
    # The user's updates alternate between the replicas (a load balancer's round robin).
    for n in range(THROTTLE_BURST):
        await (one if n % 2 == 0 else two).send("/help")
    assert sum(HELP in text for text in one.texts()) == THROTTLE_BURST  # the burst passes
    await one.send("/help")  # past the burst on either replica: dropped
    await two.send("/help")
    assert sum(HELP in text for text in one.texts()) == THROTTLE_BURST
    answer = await two.tap_data("m1:main")
    assert answer is not None and "Too fast" in (answer.text or "")
    # Another user has a bucket of their own.
    other = ChatDriver(one.dp, bot, user_id=4005, first_update_id=20_000)
    await other.send("/help")
    assert HELP in other.last_text


async def test_the_shared_bucket_keeps_the_in_process_rule(redis: Redis) -> None:
    shared = RedisThrottle(redis, "sms-bot:test")
    assert [await shared.allow(1, 30.0, 3) for _ in range(4)] == [True, True, True, False]
    assert await shared.allow(1, 30.0, 3) is False  # a refusal takes no token
    assert await shared.allow(2, 30.0, 3) is True
    # Paced input books the next token: the first that finds the bucket empty waits a step,
    # the next one two.
    paced = [await shared.reserve(3, 30.0, 1) for _ in range(3)]
    assert paced[0] == 0
    assert 25 < paced[1] <= 30 and 55 < paced[2] <= 60


async def test_a_redis_that_cannot_answer_leaves_the_throttle_to_the_process(
    services: Any, bot: Any, unused_tcp_port: int
) -> None:
    dead = Redis.from_url(f"redis://127.0.0.1:{unused_tcp_port}/0", socket_connect_timeout=1)
    try:
        dp = build_dispatcher(services, bot, with_tracker=False, send_limits=UNPACED)
        chat = ChatDriver(dp, bot)
        await chat.send("/start")
        throttle = find_middleware(dp, ThrottleMiddleware)
        throttle.rate = 30
        throttle._shared = RedisThrottle(dead, "sms-bot:test")
        for _ in range(THROTTLE_BURST + 2):
            await chat.tap_data("m1:main")
        # The process's own bucket took over: the burst passed, the rest were slowed down.
        assert len(throttle._full_at) == 1
        answer = await chat.tap_data("m1:main")
        assert answer is not None and "Too fast" in (answer.text or "")
    finally:
        await dead.aclose()


async def test_a_tap_takes_its_token_in_the_round_trip_of_its_dialogue_state(
    services: Any, bot: Any
) -> None:
    """The throttle's token comes with the dialogue state's read: one round trip, not two."""
    services.settings = services.settings.model_copy(update={"throttle_rate": 30})
    chat = ChatDriver(build_dispatcher(services, bot, with_tracker=False, send_limits=UNPACED), bot)
    await chat.send("/start")  # the first: the server learns the script
    with redis_round_trips(b":throttle:") as trips:
        await chat.send("/help")
    assert len(trips) == 1
    assert b"MGET" in trips[0] and b":fsm:" in trips[0] and b"EVALSHA" in trips[0]
    assert HELP in chat.last_text  # the token was there: handled


async def test_a_token_taken_ahead_is_the_update_s_one_token(redis: Redis) -> None:
    """Taken ahead once per update; the throttle's answer (allow, or a paced input's
    reserve) uses it instead of taking another."""
    throttle = RedisThrottle(redis, "sms-bot:test", rate=30.0, burst=3)
    assert await throttle.allow(9, 30.0, 3) is True  # the server learns the script
    with throttle_ahead():
        async with redis.pipeline(transaction=False) as pipe:
            answered = throttle.take_ahead(pipe, 1)
            assert answered is not None
            assert throttle.take_ahead(pipe, 1) is None  # once per update
            [answer] = await pipe.execute(raise_on_error=False)
        answered(answer)
        assert await throttle.reserve(1, 30.0, 3) == 0.0  # paced input: the token taken ahead
        assert await throttle.allow(1, 30.0, 3) is True  # a second ask takes a second token
    # Two tokens of three taken, as two updates take them: one more passes, then none.
    assert [await throttle.allow(1, 30.0, 3) for _ in range(2)] == [True, False]
    # Outside an update nothing is taken ahead.
    async with redis.pipeline(transaction=False) as pipe:
        assert throttle.take_ahead(pipe, 2) is None
