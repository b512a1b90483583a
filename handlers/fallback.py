"""The last router: whatever nobody else handled gets a short, polite answer.

- a text (or anything) where no input was expected: a hint and the main menu;
- a command no router knows (`/foo`): it is named as unknown, with /help and the menu;
- a callback nobody handled (an old message, a tampered payload): a short notice, never an error;
- an exception in any handler: the user gets an apology, the log gets the error without secrets.
"""

from __future__ import annotations

import html
import logging
import traceback

from aiogram import Router
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, ErrorEvent, Message
from aiogram.types import User as TelegramUser

from bot.i18n import Translate, Translator, pick_language
from bot.provider.redact import redact
from handlers.common import answer_quietly, main_menu_keyboard, only_menu_keyboard

log = logging.getLogger(__name__)


# A command is named back to the user at most this long (it is their text, escaped).
COMMAND_SHOWN = 32


def unknown_command(text: str | None) -> str | None:
    """`/foo@bot args` -> `/foo` when the text is a command (no router knew it), else None."""
    if not text or not text.startswith("/") or len(text) < 2:
        return None
    command = text.split(maxsplit=1)[0].split("@", 1)[0]
    return command[:COMMAND_SHOWN]


async def on_unexpected_message(message: Message, state: FSMContext, t: Translate) -> None:
    in_input = await state.get_state() is not None
    command = unknown_command(message.text)
    if command is not None:
        # An input screen stays open (its own Cancel still works); otherwise the whole menu.
        markup = only_menu_keyboard(t) if in_input else main_menu_keyboard(t)
        text = t("fallback-unknown-command", command=html.escape(command))
        await message.answer(text, reply_markup=markup)
        return
    if in_input:
        # An input screen is open but this was not the input it wants (e.g. a photo).
        await message.answer(t("fallback-wrong-input"), reply_markup=only_menu_keyboard(t))
        return
    await message.answer(t("fallback-hint"), reply_markup=main_menu_keyboard(t))


async def on_unhandled_callback(callback: CallbackQuery, t: Translate) -> None:
    await answer_quietly(callback, t("fallback-stale-button"))


def _where(exc: BaseException) -> str:
    """file:line of the innermost frame: enough to find the bug, no locals, no messages."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno}"


def _translator_for(
    t: Translate | None, translator: Translator | None, user: TelegramUser | None
) -> Translate:
    """The user's translator when registration ran, else the language Telegram reports."""
    if t is not None:
        return t
    lang = pick_language(user.language_code if user is not None else None)
    return (translator or Translator()).bind(lang)


async def on_error(
    event: ErrorEvent,
    t: Translate | None = None,
    translator: Translator | None = None,
    event_from_user: TelegramUser | None = None,
) -> bool:
    exc = event.exception
    # redact() masks api_key=... in whatever text the exception carries (a URL, a body).
    log.error(
        "handler failed: %s at %s: %s",
        type(exc).__name__,
        _where(exc),
        redact(str(exc))[:300],
    )
    t = _translator_for(t, translator, event_from_user)
    update = event.update
    try:
        if update.callback_query is not None:
            await answer_quietly(update.callback_query, t("error-internal"))
        elif update.message is not None:
            await update.message.answer(t("error-internal"), reply_markup=only_menu_keyboard(t))
    except TelegramAPIError as notice_exc:
        log.warning("could not tell the user about an error: %s", type(notice_exc).__name__)
    return True


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(on_unexpected_message)
    router.callback_query.register(on_unhandled_callback)
    router.errors.register(on_error)
    return router
