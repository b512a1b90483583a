"""Auto-replace with two tracker workers on one SQLite file and the sandbox: a chain is
stepped once however many workers look at it, a step a dead worker left in flight is settled
by the worker that takes its key over (never bought twice), and a chain's deadline fires on
the worker holding its key."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.changes import Changes
from bot.orders import OrderService
from bot.replace import ReplaceService
from bot.tracker.leases import LEASE_TTL, RENEW_EVERY
from storage import Database
from storage.chains import CHAIN_ACTIVE, CHAIN_BUYING, CHAIN_CHECKING, ReplaceChain, ReplaceDefaults
from storage.models import Activation, KeyProfile
from storage.url import sqlite_url
from tests.bot.conftest import FAST, buy
from tests.harness import hang_guard
from tests.roles.conftest import Worker
from tests.roles.test_two_trackers import add_keys, run_both, split

PRICE = Decimal("18")  # the sandbox's Telegram price in country 0
AFTER = 120  # the shortest wait a user may choose (the sandbox's early-cancel lock too)


async def buy_chained(
    db: Database, orders: OrderService, replace: ReplaceService, key: KeyProfile
) -> tuple[Activation, ReplaceChain]:
    """What the confirm screen's Buy does with auto-replace on, on this key."""
    user = key.user_id
    await db.chains.set_defaults(user, ReplaceDefaults(enabled=True, after=AFTER))
    token = await orders.offer_token(user, service="tg", country="0", max_price=None, price=PRICE)
    result = await orders.buy(
        user, token=token, service="tg", country="0", max_price=None, chat_id=user, key_id=key.id
    )
    assert result.activation is not None
    chain = await replace.start(user, result.activation, max_price=None)
    assert chain is not None
    return result.activation, chain


@pytest.fixture
def store() -> str:
    """Where the workers' database lives: the shared SQLite file, unless a test says
    "postgresql" (the suite's server, a database of the test's own)."""
    return "sqlite"


@pytest.fixture
def db_url(store: str, db_path: Path, request: pytest.FixtureRequest) -> str:
    if store == "sqlite":
        return sqlite_url(db_path)
    return str(request.getfixturevalue("postgres_url"))


def bought_with(sandbox: Any, key: KeyProfile) -> int:
    return sum(1 for purchase in sandbox.state.purchases if purchase["key"] == key.api_key)


def held_by(worker: Worker, keys: list[KeyProfile]) -> KeyProfile:
    return next(key for key in keys if key.id in worker.leases.held)


async def chain_of(db: Database, chain: ReplaceChain) -> ReplaceChain:
    fresh = await db.chains.get(chain.id)
    assert fresh is not None
    return fresh


async def take_over(
    w2: Worker, clock: Any, done: Callable[[], Awaitable[bool]], *, within: float
) -> None:
    """w1 is dead: w2 alone renews its leases and makes its passes until `done`."""
    started = clock()
    while not await done():
        assert clock() - started <= within, "never settled"
        clock.advance(RENEW_EVERY)
        await w2.leases.renew()
        await w2.tracker.tick()


async def test_two_workers_resuming_one_ended_chain_buy_one_number(
    make_worker: Callable[..., Any], sandbox: Any
) -> None:
    """Both look at every chain at once (as every worker did before leases counted here): the
    reservation lets one step through, the other finds the chain moved on."""
    w1, w2 = await make_worker("w1"), await make_worker("w2")
    [key, *_] = await add_keys(w1.db, sandbox)
    first, chain = await buy_chained(w1.db, w1.orders, w1.replace, key)
    await w1.db.activations.set_status(first.id, "cancelled")  # ended while nobody ran

    events = await asyncio.gather(w1.replace.resume(), w2.replace.resume())

    assert bought_with(sandbox, key) == 2
    assert [e.bought is not None for found in events for e in found] == [True]
    fresh = await chain_of(w1.db, chain)
    assert (fresh.state, fresh.attempts_used, fresh.spent) == (CHAIN_ACTIVE, 2, PRICE * 2)


async def test_each_worker_resumes_only_the_chains_on_its_keys(
    make_worker: Callable[..., Any], sandbox: Any
) -> None:
    w1, w2 = await make_worker("w1"), await make_worker("w2")
    keys = await add_keys(w1.db, sandbox)
    await split(w1, w2)
    key = held_by(w2, keys)
    first, chain = await buy_chained(w1.db, w1.orders, w1.replace, key)
    await w1.db.activations.set_status(first.id, "cancelled")

    await asyncio.gather(w1.tracker.start(), w2.tracker.start())  # both start together
    # Seldom (under load, a few times in hundreds of runs) this wait has never ended, the
    # loop idle; the cause is not found yet: a failure naming what still runs, not a hang.
    async with hang_guard():
        for worker in (w1, w2):
            await worker.tracker.idle()
            await worker.tracker.stop()

    assert bought_with(sandbox, key) == 2
    fresh = await chain_of(w1.db, chain)
    assert (fresh.state, fresh.attempts_used) == (CHAIN_ACTIVE, 2)
    assert [a.id for a in w2.notes.of("adopted")] == [fresh.activation_id]  # the holder's card
    assert w1.notes.events == []


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
async def test_a_step_whose_answer_was_lost_is_settled_by_the_worker_taking_the_key_over(
    make_worker: Callable[..., Any], sandbox: Any, clock: Any
) -> None:
    """w1 stepped a chain, the purchase charged but its answer was lost (checking, intent
    unknown), and w1 died: w2 takes the key over, reconciles the intent and the number joins
    the chain, bought once."""
    w1, w2 = await make_worker("w1"), await make_worker("w2")
    keys = await add_keys(w1.db, sandbox)
    await split(w1, w2)
    key = held_by(w1, keys)
    _first, chain = await buy_chained(w1.db, w1.orders, w1.replace, key)
    sandbox.state.inject_fault("drop_after_charge", action="getNumberV2")
    await run_both([w1, w2], clock, AFTER + 5)  # w1 cancels the silent number and steps
    checking = await chain_of(w1.db, chain)
    assert checking.state == CHAIN_CHECKING and checking.intent_id is not None
    assert bought_with(sandbox, key) == 2

    await w1.tracker.stop()  # w1 dies: its leases and what it waited for die with it

    async def joined() -> bool:
        return (await chain_of(w2.db, chain)).state == CHAIN_ACTIVE

    await take_over(w2, clock, joined, within=LEASE_TTL + RENEW_EVERY + 60)
    await run_both([w2], clock, 20)
    assert bought_with(sandbox, key) == 2  # adopted, never bought again
    fresh = await chain_of(w2.db, chain)
    assert (fresh.attempts_used, fresh.spent, fresh.reserved) == (2, PRICE * 2, None)
    step = await w2.db.chains.step_of(fresh.activation_id or 0)
    assert step is not None and step.attempt == 2 and step.chain.id == chain.id


async def test_a_step_cut_before_its_intent_is_made_again_once_and_the_old_token_buys_nothing(
    make_worker: Callable[..., Any], sandbox: Any, clock: Any
) -> None:
    """w1 reserved a step (buying, no intent yet) and stopped: w2, taking the key over, proves
    it bought nothing by withdrawing its token and steps once; w1 coming back late with that
    token buys nothing."""
    w1, w2 = await make_worker("w1"), await make_worker("w2")
    keys = await add_keys(w1.db, sandbox)
    await split(w1, w2)
    key = held_by(w1, keys)
    first, chain = await buy_chained(w1.db, w1.orders, w1.replace, key)
    await w1.db.activations.set_status(first.id, "cancelled")
    token = await w1.orders.offer_token(
        key.user_id, service="tg", country="0", max_price=PRICE, price=PRICE
    )
    reserved, _reason = await w1.db.chains.reserve(
        chain.id, on_activation=first.id, token=token, stop=lambda _row: None
    )
    assert reserved is not None and reserved.state == CHAIN_BUYING
    await w1.tracker.stop()  # w1 stalls here, before its intent

    async def stepped() -> bool:
        fresh = await chain_of(w2.db, chain)
        return fresh.state == CHAIN_ACTIVE and fresh.activation_id != first.id

    await take_over(w2, clock, stepped, within=LEASE_TTL + RENEW_EVERY + 3 * FAST.poll_fast)
    late = await w1.orders.buy(
        key.user_id,
        token=token,
        service="tg",
        country="0",
        max_price=PRICE,
        chat_id=key.user_id,
        key_id=key.id,
    )
    assert late.activation is None and late.duplicate
    await run_both([w2], clock, 10)
    assert bought_with(sandbox, key) == 2
    fresh = await chain_of(w2.db, chain)
    assert fresh.state == CHAIN_ACTIVE and fresh.activation_id != first.id
    assert fresh.attempts_used == 3  # the cut step counted: K bounds every try
    assert fresh.spent == PRICE * 2


async def test_a_chain_started_by_the_web_role_is_replaced_by_the_worker_holding_its_key(
    make_worker: Callable[..., Any], open_db: Callable[[], Any], sandbox: Any, clock: Any
) -> None:
    """The chain's deadline fires on one worker: the holder cancels the silent number and
    buys the next once; the other worker neither polls nor tells anything of it. Both had
    read "no chain runs" before the web role started this one."""
    w1, w2 = await make_worker("w1"), await make_worker("w2")
    keys = await add_keys(w1.db, sandbox)
    await split(w1, w2)
    await buy(w1.db, w1.providers, held_by(w1, keys), clock)  # something to read deadlines of
    await run_both([w1, w2], clock, 5)
    web_db = await open_db()
    web_changes = Changes()  # reaches the workers as the change relay carries it
    for worker in (w1, w2):
        web_changes.listen(worker.changes.deliver)
    web_orders = OrderService(web_db, w1.providers, clock, changes=web_changes)
    web_replace = ReplaceService(web_db, web_orders, clock, changes=web_changes)
    key = held_by(w2, keys)
    first, chain = await buy_chained(web_db, web_orders, web_replace, key)
    w1.requests.clear()

    await run_both([w1, w2], clock, AFTER + 10)

    assert sandbox.state.activations[first.provider_id].status == "cancelled"
    assert bought_with(sandbox, key) == 2
    fresh = await chain_of(w2.db, chain)
    assert (fresh.state, fresh.attempts_used) == (CHAIN_ACTIVE, 2)
    assert [a.id for a in w2.notes.of("adopted")] == [fresh.activation_id]
    assert w1.notes.of("adopted") == [] and key.api_key not in w1.requests
