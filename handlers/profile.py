"""The bot's profile in Telegram, in every language: its command list, its description (what an
empty chat shows above Start) and its short description (its profile page, a shared link).

Published once at start-up. Telegram keeps one of each per language code plus a default for
everyone else (English here). The profile is a courtesy: a call Telegram refuses (a flood
limit, an old Bot API server) is logged and the bot starts regardless.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommandScopeDefault

from bot.i18n import DEFAULT_LANGUAGE, Translator
from handlers.middlewares import bot_commands

log = logging.getLogger(__name__)

# Telegram's limits: longer texts are refused, so a translation that grew is cut, not lost.
DESCRIPTION_LIMIT = 512
SHORT_DESCRIPTION_LIMIT = 120


def profile_languages(translator: Translator) -> list[str | None]:
    """None (the default, for every language without its own) and then each language."""
    return [None, *translator.languages]


async def publish_profile(bot: Bot, translator: Translator) -> int:
    """setMyCommands, setMyDescription and setMyShortDescription for every language and the
    default. Never raises for Telegram's sake: returns how many calls were refused (each one
    logged), 0 when all went through."""
    refused = 0
    for code in profile_languages(translator):
        for name, call in _profile_calls(bot, translator, code):
            try:
                await call()
            except TelegramAPIError as exc:
                refused += 1
                log.warning("%s (%s) was refused: %s", name, code or "default", type(exc).__name__)
    return refused


def _profile_calls(
    bot: Bot, translator: Translator, code: str | None
) -> list[tuple[str, Callable[[], Awaitable[bool]]]]:
    """The profile calls of one language code (None: the default, in English), not yet made."""
    lang = code or DEFAULT_LANGUAGE
    description = translator.get(lang, "bot-description")[:DESCRIPTION_LIMIT]
    short = translator.get(lang, "bot-short-description")[:SHORT_DESCRIPTION_LIMIT]
    commands = bot_commands(translator, lang)
    return [
        (
            "setMyCommands",
            lambda: bot.set_my_commands(
                commands, scope=BotCommandScopeDefault(), language_code=code
            ),
        ),
        (
            "setMyDescription",
            lambda: bot.set_my_description(description=description, language_code=code),
        ),
        (
            "setMyShortDescription",
            lambda: bot.set_my_short_description(short_description=short, language_code=code),
        ),
    ]
