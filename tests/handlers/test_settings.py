"""Settings: language (default from Telegram), auto-cancel and margin, time zone; crafted
values are refused."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.settings import SettingsCb
from tests.harness import ChatDriver


async def test_language_defaults_to_telegrams(dp: Any, bot: Any, services: Any) -> None:
    chat = ChatDriver(dp, bot, user_id=501, language="ru")
    await chat.send("/start")
    assert "Здравствуйте" in chat.last_text
    user = await services.db.users.get(501)
    assert user is not None and user.language == "ru"
    zh = ChatDriver(dp, bot, user_id=502, language="zh-hans")
    await zh.send("/help")
    assert "机器人使用说明" in zh.last_text
    other = ChatDriver(dp, bot, user_id=503, language="de")
    await other.send("/help")
    assert "How this bot works" in other.last_text


async def test_language_switch_changes_the_texts(chat: ChatDriver, services: Any) -> None:
    await chat.send("/settings")
    assert "Language: 🇬🇧 English" in chat.last_text
    await chat.tap("Language")
    answer = await chat.tap("Русский")
    assert answer is not None and answer.text == "Сохранено."
    assert "Настройки" in chat.last_text and "Язык: 🇷🇺 Русский" in chat.last_text
    await chat.send("/start")
    assert "Главное меню" in chat.last_text
    assert any("Купить номер" in b.text for b in chat.last_bot_message().buttons())
    await chat.tap("Настройки")
    await chat.tap("Язык")
    await chat.tap("中文")
    assert "设置" in chat.last_text
    user = await services.db.users.get(chat.user.id)
    assert user is not None and user.language == "zh"


async def test_auto_cancel_toggle_and_margin(chat: ChatDriver, services: Any) -> None:
    await chat.send("/settings")
    assert "Auto-cancel: on" in chat.last_text and "1 min before" in chat.last_text
    await chat.tap("Turn auto-cancel off")
    assert "Auto-cancel: off" in chat.last_text
    await chat.tap("Turn auto-cancel on")
    assert "Auto-cancel: on" in chat.last_text
    await chat.tap("Auto-cancel margin")
    await chat.tap("5 min")
    assert "5 min before" in chat.last_text
    user = await services.db.users.get(chat.user.id)
    assert user is not None and user.auto_cancel and user.auto_cancel_margin == 300


async def test_time_zone_picker(chat: ChatDriver, services: Any) -> None:
    await chat.send("/settings")
    assert "Time zone: UTC" in chat.last_text
    await chat.tap("Time zone")
    await chat.tap("UTC+05:30")
    assert "Time zone: UTC+05:30" in chat.last_text
    user = await services.db.users.get(chat.user.id)
    assert user is not None and user.timezone == "UTC+05:30"


@pytest.mark.parametrize(
    "data",
    [
        SettingsCb(action="setlang", v="xx"),
        SettingsCb(action="auto", v="maybe"),
        SettingsCb(action="setmargin", v="7"),
        SettingsCb(action="setmargin", v="-60"),
        SettingsCb(action="settz", v="9999"),
        SettingsCb(action="settz", v="abc"),
    ],
)
async def test_crafted_values_are_refused(
    chat: ChatDriver, services: Any, data: SettingsCb
) -> None:
    await chat.send("/settings")
    before = await services.db.users.get(chat.user.id)
    answer = await chat.tap_data(data.pack())
    assert answer is not None and "out of date" in (answer.text or "")
    assert await services.db.users.get(chat.user.id) == before
