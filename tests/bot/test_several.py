"""OrderService.buy_several: several numbers of one offer under one confirmation, each under
its own token and intent, stopping at the first refusal or unknown outcome, never over the
cap."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from bot.orders import OrderService
from bot.provider.models import PurchaseFilter
from storage import Activation, Database, KeyProfile
from storage.tokens import batch_token

USER = 111
POLAND = "15"
PRICE = Decimal("28.8")  # the sandbox's Telegram in Poland


@pytest.fixture
def orders(tdb: Database, tproviders: Any, clock: Any) -> OrderService:
    return OrderService(tdb, tproviders, clock=clock)


async def batch(
    orders: OrderService, quantity: int, max_price: Decimal = PRICE, **extra: Any
) -> str:
    return await orders.offer_token(
        USER,
        service="tg",
        country=POLAND,
        max_price=max_price,
        price=PRICE,
        quantity=quantity,
        **extra,
    )


def number_requests(sandbox: Any) -> list[dict[str, Any]]:
    return [r for r in sandbox.state.requests if r["action"].startswith("getNumber")]


async def test_each_number_has_its_own_token_and_intent(
    orders: OrderService, tdb: Database, tkey: KeyProfile, sandbox: Any
) -> None:
    lead = await batch(orders, 3)
    told: list[Activation] = []

    async def on_bought(activation: Activation) -> None:
        told.append(activation)

    result = await orders.buy_several(
        USER,
        token=lead,
        service="tg",
        country=POLAND,
        max_price=PRICE,
        quantity=3,
        chat_id=USER,
        on_bought=on_bought,
    )
    assert result.complete and len(result.bought) == 3 and result.error is None
    assert [a.id for a in told] == [a.id for a in result.bought]  # each told once stored
    tokens = set()
    for index in (1, 2, 3):
        intent = await tdb.pending.of_token(USER, batch_token(lead, index))
        assert intent is not None and intent.max_price == PRICE
        tokens.add(batch_token(lead, index))
    assert len(tokens) == 3
    assert [r["params"]["maxPrice"] for r in number_requests(sandbox)] == ["28.8"] * 3
    assert await tdb.pending.list_all() == []


async def test_stock_running_out_stops_the_batch_with_a_partial_result(
    orders: OrderService, tdb: Database, tkey: KeyProfile, sandbox: Any
) -> None:
    sandbox.state.set_stock(POLAND, "tg", 2)
    lead = await batch(orders, 5)
    result = await orders.buy_several(
        USER, token=lead, service="tg", country=POLAND, max_price=PRICE, quantity=5, chat_id=1
    )
    assert len(result.bought) == 2 and result.error is not None
    assert result.error.code == "NO_NUMBERS"
    assert len(number_requests(sandbox)) == 3  # stopped at the first refusal: no 4th, 5th
    spent = sum((a.cost or Decimal(0)) for a in result.bought)
    assert spent <= 5 * PRICE
    # The tokens of the numbers never tried are withdrawn: nothing can buy with them later.
    offer_tokens = [batch_token(lead, i) for i in (4, 5)]
    for token in offer_tokens:
        again = await orders.buy(
            USER,
            token=token,
            service="tg",
            country=POLAND,
            max_price=PRICE,
            chat_id=1,
            quantity=5,
        )
        assert again.duplicate
    assert len(sandbox.state.purchases) == 2


async def test_no_balance_stops_and_the_cap_holds(
    orders: OrderService, tkey: KeyProfile, sandbox: Any
) -> None:
    sandbox.state.set_balance(tkey_key(sandbox), "60")
    lead = await batch(orders, 4)
    result = await orders.buy_several(
        USER, token=lead, service="tg", country=POLAND, max_price=PRICE, quantity=4, chat_id=1
    )
    assert len(result.bought) == 2 and result.error is not None
    assert result.error.code == "NO_BALANCE"


def tkey_key(sandbox: Any) -> str:
    [key] = sandbox.state.accounts
    return str(key)


async def test_a_dropped_answer_leaves_its_intent_pending_and_stops(
    orders: OrderService, tdb: Database, tkey: KeyProfile, sandbox: Any
) -> None:
    lead = await batch(orders, 4)

    async def drop_the_next(activation: Activation) -> None:
        sandbox.state.inject_fault("drop_after_charge", action="getNumberV2")

    result = await orders.buy_several(
        USER,
        token=lead,
        service="tg",
        country=POLAND,
        max_price=PRICE,
        quantity=4,
        chat_id=1,
        on_bought=drop_the_next,
    )
    assert len(result.bought) == 1 and result.pending == 1 and result.error is None
    assert len(number_requests(sandbox)) == 2  # the lost one is not retried, nor the rest bought
    [open_intent] = await tdb.pending.list_all()
    assert open_intent.unknown_at is not None  # waits for reconciliation
    assert len(sandbox.state.purchases) == 2  # the provider did sell the dropped one


async def test_one_tap_twice_buys_nothing_more(
    orders: OrderService, tkey: KeyProfile, sandbox: Any
) -> None:
    lead = await batch(orders, 3)

    async def tap() -> Any:
        return await orders.buy_several(
            USER, token=lead, service="tg", country=POLAND, max_price=PRICE, quantity=3, chat_id=1
        )

    first, second = await asyncio.gather(tap(), tap())
    assert sorted([len(first.bought), len(second.bought)]) == [0, 3]
    assert first.duplicate or second.duplicate
    third = await tap()
    assert third.duplicate and not third.bought
    assert len(sandbox.state.purchases) == 3


async def test_a_token_binds_the_quantity_and_the_choice(
    orders: OrderService, tkey: KeyProfile, sandbox: Any
) -> None:
    only = PurchaseFilter(only=("1",))
    lead = await batch(orders, 2, choice=only)
    wrong_count = await orders.buy_several(
        USER,
        token=lead,
        service="tg",
        country=POLAND,
        max_price=PRICE,
        quantity=3,
        chat_id=1,
        choice=only,
    )
    wrong_choice = await orders.buy_several(
        USER, token=lead, service="tg", country=POLAND, max_price=PRICE, quantity=2, chat_id=1
    )
    assert wrong_count.stale and wrong_choice.stale
    right = await orders.buy_several(
        USER,
        token=lead,
        service="tg",
        country=POLAND,
        max_price=PRICE,
        quantity=2,
        chat_id=1,
        choice=only,
    )
    assert len(right.bought) == 2
    assert {p["provider_ids"] for p in sandbox.state.purchases} == {"1"}
