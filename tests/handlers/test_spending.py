"""Spending at a glance in the chat: the menu entry and /spending, weeks and months, two dates
typed, one key or all, the chart as a photo (drawn while other taps are answered)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from typing import Any

import pytest
from aiogram.methods import SendPhoto

from bot.charts import HEIGHT_PX, WIDTH_PX, StackedBars, can_draw, png_size, render_stacked_bars
from bot.i18n import Translator
from bot.spending import drawable
from handlers.spending import SpendingAction, SpendingCb, chart_words
from tests.harness import ChatDriver, until
from tests.spending_seed import at, bought, rented

USER = 111


@pytest.fixture
async def history(keyed_chat: ChatDriver, services: Any, clock: Any) -> int:
    """The week of tests/bot/test_spending.py (spent 72.80 ₽ of 112.80 ₽ charged) under the
    chat's sandbox key; today is Friday 2027-01-15, the user's zone UTC."""
    clock.now = at("2027-01-15 08:00")
    db = services.db
    [key] = await db.keys.list(USER)
    k = key.id
    await bought(db, user=USER, key=k, when=at("2027-01-11 10:00"), cost="18.00", codes=1,
                 end="finished")  # fmt: skip
    await bought(db, user=USER, key=k, when=at("2027-01-12 09:00"), cost="18.00", codes=2,
                 end="finished")  # fmt: skip
    await bought(db, user=USER, key=k, when=at("2027-01-12 11:00"), cost="22.00", service="wa",
                 end="cancelled")  # fmt: skip
    await rented(db, user=USER, key=k, when=at("2027-01-13 08:00"), cost="16.00",
                 extensions=((at("2027-01-14 08:00"), "16.00"),), clock=clock)  # fmt: skip
    await rented(db, user=USER, key=k, when=at("2027-01-13 12:00"), cost="18.00", service="wa",
                 country="1", end="cancelled")  # fmt: skip
    await bought(db, user=USER, key=k, when=at("2027-01-15 07:00"), cost="4.80", service="go",
                 country="12")  # fmt: skip
    return k


def _photos(chat: ChatDriver) -> list[SendPhoto]:
    return chat.session.calls(SendPhoto)


async def test_the_menu_entry_shows_this_weeks_spending(
    keyed_chat: ChatDriver, history: int
) -> None:
    await keyed_chat.send("/start")
    await keyed_chat.tap("Spending")
    text = keyed_chat.last_text
    assert "This week · 2027-01-11 – 2027-01-17 · All keys" in text
    assert "Spent: <b>72.80 ₽</b> (charged 112.80 ₽, refunded 40.00 ₽)" in text
    assert "Still waiting for a code (may come back): 4.80 ₽" in text
    assert "Numbers: 6 · codes received: 3" in text
    assert "Cost per code: 12.00 ₽" in text
    # Names from the provider's catalog where it has them.
    assert "Top services: Telegram ×3 (68.00 ₽), WhatsApp ×2 (0.00 ₽)" in text
    assert "Top countries: 🇷🇺 Russia ×4 (68.00 ₽), 🇺🇸 USA (virtual) ×1 (4.80 ₽)" in text
    await keyed_chat.send("/spending")
    assert keyed_chat.last_text == text


async def test_earlier_later_and_a_month(keyed_chat: ChatDriver, history: int) -> None:
    await keyed_chat.send("/spending")
    await keyed_chat.tap("Earlier")
    assert "Week · 2027-01-04 – 2027-01-10" in keyed_chat.last_text
    assert "Nothing was bought in this period." in keyed_chat.last_text
    await keyed_chat.tap("Later")
    assert "This week" in keyed_chat.last_text and "72.80 ₽" in keyed_chat.last_text
    await keyed_chat.tap("Month")
    assert "This month · 2027-01-01 – 2027-01-31" in keyed_chat.last_text
    assert "72.80 ₽" in keyed_chat.last_text
    await keyed_chat.tap("Earlier")
    assert "Month · 2026-12-01 – 2026-12-31" in keyed_chat.last_text
    assert any("Main menu" in b.text for b in keyed_chat.last_bot_message().buttons())


async def test_one_key_or_all(
    keyed_chat: ChatDriver, history: int, services: Any, sandbox: Any
) -> None:
    db = services.db
    spare = sandbox.state.create_key(balance="5")
    second = await db.keys.add(USER, label="Spare", base_url=sandbox.url, api_key=spare)
    await bought(db, user=USER, key=second.id, when=at("2027-01-14 10:00"), cost="7.00",
                 codes=1, end="finished")  # fmt: skip
    await keyed_chat.send("/spending")
    assert "Spent: <b>79.80 ₽</b>" in keyed_chat.last_text
    await keyed_chat.tap("All keys")
    assert "of which key?" in keyed_chat.last_text
    await keyed_chat.tap("Spare")
    assert "· Spare" in keyed_chat.last_text
    assert "Spent: <b>7.00 ₽</b>" in keyed_chat.last_text
    await keyed_chat.tap("Spare")  # the scope button opens the picker again
    await keyed_chat.tap("Back")
    assert "Spent: <b>7.00 ₽</b>" in keyed_chat.last_text  # back where the user came from
    await keyed_chat.tap("Spare")
    await keyed_chat.tap("All keys")
    assert "Spent: <b>79.80 ₽</b>" in keyed_chat.last_text


async def test_two_dates_typed_and_what_is_wrong_with_them(
    keyed_chat: ChatDriver, history: int
) -> None:
    await keyed_chat.send("/spending")
    await keyed_chat.tap("Dates")
    assert "Send two dates" in keyed_chat.last_text
    await keyed_chat.send("last week")
    assert "could not read two dates" in keyed_chat.last_text
    await keyed_chat.send("2027-01-10 2027-01-01")
    assert "The second date is before the first one" in keyed_chat.last_text
    await keyed_chat.send("2027-02-01 2027-02-02")
    assert "starts in the future" in keyed_chat.last_text
    await keyed_chat.send("2025-01-01 2027-01-01")
    assert "more than a year" in keyed_chat.last_text
    await keyed_chat.send("1999-12-30 1999-12-31")
    assert "from 2000-01-01 on" in keyed_chat.last_text
    await keyed_chat.send("12.01.2027 - 13.01.2027")
    text = keyed_chat.last_text
    assert "2027-01-12 – 2027-01-13 · All keys" in text
    # Tuesday and Wednesday: 18 + 22 + 16 + 18 charged, 22 + 18 refunded.
    assert "Spent: <b>34.00 ₽</b> (charged 74.00 ₽, refunded 40.00 ₽)" in text
    await keyed_chat.send("2027-01-12 2027-01-13")  # the input screen is closed now
    assert "did not expect" in keyed_chat.last_text


async def test_back_from_the_dates_screen(keyed_chat: ChatDriver, history: int) -> None:
    await keyed_chat.send("/spending")
    await keyed_chat.tap("Dates")
    await keyed_chat.tap("Back")
    assert "This week" in keyed_chat.last_text
    await keyed_chat.send("2027-01-12 2027-01-13")
    assert "did not expect" in keyed_chat.last_text


async def test_forged_taps_change_nothing(
    keyed_chat: ChatDriver, history: int, services: Any
) -> None:
    stranger = await services.db.keys.add(222, label="x", base_url="http://x", api_key="z" * 32)
    await bought(services.db, user=222, key=stranger.id, when=at("2027-01-12 10:00"),
                 cost="50.00", codes=1, end="finished")  # fmt: skip
    await keyed_chat.send("/spending")
    shown = keyed_chat.last_text
    forged = [
        SpendingCb(action=SpendingAction.SHOW, k=stranger.id).pack(),
        SpendingCb(action=SpendingAction.CHART, k=stranger.id).pack(),
        SpendingCb(action=SpendingAction.SHOW, p="c", a=739000, b=738000).pack(),  # last < first
        SpendingCb(action=SpendingAction.SHOW, p="c", a=1, b=1).pack(),  # year 1
        "sp1:s:w:99999:0:0:0",  # further back than any keyboard goes
        "sp1:s:x:0:0:0:0",  # no such period
    ]
    for data in forged:
        answer = await keyed_chat.tap_data(data)
        assert answer is not None and "out of date" in (answer.text or "")
        assert keyed_chat.last_text == shown
    assert "50.00" not in "".join(keyed_chat.texts())
    assert _photos(keyed_chat) == []


async def test_the_chart_comes_as_a_photo(keyed_chat: ChatDriver, history: int) -> None:
    await keyed_chat.send("/spending")
    answer = await keyed_chat.tap("Chart")
    assert answer is not None and "Drawing the chart" in (answer.text or "")
    [photo] = _photos(keyed_chat)
    assert photo.chat_id == USER
    assert png_size(photo.photo.data) == (WIDTH_PX, HEIGHT_PX)
    assert photo.caption is not None
    assert "Spending per day, 2027-01-11 – 2027-01-17 · All keys" in photo.caption


async def test_a_tap_is_answered_while_the_chart_is_drawn(
    keyed_chat: ChatDriver, history: int, services: Any
) -> None:
    gate = threading.Event()
    drawing = threading.Event()

    def held_render(chart: StackedBars) -> bytes:
        drawing.set()
        gate.wait(timeout=30)  # a guard against a hang, not a budget
        return render_stacked_bars(chart)

    services.spending.render = held_render
    await keyed_chat.send("/spending")
    summary = keyed_chat.last_bot_message()
    chart_tap = asyncio.create_task(keyed_chat.tap("Chart", summary))
    await until(drawing.is_set)
    answer = await keyed_chat.tap("Month", summary)  # served while the chart is held
    assert answer is not None
    assert "This month · 2027-01-01 – 2027-01-31" in keyed_chat.last_text
    assert _photos(keyed_chat) == []  # still drawing
    gate.set()
    await chart_tap
    [photo] = _photos(keyed_chat)
    assert png_size(photo.photo.data) == (WIDTH_PX, HEIGHT_PX)


async def test_in_russian(services: Any, dp: Any, bot: Any, sandbox: Any, clock: Any) -> None:
    clock.now = at("2027-01-15 08:00")
    api_key = sandbox.state.create_key(balance="5")
    key = await services.db.keys.add(333, label="k", base_url=sandbox.url, api_key=api_key)
    await bought(services.db, user=333, key=key.id, when=at("2027-01-12 10:00"), cost="18.50",
                 codes=1, end="finished")  # fmt: skip
    chat = ChatDriver(dp, bot, user_id=333, language="ru")
    await chat.send("/spending")
    assert "Эта неделя · 2027-01-11 – 2027-01-17 · Все ключи" in chat.last_text
    assert "Потрачено: <b>18,50 ₽</b>" in chat.last_text
    assert "Телеграм ×1" in chat.last_text  # the provider's Russian name


def test_chart_words_fall_back_to_english_where_the_font_has_no_glyphs() -> None:
    translator = Translator()
    span = "2027-01-11 – 2027-01-17"
    title = "spending-chart-title"
    russian, english = chart_words(translator.bind("ru"), translator, title, span=span)
    assert drawable(russian, english).title == f"Расходы по дням, {span}"
    assert english.title == f"Spending per day, {span}"
    chinese, english = chart_words(translator.bind("zh"), translator, title, span=span)
    # The bundled subset has the Chinese words' glyphs: the chart speaks Chinese too.
    assert drawable(chinese, english).title == f"每日花费，{span}"
    japanese = replace(chinese, title="日本語のグラフ")  # kana: no chart font has them
    assert not can_draw(japanese.title)
    assert drawable(japanese, english) is english
