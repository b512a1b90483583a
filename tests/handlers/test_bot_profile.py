"""The bot's profile per language (issue 15): commands, description and short description for
en/ru/zh and the default; a refused call is logged and never stops the start-up."""

from __future__ import annotations

import logging
from typing import Any

from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter
from aiogram.methods import SetMyCommands, SetMyDescription, SetMyShortDescription

from handlers import publish_profile
from handlers.middlewares import COMMANDS
from handlers.profile import DESCRIPTION_LIMIT, SHORT_DESCRIPTION_LIMIT


def _by_language(calls: list[Any]) -> dict[str | None, Any]:
    return {call.language_code: call for call in calls}


async def test_commands_and_descriptions_in_every_language(bot: Any, services: Any) -> None:
    assert await publish_profile(bot, services.translator) == 0
    session = bot.session
    commands = _by_language(session.calls(SetMyCommands))
    descriptions = _by_language(session.calls(SetMyDescription))
    shorts = _by_language(session.calls(SetMyShortDescription))
    for calls in (commands, descriptions, shorts):
        assert set(calls) == {None, "en", "ru", "zh"}  # the default, then each language
    for call in commands.values():
        assert [c.command for c in call.commands] == list(COMMANDS)
    assert commands["ru"].commands[1].description == "Купить номер"
    assert commands["zh"].commands[1].description == "购买号码"
    assert commands[None].commands[1].description == "Buy a number"
    assert "API key" in descriptions[None].description
    assert descriptions[None].description == descriptions["en"].description
    assert "API-ключ" in descriptions["ru"].description
    assert "API 密钥" in descriptions["zh"].description
    assert "API-ключ" in shorts["ru"].short_description
    for call in descriptions.values():
        assert 0 < len(call.description) <= DESCRIPTION_LIMIT
    for call in shorts.values():
        assert 0 < len(call.short_description) <= SHORT_DESCRIPTION_LIMIT


async def test_a_refused_profile_call_is_logged_and_the_rest_go_on(
    bot: Any, services: Any, caplog: Any
) -> None:
    session = bot.session
    session.fail_next(SetMyDescription, TelegramNetworkError(SetMyDescription(description=""), "x"))
    retry = TelegramRetryAfter(SetMyShortDescription(), "Too Many Requests", 30)
    session.fail_next(SetMyShortDescription, retry)
    with caplog.at_level(logging.WARNING, logger="handlers.profile"):
        refused = await publish_profile(bot, services.translator)
    assert refused == 2
    assert "setMyDescription (default) was refused" in caplog.text
    assert "setMyShortDescription (default) was refused" in caplog.text
    # Every other call was still made: each language got its commands and descriptions.
    assert len(session.calls(SetMyCommands)) == 4
    assert len(session.calls(SetMyDescription)) == 4
    assert len(session.calls(SetMyShortDescription)) == 4
