"""Auto-replace across restarts and provider faults: the chain lives in the database, so a new
process (new services over the same file) resumes it or ends it, an unknown purchase outcome
is reconciled before anything more is bought, and no chain spends past its cap or leaves a
number without a code uncancelled."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest

from bot.provider.factory import ProviderFactory
from storage import Database, KeyCipher, KeyProfile
from storage.chains import CHAIN_ACTIVE, CHAIN_CHECKING, CHAIN_ENDED, ReplaceDefaults
from tests.bot.conftest import LOOPBACK_ALLOWED, USER
from tests.bot.test_replace import (
    PRICE,
    WAIT,
    Rig,
    assert_nothing_left_uncancelled,
    build_rig,
    cancelled_by_the_tracker,
)

Reopen = Callable[[], Awaitable[Rig]]


@pytest.fixture
async def reopen(
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    secret: str,
) -> AsyncIterator[Reopen]:
    """A new process: a new database connection to the same file, new services, a new
    tracker started (reconciliation, the chains resumed) and left idle."""
    opened: list[Rig] = []

    async def make() -> Rig:
        db = await Database.open(tdb.path, KeyCipher([secret]), clock=clock)
        rig = build_rig(db, tproviders, tkey, sandbox, clock)
        opened.append(rig)
        await rig.tracker.start()
        await rig.tracker.idle()
        await rig.tracker.stop()  # the tests drive the passes with tick()
        return rig

    yield make
    for rig in opened:
        await rig.tracker.stop()
        await rig.db.close()


@pytest.fixture
async def rig(
    tdb: Database, tproviders: ProviderFactory, tkey: KeyProfile, sandbox: Any, clock: Any
) -> AsyncIterator[Rig]:
    made = build_rig(tdb, tproviders, tkey, sandbox, clock)
    yield made
    await made.tracker.stop()


async def until_settled(rig: Rig, done: Callable[[], Awaitable[bool]], step: float = 5) -> None:
    """Passes of the tracker (time moving on) until `done`: the reconciler's back-off and the
    intent's settle time are its own business."""
    for _ in range(100):
        if await done():
            return
        rig.clock.advance(step)
        await rig.tracker.tick()
    raise AssertionError("never settled")


async def test_a_restart_resumes_a_chain_on_a_live_number(rig: Rig, reopen: Reopen) -> None:
    await rig.buy_chained()
    await rig.tracker.tick()
    await rig.silence()
    assert rig.purchases() == 2
    await rig.tracker.stop()  # the process goes away

    second = await reopen()
    assert second.purchases() == 2  # a live number waits for its deadline
    await second.silence()
    assert second.purchases() == 3
    await second.silence()
    assert second.purchases() == 3  # K = 3 across both processes
    [chain] = await second.chains()
    assert (chain.state, chain.reason, chain.attempts_used) == (CHAIN_ENDED, "attempts", 3)
    assert_nothing_left_uncancelled(second)


async def test_a_restart_after_the_cancel_buys_the_next(rig: Rig, reopen: Reopen) -> None:
    """The process died between cancelling the silent number and buying the next: the new
    one finds the chain on an ended number and steps."""
    first = await rig.buy_chained()
    rig.clock.advance(WAIT + 1)
    await cancelled_by_the_tracker(rig, first)

    second = await reopen()
    assert second.purchases() == 2
    [chain] = await second.chains()
    assert (chain.state, chain.attempts_used) == (CHAIN_ACTIVE, 2)
    assert chain.activation_id != first.id
    assert len(second.notes.of("adopted")) == 1  # its card is sent


async def test_a_lost_purchase_answer_is_reconciled_then_the_chain_goes_on(rig: Rig) -> None:
    """The step's purchase charged but its answer was dropped: the chain waits ("checking",
    the price reserved) until the reconciler finds the number, which joins the chain."""
    await rig.db.chains.set_defaults(USER, ReplaceDefaults(attempts=5, cap=PRICE * 2))
    await rig.buy_chained()
    await rig.tracker.tick()
    rig.sandbox.state.inject_fault("drop_after_charge", action="getNumberV2")
    await rig.silence()
    assert rig.purchases() == 2
    [chain] = await rig.chains()
    assert chain.state == CHAIN_CHECKING and chain.reserved == PRICE

    async def joined() -> bool:
        [current] = await rig.chains()
        return current.state == CHAIN_ACTIVE

    await until_settled(rig, joined)
    [chain] = await rig.chains()
    assert chain.spent == PRICE * 2 and chain.reserved is None
    await rig.silence()
    assert rig.purchases() == 2  # the cap of 36 is spent: nothing more
    [chain] = await rig.chains()
    assert (chain.state, chain.reason) == (CHAIN_ENDED, "cap")
    assert_nothing_left_uncancelled(rig)


async def test_a_restart_with_a_lost_answer_reconciles_first(rig: Rig, reopen: Reopen) -> None:
    await rig.buy_chained()
    await rig.tracker.tick()
    rig.sandbox.state.inject_fault("drop_after_charge", action="getNumberV2")
    await rig.silence()
    assert rig.purchases() == 2
    await rig.tracker.stop()

    second = await reopen()

    async def joined() -> bool:
        [current] = await second.chains()
        return current.state == CHAIN_ACTIVE

    await until_settled(second, joined)
    assert second.purchases() == 2  # adopted, never bought again
    await second.silence()
    assert second.purchases() == 3
    await second.silence()
    [chain] = await second.chains()
    assert (chain.state, chain.reason, chain.attempts_used) == (CHAIN_ENDED, "attempts", 3)
    assert chain.spent == PRICE * 3
    assert_nothing_left_uncancelled(second)


async def test_a_purchase_proved_not_made_is_tried_again_within_k(rig: Rig) -> None:
    """A 500 on the purchase: nothing was charged, which the reconciler proves (listing and
    balance); the chain then buys, and the attempt that failed still counts."""
    await rig.buy_chained()
    await rig.tracker.tick()
    rig.sandbox.state.inject_fault("http500", action="getNumberV2")
    await rig.silence()
    assert rig.purchases() == 1

    async def bought_again() -> bool:
        return rig.purchases() == 2

    await until_settled(rig, bought_again)
    [chain] = await rig.chains()
    assert chain.attempts_used == 3  # the lost one counted: K bounds every try
    assert chain.spent == PRICE * 2 and chain.state == CHAIN_ACTIVE
    await rig.silence()
    assert rig.purchases() == 2
    [chain] = await rig.chains()
    assert (chain.state, chain.reason) == (CHAIN_ENDED, "attempts")
    assert_nothing_left_uncancelled(rig)


@pytest.mark.parametrize("fault", ["drop_after_charge", "http500", "garbled"])
async def test_faults_never_spend_past_the_cap(rig: Rig, fault: str) -> None:
    """Every step's answer lost, one after another: the reservations hold the cap."""
    cap = PRICE * 3
    await rig.db.chains.set_defaults(USER, ReplaceDefaults(attempts=5, cap=cap))
    await rig.buy_chained()
    await rig.tracker.tick()
    rig.sandbox.state.inject_fault(fault, action="getNumberV2", count=10)
    for _ in range(12):
        await rig.silence(WAIT + 1)
    rig.sandbox.state.clear_faults()
    for _ in range(6):
        await rig.silence(WAIT + 1)
    charged = sum(Decimal(str(p.get("cost", PRICE))) for p in rig.sandbox.state.purchases)
    assert charged <= cap
    for chain in await rig.chains():
        assert chain.spent + (chain.reserved or 0) <= chain.cap
    assert_nothing_left_uncancelled(rig)


async def test_a_purchase_timeout_is_reconciled_never_bought_twice(
    tdb: Database, tkey: KeyProfile, sandbox: Any, clock: Any
) -> None:
    """The provider takes the money but answers after the client gave up (a timeout): the
    chain waits for the reconciler, which finds the number; nothing is bought again."""
    impatient = ProviderFactory(
        timeout=0.5, read_retries=0, retry_delay=0.0, address_policy=LOOPBACK_ALLOWED
    )
    rig = build_rig(tdb, impatient, tkey, sandbox, clock)
    try:
        await rig.buy_chained()
        await rig.tracker.tick()
        sandbox.state.inject_fault("timeout", action="getNumberV2", seconds=2.0)
        await rig.silence()
        assert rig.purchases() == 2
        [chain] = await rig.chains()
        assert chain.state == CHAIN_CHECKING

        async def joined() -> bool:
            [current] = await rig.chains()
            return current.state == CHAIN_ACTIVE

        await until_settled(rig, joined)
        assert rig.purchases() == 2
        [chain] = await rig.chains()
        assert chain.spent == PRICE * 2 and chain.reserved is None
        await rig.silence()
        await rig.silence()
        assert rig.purchases() == 3
        assert_nothing_left_uncancelled(rig)
    finally:
        await rig.tracker.stop()
        await impatient.close()
