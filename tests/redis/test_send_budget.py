"""Telegram's send budget shared through Redis: two processes' send queues together keep the
bot's pace and a chat's pace; a Redis that cannot answer leaves each queue its own pace."""

from __future__ import annotations

import asyncio
import itertools
import time

from redis.asyncio import Redis

from handlers.redis_limits import BOT_BURST, RedisSendBudget
from handlers.send_queue import Call, Job, Priority, SendLimits, SendQueue

PREFIX = "sms-bot:test"


async def _nobody_blocked(user_id: int) -> None:
    return None


class Recorder:
    """The Bot API as the queues see it: when each message went (monotonic seconds)."""

    def __init__(self, expected: int) -> None:
        self.sent: list[tuple[float, int]] = []
        self.expected = expected
        self.all_sent = asyncio.Event()

    def call(self, chat_id: int) -> Call:
        async def send() -> bool:
            self.sent.append((time.monotonic(), chat_id))
            if len(self.sent) >= self.expected:
                self.all_sent.set()
            return True

        return send


def most_in_one_second(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


async def _run(queues: list[SendQueue], recorder: Recorder) -> None:
    for queue in queues:
        await queue.start()
    try:
        await asyncio.wait_for(recorder.all_sent.wait(), timeout=60)  # a hang fails, not waits
    finally:
        for queue in queues:
            await queue.stop()


async def test_two_queues_together_keep_the_bots_pace(redis: Redis) -> None:
    limits = SendLimits(per_second=10.0, chat_interval=1.0, group_interval=3.0)
    recorder = Recorder(expected=24)
    queues = [
        SendQueue(_nobody_blocked, limits=limits, budget=RedisSendBudget(redis, PREFIX, limits))
        for _ in range(2)
    ]
    for n, queue in enumerate(queues):
        for chat in range(12):  # a chat each: only the bot's pace holds them back
            chat_id = 1000 * (n + 1) + chat
            await queue.put(
                Job(chat_id, chat_id, ("n", chat_id), Priority.NOTICE, [recorder.call(chat_id)])
            )
    await _run(queues, recorder)
    # Each queue alone may send 10 a second: on their own the two would send 20 in the first
    # second. Together they keep 10, and the bucket's two tokens at most beyond them.
    assert most_in_one_second([at for at, _ in recorder.sent]) <= 10 + BOT_BURST
    assert {chat // 1000 for _, chat in recorder.sent} == {1, 2}


async def test_a_message_a_little_late_keeps_its_slot(redis: Redis) -> None:
    """The bot's bucket holds two tokens: a message that asks after its slot came (a Redis
    round trip, a busy core) still finds it, and the next one on time goes too. (With one
    token the late one's slot was lost: the shared budget ran slower than the processes' own
    pace, and the messages waiting on it fell seconds behind.)"""
    limits = SendLimits(per_second=1.0, chat_interval=0.0, group_interval=0.0)
    budget = RedisSendBudget(redis, PREFIX + ":late", limits)
    assert await budget.take(1) == 0
    assert await budget.take(2) == 0
    assert 0 < await budget.take(3) <= 1.0  # beyond the two tokens: the bot's pace


async def test_two_queues_sending_to_one_chat_keep_its_pace(redis: Redis) -> None:
    limits = SendLimits(per_second=0.0, chat_interval=0.5, group_interval=3.0)
    recorder = Recorder(expected=6)
    queues = [
        SendQueue(_nobody_blocked, limits=limits, budget=RedisSendBudget(redis, PREFIX, limits))
        for _ in range(2)
    ]
    for n, queue in enumerate(queues):
        for m in range(3):
            await queue.put(Job(7, 7, (n, m), Priority.NOTICE, [recorder.call(7)]))
    await _run(queues, recorder)
    times = sorted(at for at, _ in recorder.sent)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # Half a second apart, whichever process sent (less only by the lateness of one message).
    assert min(gaps) > 0.4


async def test_a_redis_that_cannot_answer_leaves_each_queue_its_own_pace(
    unused_tcp_port: int,
) -> None:
    dead = Redis.from_url(f"redis://127.0.0.1:{unused_tcp_port}/0", socket_connect_timeout=1)
    try:
        limits = SendLimits(per_second=0.0, chat_interval=0.0, group_interval=0.0)
        budget = RedisSendBudget(dead, PREFIX, SendLimits())
        recorder = Recorder(expected=3)
        queue = SendQueue(_nobody_blocked, limits=limits, budget=budget)
        for chat_id in (1, 2, 3):
            await queue.put(
                Job(chat_id, chat_id, chat_id, Priority.DELIVERY, [recorder.call(chat_id)])
            )
        await _run([queue], recorder)
        assert sorted(chat for _, chat in recorder.sent) == [1, 2, 3]
    finally:
        await dead.aclose()
