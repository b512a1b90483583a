"""Success rates on the country list through the dispatcher: shown once there are enough
samples, a "best chance" order next to "cheapest", kept while paging, and a tampered sort
tap that loses nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from handlers.activation.callbacks import BuyAction, BuyCb
from handlers.activation.flow import PAGES
from tests.harness import ChatDriver
from tests.rates_seed import seed_rates


def country_rows(chat: ChatDriver) -> list[str]:
    return [b.text for b in chat.last_bot_message().buttons() if " · " in b.text]


async def open_countries(chat: ChatDriver) -> None:
    await chat.send("/buy")
    await chat.tap("Telegram")


async def test_rates_and_best_chance_sort(
    keyed_chat: ChatDriver, services: Any, sandbox: Any, clock: Any
) -> None:
    chat = keyed_chat
    PAGES.clear()
    for country in ("15", "16", "22"):  # on the first page, cheapest first
        sandbox.state.set_price(country, "tg", "0.10")
    await seed_rates(services.db, clock())
    await open_countries(chat)
    rows = country_rows(chat)
    by_name = {row.split(" · ")[0].split(" ", 1)[1]: row for row in rows}
    assert by_name["Poland"].endswith("✅ 75%")
    assert by_name["United Kingdom"].endswith("✅ 80%")
    assert by_name["India"].endswith("✅ 50%")
    assert sum("✅" in row for row in rows) == 3  # Ukraine (9 samples) and the rest: no rate
    prices = [Decimal(r.split(" · ")[1].split()[0]) for r in rows]
    assert prices == sorted(prices)  # cheapest first by default

    await chat.tap("Best chance first")
    rows = country_rows(chat)
    assert ["United Kingdom" in rows[0], "Poland" in rows[1], "India" in rows[2]] == [True] * 3
    assert "Best chance first:" in chat.last_text
    assert chat.find_button("Cheapest first")
    await chat.tap("›")  # the next page keeps the order (unrated ones, cheapest first)
    await chat.tap("‹")
    assert "United Kingdom" in country_rows(chat)[0]

    await chat.tap("Cheapest first")
    prices = [Decimal(r.split(" · ")[1].split()[0]) for r in country_rows(chat)]
    assert prices == sorted(prices)
    assert chat.find_button("Best chance first")


async def test_no_sort_button_without_history(keyed_chat: ChatDriver) -> None:
    chat = keyed_chat
    await open_countries(chat)
    assert not any("✅" in row for row in country_rows(chat))
    labels = [b.text for b in chat.last_bot_message().buttons()]
    assert not any("Best chance" in label for label in labels)


async def test_tampered_sort_tap_loses_nothing(keyed_chat: ChatDriver) -> None:
    chat = keyed_chat
    await open_countries(chat)
    for data in (
        BuyCb(action=BuyAction.SORT, s="no-such-service").pack(),
        BuyCb(action=BuyAction.SORT, s="tg", tk="q", p=3).pack(),
        "b1:so",
    ):
        answer = await chat.tap_data(data)
        assert answer is not None  # every tap is answered
    assert chat.find_button("Main menu")
