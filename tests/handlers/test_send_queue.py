"""The send queue: Telegram's pace per chat, per group and per bot on a fake clock, 429s for one
chat or for all, codes before edits, a card's edits coalesced, a bounded size, and the worker
settling deliveries only after Telegram took them."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from aiogram.exceptions import TelegramForbiddenError, TelegramNetworkError, TelegramRetryAfter
from aiogram.methods import SendMessage

from handlers.send_queue import (
    UNPACED,
    Call,
    Job,
    Priority,
    Put,
    SendLimits,
    SendQueue,
    SendSchedule,
)

LIMITS = SendLimits(per_second=30.0, chat_interval=1.0, group_interval=3.0)


async def _ok() -> bool:
    return True


def job(chat: int, key: Hashable, priority: Priority = Priority.NOTICE, **extra: Any) -> Job:
    return Job(chat, chat, key, priority, [_ok], **extra)


def send_all(schedule: SendSchedule, now: float) -> list[Hashable]:
    """Take and finish (taken) every job that may go at `now`."""
    sent: list[Hashable] = []
    while True:
        taken, _at = schedule.take(now)
        if taken is None:
            return sent
        sent.append(taken.key)
        schedule.finished(taken, True, now)


# ------------------------------------------------------------------ pace


def test_one_message_a_second_per_chat() -> None:
    schedule = SendSchedule(LIMITS)
    for n in range(3):
        schedule.put(job(1, ("n", n)), 0.0)
    assert send_all(schedule, 0.0) == [("n", 0)]
    taken, at = schedule.take(0.5)
    assert taken is None and at == 1.0  # the chat's next turn
    assert send_all(schedule, 1.0) == [("n", 1)]
    assert send_all(schedule, 2.0) == [("n", 2)]
    assert len(schedule) == 0


def test_twenty_a_minute_per_group() -> None:
    schedule = SendSchedule(LIMITS)
    schedule.put(job(-100, "a"), 0.0)
    schedule.put(job(-100, "b"), 0.0)
    assert send_all(schedule, 0.0) == ["a"]
    assert send_all(schedule, 2.9) == []
    assert send_all(schedule, 3.0) == ["b"]


def test_the_bot_as_a_whole_keeps_its_pace() -> None:
    schedule = SendSchedule(SendLimits(per_second=4.0, chat_interval=1.0, group_interval=3.0))
    for chat in range(10):
        schedule.put(job(chat, chat), 0.0)
    assert send_all(schedule, 0.0) == [0]  # one now, the next a quarter of a second later
    taken, at = schedule.take(0.1)
    assert taken is None and at == 0.25
    assert send_all(schedule, 0.25) == [1]
    sent = [key for t in range(2, 10) for key in send_all(schedule, t * 0.25)]
    assert sent == list(range(2, 10))  # every chat in turn, oldest first


def test_a_chat_waits_for_the_answer_to_its_message_before_the_next() -> None:
    """The parts of a long SMS arrive in order: one request per chat on its way at a time."""
    schedule = SendSchedule(UNPACED)
    schedule.put(job(1, "a"), 0.0)
    schedule.put(job(1, "b"), 0.0)
    first, _ = schedule.take(0.0)
    assert first is not None and first.key == "a"
    assert schedule.take(0.0)[0] is None
    schedule.finished(first, True, 0.0)
    second, _ = schedule.take(0.0)
    assert second is not None and second.key == "b"


# ------------------------------------------------------------------ 429


def test_a_429_for_one_chat_holds_that_chat_only() -> None:
    schedule = SendSchedule(UNPACED)
    schedule.put(job(1, "one"), 0.0)
    schedule.put(job(2, "two"), 0.0)
    refused, _ = schedule.take(0.0)
    assert refused is not None and refused.key == "one"
    schedule.retry_after(refused, 5.0, 0.0)
    assert send_all(schedule, 0.0) == ["two"]  # the other chat is not held
    assert send_all(schedule, 4.9) == []
    assert send_all(schedule, 5.0) == ["one"]  # the same message again, after the wait


def test_a_call_that_used_its_turn_goes_again_first_on_the_chat_s_next_turn() -> None:
    """`NextTurn` (a card's edit that found the message gone): the same job, ahead of the
    chat's next one, one chat interval later; no 429, so no other chat is held."""
    schedule = SendSchedule(LIMITS)
    schedule.put(job(1, "card", Priority.CARD), 0.0)
    schedule.put(job(2, "other"), 0.0)
    taken, _ = schedule.take(0.0)
    assert taken is not None and taken.key == "other"  # a notice before a card edit
    schedule.finished(taken, True, 0.0)
    taken, _ = schedule.take(0.1)
    assert taken is not None and taken.key == "card"
    schedule.put(job(1, "later", Priority.CARD), 0.2)
    schedule.again(taken, 0.2)
    schedule.put(job(3, "third"), 0.2)
    assert send_all(schedule, 0.2) == ["third"]
    assert send_all(schedule, 1.0) == []  # chat 1's pace counts from the edit
    assert send_all(schedule, 1.1) == ["card"]
    assert send_all(schedule, 2.1) == ["later"]


def test_429s_for_several_chats_hold_every_chat() -> None:
    schedule = SendSchedule(UNPACED)
    for chat in range(5):
        schedule.put(job(chat, chat), 0.0)
    for _ in range(3):  # three chats refused within a second: the bot is limited
        taken, _at = schedule.take(0.0)
        assert taken is not None
        schedule.retry_after(taken, 10.0, 0.0)
    taken, at = schedule.take(0.5)
    assert taken is None and at == 10.0  # chats 3 and 4 wait too
    assert sorted(send_all(schedule, 10.0)) == [0, 1, 2, 3, 4]


# ------------------------------------------------------------------ priority and coalescing


def test_codes_go_before_notices_and_card_edits() -> None:
    schedule = SendSchedule(UNPACED)
    schedule.put(job(1, "card", Priority.CARD), 0.0)
    schedule.put(job(2, "notice", Priority.NOTICE), 0.0)
    schedule.put(job(1, "code", Priority.DELIVERY), 0.0)
    schedule.put(job(3, "other code", Priority.DELIVERY), 0.0)
    assert send_all(schedule, 0.0) == ["code", "other code", "notice", "card"]


def test_a_card_waiting_is_replaced_by_its_newest_state() -> None:
    schedule = SendSchedule(UNPACED)
    states: list[str] = []

    def state(name: str) -> Call:
        async def call() -> bool:
            states.append(name)
            return True

        return call

    for name in ("v1", "v2", "v3"):
        outcome, _ = schedule.put(Job(1, 1, ("card", 1, 10), Priority.CARD, [state(name)]), 0.0)
        assert outcome is Put.QUEUED
    assert len(schedule) == 1
    taken, _ = schedule.take(0.0)
    assert taken is not None and taken.calls[0] is not None
    # While v3 is on its way, v4 comes: it goes after v3's answer, and only v4 of any later.
    schedule.put(Job(1, 1, ("card", 1, 10), Priority.CARD, [state("v4")]), 0.0)
    schedule.put(Job(1, 1, ("card", 1, 10), Priority.CARD, [state("v5")]), 0.0)
    assert schedule.finished(taken, True, 0.0) is False
    again, _ = schedule.take(0.0)
    assert again is taken
    assert schedule.finished(again, True, 0.0) is True
    assert len(schedule) == 0


def test_a_delivery_is_not_queued_twice() -> None:
    schedule = SendSchedule(UNPACED)
    assert schedule.put(job(1, "code", Priority.DELIVERY), 0.0)[0] is Put.QUEUED
    assert schedule.put(job(1, "code", Priority.DELIVERY), 0.0)[0] is Put.ALREADY
    taken, _ = schedule.take(0.0)
    assert taken is not None
    # On its way: still known, still not queued again.
    assert schedule.put(job(1, "code", Priority.DELIVERY), 0.0)[0] is Put.ALREADY
    schedule.finished(taken, True, 0.0)
    assert not schedule.holds("code")


# ------------------------------------------------------------------ bounded


def test_a_full_queue_drops_card_edits_for_codes_and_refuses_codes_it_has_no_room_for() -> None:
    schedule = SendSchedule(UNPACED, capacity=3)
    schedule.put(job(1, "old card", Priority.CARD), 0.0)
    schedule.put(job(2, "new card", Priority.CARD), 0.0)
    schedule.put(job(3, "notice", Priority.NOTICE), 0.0)
    assert schedule.put(job(4, "card", Priority.CARD), 0.0) == (Put.REFUSED, None)
    outcome, dropped = schedule.put(job(5, "code", Priority.DELIVERY), 0.0)
    assert outcome is Put.QUEUED and dropped is not None and dropped.key == "new card"
    outcome, dropped = schedule.put(job(6, "code 2", Priority.DELIVERY), 0.0)
    assert outcome is Put.QUEUED and dropped is not None and dropped.key == "old card"
    outcome, dropped = schedule.put(job(7, "code 3", Priority.DELIVERY), 0.0)
    assert outcome is Put.QUEUED and dropped is not None and dropped.key == "notice"
    assert schedule.put(job(8, "code 4", Priority.DELIVERY), 0.0) == (Put.REFUSED, None)
    assert len(schedule) == 3
    assert send_all(schedule, 0.0) == ["code", "code 2", "code 3"]


async def test_a_code_refused_by_a_full_queue_is_settled_undelivered() -> None:
    async def nobody(user_id: int) -> None:
        raise AssertionError("nobody blocked the bot")

    queue = SendQueue(nobody, limits=UNPACED, capacity=1)
    settled: list[bool] = []

    async def settle(taken: bool) -> None:
        settled.append(taken)

    assert await queue.put(job(1, "a", Priority.DELIVERY, settle=settle)) is Put.QUEUED
    assert await queue.put(job(2, "b", Priority.DELIVERY, settle=settle)) is Put.REFUSED
    assert settled == [False] and queue.refused == 1  # offered again by the tracker later
    await queue.drain()
    assert settled == [False, True]


# ------------------------------------------------------------------ the worker


class Telegram:
    """Stands in for the Bot API: records what it took, raises what it is told to."""

    def __init__(self) -> None:
        self.taken: list[str] = []
        self.errors: list[Exception] = []

    def message(self, text: str) -> Call:
        async def call() -> bool:
            if self.errors:
                raise self.errors.pop(0)
            self.taken.append(text)
            return True

        return call


def _retry_after(seconds: int) -> TelegramRetryAfter:
    return TelegramRetryAfter(SendMessage(chat_id=1, text="x"), "Too Many Requests", seconds)


async def test_the_running_worker_sends_and_settles_after_telegram_took_it() -> None:
    blocked: list[int] = []

    async def on_blocked(user_id: int) -> None:
        blocked.append(user_id)

    telegram = Telegram()
    queue = SendQueue(on_blocked, limits=UNPACED)
    settled: list[tuple[str, bool]] = []

    def settle(name: str) -> Any:
        async def settled_as(taken: bool) -> None:
            settled.append((name, taken))

        return settled_as

    await queue.start()
    try:
        await queue.put(Job(1, 1, "code", Priority.DELIVERY, [telegram.message("c")], settle("c")))
        await queue.drain()
        assert telegram.taken == ["c"] and settled == [("c", True)]
        # A long SMS: settled only when every part was taken; a failed part settles False.
        parts = [telegram.message("p1"), telegram.message("p2")]
        telegram.errors = [_retry_after(0)]
        await queue.put(Job(1, 1, "sms", Priority.DELIVERY, parts, settle("sms")))
        await queue.drain()
        assert telegram.taken == ["c", "p1", "p2"] and settled[-1] == ("sms", True)
        telegram.errors = [TelegramNetworkError(SendMessage(chat_id=1, text="x"), "down")]
        await queue.put(Job(1, 1, "late", Priority.DELIVERY, [telegram.message("l")], settle("l")))
        await queue.drain()
        assert settled[-1] == ("l", False)  # left undelivered: the tracker offers it again
        # A blocked bot: reported once, and what waited for that chat is settled undelivered.
        telegram.errors = [TelegramForbiddenError(SendMessage(chat_id=2, text="x"), "blocked")]
        await queue.put(Job(7, 2, "x", Priority.DELIVERY, [telegram.message("x")], settle("x")))
        await queue.drain()
        assert blocked == [7] and settled[-1] == ("x", False)
    finally:
        await queue.stop()


async def test_paced_sends_wait_on_the_queue_clock() -> None:
    now = [0.0]
    naps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        naps.append(seconds)
        now[0] += seconds

    async def nobody(user_id: int) -> None:
        raise AssertionError

    telegram = Telegram()
    queue = SendQueue(nobody, limits=LIMITS, clock=lambda: now[0], sleep=fake_sleep)
    for n in range(3):
        await queue.put(Job(1, 1, n, Priority.NOTICE, [telegram.message(str(n))]))
    await queue.drain()
    assert telegram.taken == ["0", "1", "2"]
    assert now[0] >= 2.0  # one a second in one chat
