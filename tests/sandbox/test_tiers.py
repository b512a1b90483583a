"""Suppliers and price tiers: getPricesV3 lists them, getNumber honours maxPrice,
providerIds, exceptProviderIds and operator; hero-style WRONG_MAX_PRICE; a missing action."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.sandbox.conftest import Api

TIERS = [("12", "1.5", 2, "mts"), ("12", "2", 3, "mts"), ("40", "1.8", 4, "beeline")]


async def test_prices_v3_lists_each_supplier_with_its_tiers(api: Api) -> None:
    api.state.set_tiers("16", "tg", TIERS)
    data = await api.json("getPricesV3", service="tg", country="16")
    entry = data["16"]["tg"]
    assert entry["price"] == 1.5 and entry["count"] == 9
    assert entry["providers"]["12"] == {"count": 5, "price": [1.5, 2], "provider_id": 12}
    assert entry["providers"]["40"] == {"count": 4, "price": [1.8], "provider_id": 40}
    plain = await api.json("getPricesV3", service="tg", country="15")
    assert list(plain["15"]["tg"]["providers"]) == ["1"]  # no tiers: one anonymous supplier


async def test_a_purchase_takes_the_cheapest_tier_its_filters_allow(api: Api) -> None:
    api.state.set_tiers("16", "tg", TIERS)
    start = await api.balance()
    await api.buy("tg", "16")
    await api.buy("tg", "16", providerIds="40")
    await api.buy("tg", "16", exceptProviderIds="12")
    await api.buy("tg", "16", operator="mts", maxPrice="2")
    bought = api.state.purchases
    assert [p["supplier"] for p in bought] == ["12", "40", "40", "12"]
    assert [p["cost"] for p in bought] == [Decimal(c) for c in ("1.5", "1.8", "1.8", "1.5")]
    assert bought[1]["provider_ids"] == "40" and bought[2]["except_provider_ids"] == "12"
    assert bought[3]["operator"] == "mts" and bought[3]["max_price"] == "2"
    assert await api.balance() == start - Decimal("6.6")
    # The 1.5 tier is sold out now: the next cheapest of supplier 12 is 2.
    assert (
        await api.text("getNumber", service="tg", country="16", providerIds="12", maxPrice="1.9")
        == "WRONG_MAX_PRICE:2.000000"
    )
    assert await api.text("getNumber", service="tg", country="16", providerIds="99") == (
        "NO_NUMBERS"
    )
    view = api.state.offer_view("16", "tg")
    assert view["count"] == 5 and view["cost"] == "1.8"


async def test_wrong_max_price_as_hero_problem_json(api: Api) -> None:
    api.state.configure(hero_errors=True)
    status, body = await api.raw(
        {
            "api_key": api.key,
            "action": "getNumberV2",
            "service": "tg",
            "country": "16",
            "maxPrice": "1",
        }
    )
    assert status == 400
    problem = json.loads(body)
    assert problem["title"] == "WRONG_MAX_PRICE" and problem["info"]["min"] == 32.4


async def test_a_disabled_action_answers_bad_action(api: Api) -> None:
    api.state.disable_action("getPricesV3")
    assert await api.text("getPricesV3", service="tg") == "BAD_ACTION"
    api.state.disable_action("getPricesV3", disabled=False)
    assert "providers" in await api.text("getPricesV3", service="tg", country="16")


async def test_the_bot_client_sends_the_choice_and_reads_operators(api: Api) -> None:
    from bot.provider.client import ProviderClient
    from bot.provider.errors import ProviderError
    from bot.provider.models import PurchaseFilter

    api.state.set_tiers("16", "tg", TIERS)
    client = ProviderClient(api.server.url, api.key, api.session)
    assert await client.get_operators("16") == ["beeline", "mts"]
    assert await client.get_operators("15") == []  # OPERATORS_NOT_FOUND
    bought = await client.buy_activation(
        "tg", "16", max_price=Decimal("2"), choice=PurchaseFilter(excluded=("12",))
    )
    assert bought.cost == Decimal("1.8")
    assert api.state.purchases[-1]["except_provider_ids"] == "12"
    await client.buy_activation("tg", "16", choice=PurchaseFilter(only=("12", "40")))
    assert api.state.purchases[-1]["provider_ids"] == "12,40"
    with pytest.raises(ProviderError) as refused:
        await client.buy_activation(
            "tg", "16", max_price=Decimal("1"), choice=PurchaseFilter(operator="beeline")
        )
    assert refused.value.min_price == Decimal("1.8")
