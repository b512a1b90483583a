"""Price tiers, suppliers and "buy at the minimum" on the confirm screen, through the real
dispatcher, a real SQLite database and the sandbox provider."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from handlers.activation.callbacks import OfferCb

POLAND = "15"


@pytest.fixture
async def keyed(services: Any, sandbox: Any, sandbox_key: str, chat: Any) -> Any:
    await services.accounts.add_key(
        chat.user.id, base_url=sandbox.url, api_key=sandbox_key, label="test"
    )
    return chat


async def open_confirm(chat: Any) -> None:
    await chat.send("/buy")
    await chat.tap("Telegram")
    await chat.send("Poland")
    await chat.tap("Poland")


def tier_labels(chat: Any) -> list[str]:
    return [b.text for b in chat.last_bot_message().buttons() if b.text.startswith("💠")]


def v3_requests(sandbox: Any) -> int:
    return sum(1 for r in sandbox.state.requests if r["action"] == "getPricesV3")


async def test_tiers_are_offered_and_a_tier_buys_at_its_price_from_its_supplier(
    keyed: Any, sandbox: Any, services: Any
) -> None:
    sandbox.state.set_tiers(POLAND, "tg", [("12", "28.80", 2), ("12", "31", 4), ("15", "35", 5)])
    chat = keyed
    await open_confirm(chat)
    assert "Suppliers: any" in chat.last_text
    labels = tier_labels(chat)
    assert len(labels) == 3
    assert "28.80" in labels[0] and "#12" in labels[0]  # cheapest first
    assert "35.00" in labels[2] and "#15" in labels[2] and "5 pcs" in labels[2]

    await chat.tap("#15")
    screen = chat.last_text
    assert "Maximum price: 35.00" in screen and "only #15" in screen
    await chat.tap("Buy for")
    [bought] = sandbox.state.purchases
    assert bought["max_price"] == "35" and bought["provider_ids"] == "15"
    assert bought["supplier"] == "15" and bought["cost"] == Decimal("35")
    [stored] = await services.db.activations.list_live(chat.user.id)
    assert stored.cost == Decimal("35")


async def test_a_token_for_one_supplier_never_buys_from_another(keyed: Any, sandbox: Any) -> None:
    sandbox.state.set_tiers(POLAND, "tg", [("12", "28.80", 2), ("15", "35", 5)])
    chat = keyed
    await open_confirm(chat)
    await chat.tap("#15")
    shown, button = chat.find_button("Buy for")
    data = OfferCb.unpack(button.callback_data)
    for forged in (
        data.model_copy(update={"f": "p12"}),  # another supplier
        data.model_copy(update={"f": ""}),  # any supplier
        data.model_copy(update={"n": 3}),  # more numbers
        data.model_copy(update={"f": "p1!2"}),  # tampered
    ):
        answer = await chat.tap_data(forged.pack(), shown)
        assert answer is not None and "outdated" in (answer.text or "")
    assert sandbox.state.purchases == []


async def test_no_tiers_where_the_provider_answers_bad_action(keyed: Any, sandbox: Any) -> None:
    sandbox.state.disable_action("getPricesV3")
    chat = keyed
    await open_confirm(chat)
    assert tier_labels(chat) == []
    assert "Suppliers" not in chat.last_text
    assert all("Suppliers" not in b.text for b in chat.last_bot_message().buttons())
    asked = v3_requests(sandbox)
    assert asked == 1
    await chat.tap("Set a maximum price")
    await chat.send("40")
    assert v3_requests(sandbox) == asked  # BAD_ACTION is remembered: not asked again
    await chat.tap("Buy for")
    assert len(sandbox.state.purchases) == 1
    assert sandbox.state.purchases[0]["provider_ids"] is None


@pytest.mark.parametrize("hero", [False, True], ids=["text", "problem-json"])
async def test_wrong_max_price_offers_buy_at_the_minimum_in_one_tap(
    keyed: Any, sandbox: Any, hero: bool
) -> None:
    sandbox.state.configure(hero_errors=hero)
    chat = keyed
    await open_confirm(chat)
    await chat.tap("Set a maximum price")
    await chat.send("30")
    assert "Maximum price: 30.00" in chat.last_text
    sandbox.state.set_price(POLAND, "tg", "32.5")  # the price rose after the screen was drawn
    answer = await chat.tap("Buy for")
    assert answer is not None and "32.50" in (answer.text or "")
    screen = chat.last_text
    assert screen.startswith("⚠️") and "32.50" in screen
    assert sandbox.state.purchases == []

    await chat.tap("Buy at 32.50")  # one tap: its own fresh token for the minimum
    [bought] = sandbox.state.purchases
    assert bought["max_price"] == "32.5" and bought["cost"] == Decimal("32.5")
    card = chat.last_text
    assert "+" + bought["phone"] in card


async def test_excluding_a_supplier_is_remembered_on_the_favourite(
    keyed: Any, sandbox: Any, services: Any
) -> None:
    sandbox.state.set_tiers(POLAND, "tg", [("12", "28.80", 2), ("15", "35", 5)])
    chat = keyed
    await open_confirm(chat)
    await chat.tap("Add to favourites")
    await chat.tap("Suppliers")
    listing = chat.last_text
    assert "#12: 2 pcs" in listing and "#15: 5 pcs" in listing and "remembered" in listing
    answer = await chat.tap("Not #12")
    assert answer is not None and "Remembered" in (answer.text or "")
    assert "all but #12" in chat.last_text
    assert [label for label in tier_labels(chat) if "#12" in label] == []

    await chat.send("/start")  # later, from the quick pick of the favourite
    await chat.send("/buy")
    await chat.tap("⭐ Telegram")
    assert "all but #12" in chat.last_text
    await chat.tap("Buy for")
    [bought] = sandbox.state.purchases
    assert bought["except_provider_ids"] == "12" and bought["supplier"] == "15"

    await chat.send("/buy")
    await chat.tap("⭐ Telegram")
    await chat.tap("Suppliers")
    await chat.tap("Any supplier")
    assert "Suppliers: any" in chat.last_text
    assert await services.favourites.choice(chat.user.id, "tg", POLAND) is not None
    assert (await services.favourites.choice(chat.user.id, "tg", POLAND)).code() == ""


async def test_a_choice_on_an_offer_not_starred_is_not_remembered(
    keyed: Any, sandbox: Any, services: Any
) -> None:
    sandbox.state.set_tiers(POLAND, "tg", [("12", "28.80", 2), ("15", "35", 5)])
    chat = keyed
    await open_confirm(chat)
    await chat.tap("Suppliers")
    assert "Star the offer" in chat.last_text
    await chat.tap("Only #15")
    assert "only #15" in chat.last_text
    await open_confirm(chat)
    assert "Suppliers: any" in chat.last_text
    assert await services.favourites.choice(chat.user.id, "tg", POLAND) is None


async def test_an_operator_is_chosen_where_the_provider_names_operators(
    keyed: Any, sandbox: Any, services: Any
) -> None:
    sandbox.state.disable_action("getPricesV3")  # sms-activate/hero style: no suppliers
    sandbox.state.set_tiers(POLAND, "tg", [("1", "28.80", 3, "play"), ("2", "30", 3, "orange")])
    chat = keyed
    await open_confirm(chat)
    assert tier_labels(chat) == []
    await chat.tap("Add to favourites")
    await chat.tap("Operator")
    labels = [b.text for b in chat.last_bot_message().buttons()]
    assert "📶 orange" in labels and "📶 play" in labels
    await chat.tap("📶 orange")
    assert "Operator: orange" in chat.last_text
    await chat.tap("Buy for")
    [bought] = sandbox.state.purchases
    assert bought["operator"] == "orange" and bought["supplier"] == "2"
    choice = await services.favourites.choice(chat.user.id, "tg", POLAND)
    assert choice is not None and choice.operator == "orange"


async def test_no_operator_choice_where_the_provider_has_neither(keyed: Any, sandbox: Any) -> None:
    sandbox.state.disable_action("getPricesV3")
    sandbox.state.disable_action("getOperators")
    chat = keyed
    await open_confirm(chat)
    labels = [b.text for b in chat.last_bot_message().buttons()]
    assert not any("Operator" in label or "Suppliers" in label for label in labels)
    assert "Operator:" not in chat.last_text and "Suppliers:" not in chat.last_text
