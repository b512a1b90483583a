"""Two tracker workers on one SQLite file (WAL) and the sandbox: they split the API keys, never
poll one key both, deliver each code once, and take over a crashed worker's keys in time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.tracker.leases import LEASE_TTL, RENEW_EVERY
from storage import Database
from storage.models import KeyProfile
from tests.bot.conftest import FAST, buy
from tests.roles.conftest import Worker

USERS = range(301, 307)  # six users, one key each


async def add_keys(db: Database, sandbox: Any) -> list[KeyProfile]:
    keys = []
    for user_id in USERS:
        await db.users.get_or_create(user_id, "en")
        keys.append(
            await db.keys.add(
                user_id,
                label="k",
                base_url=sandbox.url,
                api_key=sandbox.state.create_key(balance="100"),
                currency="RUB",
            )
        )
    return keys


async def split(*workers: Worker) -> None:
    """Two rounds each: the first comer claims all, then gives back the newcomer's share."""
    for _ in range(2):
        for worker in workers:
            await worker.leases.renew()
            await worker.leases.idle()  # what it gave back is released


async def run_both(workers: list[Worker], clock: Any, seconds: float) -> None:
    """Each worker renews its leases and makes a pass every poll_fast (= RENEW_EVERY)."""
    for _ in range(int(seconds / FAST.poll_fast)):
        clock.advance(FAST.poll_fast)
        for worker in workers:
            await worker.leases.renew()
            await worker.tracker.tick()


def polled_keys(worker: Worker, keys: list[KeyProfile]) -> set[int]:
    by_secret = {key.api_key: key.id for key in keys}
    return {by_secret[secret] for secret in worker.requests}


async def test_two_workers_split_the_keys_poll_each_with_one_and_deliver_each_code_once(
    make_worker: Callable[..., Any], sandbox: Any, clock: Any
) -> None:
    w1, w2 = await make_worker("w1"), await make_worker("w2")
    keys = await add_keys(w1.db, sandbox)
    await split(w1, w2)
    assert len(w1.leases.held) == len(w2.leases.held) == 3
    numbers = [await buy(w1.db, w1.providers, key, clock) for key in keys]
    w1.requests.clear()  # the purchases: not polls
    await run_both([w1, w2], clock, 5)
    for index, number in enumerate(numbers):
        sandbox.state.deliver_sms(number.provider_id, f"Your code: 5000{index}")
    await run_both([w1, w2], clock, 30)

    assert polled_keys(w1, keys) == w1.leases.held
    assert polled_keys(w2, keys) == w2.leases.held
    assert not polled_keys(w1, keys) & polled_keys(w2, keys)
    codes = w1.notes.codes() + w2.notes.codes()
    assert sorted(codes) == [f"5000{i}" for i in range(len(numbers))]
    for worker in (w1, w2):  # each worker told the owners of its own keys only
        key_ids = {activation.key_id for activation, _code in worker.notes.of("code")}
        assert key_ids == worker.leases.held


async def test_a_crashed_workers_keys_are_taken_over_and_their_codes_delivered_once(
    make_worker: Callable[..., Any], sandbox: Any, clock: Any
) -> None:
    w1, w2 = await make_worker("w1"), await make_worker("w2")
    keys = await add_keys(w1.db, sandbox)
    await split(w1, w2)
    lost = sorted(w1.leases.held)
    of_lost = [key for key in keys if key.id in lost]
    # One code w1 stored but could not hand over before it died (the crash window).
    stored = await buy(w1.db, w1.providers, of_lost[0], clock)
    await run_both([w1, w2], clock, 5)
    w1.notes.deliver = False
    sandbox.state.deliver_sms(stored.provider_id, "Your code: 70000")
    await run_both([w1, w2], clock, 5)
    assert set(w1.notes.codes()) == {"70000"}  # told, but the message never went out
    row = await w2.db.activations.get_any(stored.id)
    assert row is not None and [c.delivered for c in row.codes] == [False]

    await w1.tracker.stop()  # w1 dies: no release, no renewal from here on
    died_at = clock()
    waiting = [await buy(w2.db, w2.providers, key, clock) for key in of_lost]
    for index, number in enumerate(waiting):
        sandbox.state.deliver_sms(number.provider_id, f"Your code: 7100{index}")
    expected = {"70000", *(f"7100{i}" for i in range(len(waiting)))}
    while set(w2.notes.codes()) != expected:
        assert clock() - died_at <= LEASE_TTL + RENEW_EVERY + FAST.poll_fast
        clock.advance(RENEW_EVERY)
        await w2.leases.renew()
        await w2.tracker.tick()
    assert clock() - died_at <= 15  # the bound for a takeover
    assert set(lost) <= w2.leases.held

    await run_both([w2], clock, 60)
    assert sorted(w2.notes.codes()) == sorted(expected)  # each once
    for number in [stored, *waiting]:
        row = await w2.db.activations.get_any(number.id)
        assert row is not None and all(code.delivered for code in row.codes)
