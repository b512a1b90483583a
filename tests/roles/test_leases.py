"""Key leases in storage and in a worker: shares, expiry, release, the eldest worker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from bot.tracker.leases import LEASE_TTL, RENEW_EVERY, AllKeys, KeyLeases
from storage import Database

USERS = range(201, 207)  # six users, one key each


async def add_keys(db: Database, sandbox: Any, count: int = 6) -> list[int]:
    ids = []
    for user_id in list(USERS)[:count]:
        await db.users.get_or_create(user_id, "en")
        key = await db.keys.add(
            user_id,
            label="k",
            base_url=sandbox.url,
            api_key=sandbox.state.create_key(balance="100"),
            currency="RUB",
        )
        ids.append(key.id)
    return ids


async def test_a_lone_worker_holds_every_key_and_gives_back_a_share_to_a_newcomer(
    open_db: Callable[[], Any], sandbox: Any, clock: Any
) -> None:
    db1, db2 = await open_db(), await open_db()
    keys = await add_keys(db1, sandbox)
    first = KeyLeases(db1.leases, "w1", clock=clock)
    second = KeyLeases(db2.leases, "w2", clock=clock)
    await first.renew()
    assert first.held == frozenset(keys) and first.eldest
    await second.renew()  # all held: the newcomer waits for its share
    assert second.held == frozenset() and not second.eldest
    await first.renew()  # two workers now: it keeps half, gives the rest back
    await first.idle()
    await second.renew()
    assert len(first.held) == len(second.held) == 3
    assert first.held | second.held == frozenset(keys)
    assert not first.held & second.held
    holders = await db1.leases.holders(clock())
    assert {k for k, w in holders.items() if w == "w2"} == second.held


async def test_the_keys_of_a_worker_that_stopped_renewing_are_taken_within_the_ttl(
    open_db: Callable[[], Any], sandbox: Any, clock: Any
) -> None:
    db1, db2 = await open_db(), await open_db()
    keys = await add_keys(db1, sandbox)
    first = KeyLeases(db1.leases, "w1", clock=clock)
    second = KeyLeases(db2.leases, "w2", clock=clock)
    await first.renew()
    await second.renew()
    await first.renew()
    await first.idle()
    await second.renew()
    lost = first.held  # w1 dies here: no release, no renewal
    gained: list[int] = []
    second.on_gain = gained.extend
    waited = 0.0  # on the fake clock: the takeover rule, not a wall-clock budget
    while second.held != frozenset(keys):  # w2 renews on its pace meanwhile
        clock.advance(RENEW_EVERY)
        waited += RENEW_EVERY
        await second.renew()
        if waited < LEASE_TTL:
            assert second.held.isdisjoint(lost)  # still w1's: its leases have not expired
    assert waited <= LEASE_TTL + RENEW_EVERY <= 15
    assert sorted(gained) == sorted(lost)
    assert second.eldest  # w1's heartbeat expired too: the watch poller moves here
    assert not first.holds(min(lost))  # a dead worker's view would no longer trust them


async def test_a_worker_that_cannot_renew_stops_trusting_its_leases_before_they_expire(
    open_db: Callable[[], Any], sandbox: Any, clock: Any
) -> None:
    db = await open_db()
    keys = await add_keys(db, sandbox, count=1)
    leases = KeyLeases(db.leases, "w1", clock=clock)
    await leases.renew()
    assert leases.holds(keys[0])
    clock.advance(LEASE_TTL - RENEW_EVERY)  # no renewal since (the database was away)
    assert not leases.holds(keys[0])  # another worker may claim it only after the ttl


async def test_released_leases_are_claimed_at_once(
    open_db: Callable[[], Any], sandbox: Any, clock: Any
) -> None:
    db1, db2 = await open_db(), await open_db()
    keys = await add_keys(db1, sandbox)
    first = KeyLeases(db1.leases, "w1", clock=clock)
    second = KeyLeases(db2.leases, "w2", clock=clock)
    await first.renew()
    await second.renew()
    await first.stop()  # a clean shutdown gives everything back, heartbeat included
    await second.renew()
    assert second.held == frozenset(keys) and second.eldest
    assert set((await db2.leases.holders(clock())).values()) == {"w2"}


async def test_a_key_given_back_waits_for_its_running_job(
    open_db: Callable[[], Any], sandbox: Any, clock: Any
) -> None:
    db1, db2 = await open_db(), await open_db()
    await add_keys(db1, sandbox, count=2)
    first = KeyLeases(db1.leases, "w1", clock=clock)
    released: list[list[int]] = []

    async def before_release(keys: list[int]) -> None:
        assert all(not first.holds(k) for k in keys)  # no new job starts for them
        assert all(w == "w1" for w in (await db1.leases.holders(clock())).values())
        released.append(keys)

    first.before_release = before_release
    await first.renew()
    await KeyLeases(db2.leases, "w2", clock=clock).renew()
    await first.renew()
    await first.idle()
    assert len(released) == 1 and len(released[0]) == 1
    assert len(first.held) == 1 and released[0][0] not in first.held


async def test_a_key_released_while_the_renewal_reads_is_not_held_again(
    open_db: Callable[[], Any], sandbox: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The give-back runs in a task: when it ends while the renewal's read is on its way, the
    read still lists the key, and the worker must not take it for its own again."""
    db1, db2 = await open_db(), await open_db()
    keys = await add_keys(db1, sandbox, count=2)
    first = KeyLeases(db1.leases, "w1", clock=clock)
    await first.renew()
    await KeyLeases(db2.leases, "w2", clock=clock).renew()
    read_done = asyncio.Event()

    async def release_after_the_read(keys: list[int]) -> None:
        await read_done.wait()

    renew_and_claim = db1.leases.renew_and_claim

    async def read_then_let_the_release_end(*args: Any) -> list[int]:
        claimed: list[int] = await renew_and_claim(*args)  # both keys still w1's here
        read_done.set()
        await first.idle()  # the key given back is released meanwhile
        return claimed

    first.before_release = release_after_the_read
    monkeypatch.setattr(db1.leases, "renew_and_claim", read_then_let_the_release_end)
    await first.renew()
    assert len(first.held) == 1
    released = set(keys) - set(await db1.leases.holders(clock()))
    assert len(released) == 1 and not first.held & released


def test_the_all_in_one_process_polls_every_key() -> None:
    assert AllKeys().holds(1) and AllKeys().holds(10**9)


def test_leases_are_renewed_at_least_twice_per_ttl(open_db: Any) -> None:
    with pytest.raises(ValueError, match="twice"):
        KeyLeases(Any, "w", ttl=4.0, renew_every=2.0)  # type: ignore[arg-type]
