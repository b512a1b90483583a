"""Middlewares, and the bot's command list in each language.

On every update (outer, outermost first): the key guard (a message carrying an API key never
stays in the chat), the in-flight cap (at most UPDATES_IN_FLIGHT updates do work at once), the
allowlist (refused users leave no row behind), then registration, which injects `user`,
`lang`, `t` and the per-update `active_key` loader for every handler.

Around each message and tap handler (inner, on the root router, so the handler is known and its
flags decide): the key input check (only a handler flagged TAKES_API_KEY gets a message that
carries a key), then throttling of one user's floods (a handler flagged Throttle.PACE has its
input paced, never dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.dispatcher.flags import get_flag
from aiogram.types import (
    BotCommand,
    BotCommandScopeDefault,
    CallbackQuery,
    Message,
    TelegramObject,
    Update,
)
from aiogram.types import User as TelegramUser

from bot.accounts import AccountService, looks_like_api_key
from bot.config import Settings
from bot.i18n import Translate, Translator, pick_language
from bot.settings import UserSettingsService
from handlers.common import (
    TAKES_API_KEY,
    THROTTLE,
    ActiveKeyLoader,
    Throttle,
    answer_quietly,
    delete_quietly,
)

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

# Updates handled at once, in polling and webhook mode alike (aiogram starts a task for every
# update it receives). Past this many, an update waits for a free slot before any database,
# provider or Telegram work: a burst of thousands of taps costs a bounded amount of memory.
UPDATES_IN_FLIGHT = 32

# Keys of the update's data the middlewares share.
IN_FLIGHT = "in_flight"  # the InFlightMiddleware holding this update's slot
KEY_MESSAGE = "key_message"  # a KeyMessage, when the update's message carries an API key

COMMANDS: tuple[str, ...] = (
    "start",
    "buy",
    "numbers",
    "history",
    "balance",
    "keys",
    "settings",
    "help",
    "mydata",
    "cancel",
)


class CardResender(Protocol):
    """What welcome_back needs of the Telegram notifier."""

    async def resend_cards(self, user_id: int) -> None: ...


def _telegram_user(data: dict[str, Any]) -> TelegramUser | None:
    user = data.get("event_from_user")
    return user if isinstance(user, TelegramUser) else None


def _fallback_t(data: dict[str, Any], user: TelegramUser) -> Translate:
    """A translator before registration: the language Telegram reports."""
    translator: Translator = data["translator"]
    return translator.bind(pick_language(user.language_code))


def _t(data: dict[str, Any], user: TelegramUser) -> Translate:
    """The user's translator once registration ran, else Telegram's language."""
    t = data.get("t")
    return t if callable(t) else _fallback_t(data, user)


async def _answer(update: TelegramObject, text: str) -> None:
    """Tell the user something without any handler: answer the tap, or reply to the text."""
    try:
        if isinstance(update, CallbackQuery):
            await answer_quietly(update, text)
        elif isinstance(update, Update) and update.callback_query is not None:
            await answer_quietly(update.callback_query, text)
        elif isinstance(update, Update) and update.message is not None:
            await update.message.answer(text)
    except Exception as exc:  # the notice is a courtesy; never let it break the pipeline
        log.warning("could not send a middleware notice: %s", type(exc).__name__)


class ThrottleMiddleware(BaseMiddleware):
    """Paces each user's updates to one per `rate` seconds (inner: the handler's flag decides).

    A tap or a command that comes too soon is dropped (the tap is still answered, so the button
    does not spin). A handler flagged `Throttle.PACE` (input a screen asked for, an API key
    above all: its message must reach the handler that deletes it) never has its input
    dropped: it waits for the user's next free slot, without holding an in-flight slot, so a
    flood at the key prompt makes at most one key check per `rate` seconds. Uses the monotonic
    clock: throttling is about real time, not the provider's."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        max_users: int = 10000,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        # user id -> the time of their latest slot (in the future while inputs wait for one)
        self._last: dict[int, float] = {}
        self._max_users = max_users

    def _forget_idle(self, now: float) -> None:
        if len(self._last) >= self._max_users:
            # Forget users idle for longer than the window so the table stays small.
            self._last = {k: v for k, v in self._last.items() if now - v < self.rate}

    def _allowed(self, user_id: int) -> bool:
        now = self._clock()
        last = self._last.get(user_id)
        if last is not None and now - last < self.rate:
            return False
        self._forget_idle(now)
        self._last[user_id] = now
        return True

    def _reserve(self, user_id: int) -> float:
        """Book the user's next free slot; the seconds to wait for it (0 when one is free now)."""
        now = self._clock()
        last = self._last.get(user_id)
        slot = now if last is None else max(now, last + self.rate)
        self._forget_idle(now)
        self._last[user_id] = slot
        return slot - now

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user = _telegram_user(data)
        if self.rate <= 0 or user is None:
            return await handler(event, data)
        if get_flag(data, THROTTLE, default=Throttle.DROP) == Throttle.PACE:
            delay = self._reserve(user.id)
            if delay > 0:
                await self._wait(delay, data.get(IN_FLIGHT))
            return await handler(event, data)
        if self._allowed(user.id):
            return await handler(event, data)
        if isinstance(event, CallbackQuery):  # the button stops spinning; a text goes unanswered
            await _answer(event, _t(data, user)("notice-throttled"))
        return None

    async def _wait(self, delay: float, in_flight: object) -> None:
        """Wait for the user's slot; the update's in-flight slot is free for others meanwhile."""
        if isinstance(in_flight, InFlightMiddleware):
            async with in_flight.stepped_out():
                await self._sleep(delay)
        else:
            await self._sleep(delay)


class InFlightMiddleware(BaseMiddleware):
    """At most `limit` updates are handled at once; the others wait their turn, in order.

    An update that waits for something else (input paced by the throttle) steps out of its
    slot meanwhile (`stepped_out`), so a paced flood never holds the slots of others."""

    def __init__(self, limit: int = UPDATES_IN_FLIGHT) -> None:
        self.limit = max(1, limit)
        self._slots = asyncio.Semaphore(self.limit)
        self.running = 0  # updates inside the handlers right now
        self.waiting = 0  # updates waiting for a slot

    async def _enter(self) -> None:
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.running += 1

    def _leave(self) -> None:
        self.running -= 1
        self._slots.release()

    @contextlib.asynccontextmanager
    async def stepped_out(self) -> AsyncIterator[None]:
        """Give the slot up while waiting; take one again (in turn) before going on."""
        self._leave()
        try:
            yield
        finally:
            await self._enter()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        await self._enter()
        data[IN_FLIGHT] = self
        try:
            return await handler(event, data)
        finally:
            self._leave()


class AllowlistMiddleware(BaseMiddleware):
    """When ALLOWED_USERS is set, only those users (and the admins) may use the bot."""

    def __init__(self, allowed: list[int], admins: list[int]) -> None:
        self.allowed = set(allowed)
        self.admins = set(admins)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user = _telegram_user(data)
        if not self.allowed or user is None:
            return await handler(event, data)
        if user.id in self.allowed or user.id in self.admins:
            return await handler(event, data)
        if isinstance(event, Update):
            await _answer(event, _fallback_t(data, user)("notice-not-allowed"))
        return None


class RegistrationMiddleware(BaseMiddleware):
    """Registers the user on first contact and injects `user`, `lang`, `t` and `active_key`.

    The user is read once per update here (a known user costs one read, no write) and every
    handler gets it; `active_key` reads the active key lazily, at most once per update."""

    def __init__(self, admins: list[int]) -> None:
        self.admins = set(admins)
        # One bound `t` per (translator, language) for the life of the bot, not one per
        # update: binding is cheap, but a stable `t` lets screens cache what they render.
        self._bound: dict[tuple[Translator, str], Translate] = {}

    def _t(self, translator: Translator, lang: str) -> Translate:
        t = self._bound.get((translator, lang))
        if t is None:
            t = self._bound[(translator, lang)] = translator.bind(lang)
        return t

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        tg_user = _telegram_user(data)
        if tg_user is None or tg_user.is_bot:
            return await handler(event, data)
        user_settings: UserSettingsService = data["user_settings"]
        accounts: AccountService = data["accounts"]
        translator: Translator = data["translator"]
        # The first language is Telegram's; the user may change it in Settings.
        user = await user_settings.register(tg_user.id, pick_language(tg_user.language_code))
        lang = user.language if user.language in translator.languages else None
        lang = lang or pick_language(tg_user.language_code)
        t = self._t(translator, lang)
        # The bot's own membership changing (blocked / unblocked) is recorded for everyone;
        # its handlers decide what it means.
        membership = isinstance(event, Update) and event.my_chat_member is not None
        if user.suspended and tg_user.id not in self.admins and not membership:
            if isinstance(event, Update):
                await _answer(event, t("notice-blocked"))
            return None
        data["user"] = user
        data["lang"] = lang
        data["t"] = t
        data["active_key"] = ActiveKeyLoader(accounts, user.id)
        if not user.blocked or membership:
            return await handler(event, data)
        # An update from a user marked "blocked the bot": they are back. Their update is
        # answered first, then the cards of their live numbers follow.
        try:
            return await handler(event, data)
        finally:
            await welcome_back(user_settings, data.get("notifier"), user.id)


async def welcome_back(
    user_settings: UserSettingsService, notifier: CardResender | None, user_id: int
) -> None:
    """The user who blocked the bot is back (any update from them, or the bot unblocked):
    clear the mark once, and send a fresh card for each live number (the tracker delivers
    the codes it kept back). Concurrent updates of a returning user resend the cards once."""
    if not await user_settings.clear_blocked(user_id):
        return
    log.info("user %s is back: their live numbers' cards are sent again", user_id)
    if notifier is None:
        return
    try:
        await notifier.resend_cards(user_id)
    except Exception as exc:  # the cards are a courtesy; the numbers are tracked regardless
        log.warning("could not resend the cards of a returning user: %s", type(exc).__name__)


@dataclass(slots=True)
class KeyMessage:
    """A message that carries an API key, on its way through the middlewares. Settled once a
    handler flagged TAKES_API_KEY took it, or once it was deleted."""

    message: Message
    settled: bool = False


class KeyGuardMiddleware(BaseMiddleware):
    """A message (or an edit) that carries an API key never stays in the chat: unless the
    handler it reaches is flagged TAKES_API_KEY (the "send your key" screen, which deletes it
    itself), it is deleted and the user is told why.

    Outermost, so no other rule (the allowlist, a suspension, no handler at all) leaves a key in
    the chat: what the inner check (`KeyInputMiddleware`) did not settle is deleted here."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        message = event.message or event.edited_message
        if message is None or not looks_like_api_key(message.text or message.caption or ""):
            return await handler(event, data)
        if event.message is None:  # an edit is never input: no handler takes it
            await _delete_key_message(message, data)
            return None
        ticket = data[KEY_MESSAGE] = KeyMessage(message)
        try:
            return await handler(event, data)
        finally:
            if not ticket.settled:
                await _delete_key_message(message, data)


class KeyInputMiddleware(BaseMiddleware):
    """Inner, around message handlers: a message carrying an API key reaches only a handler
    flagged TAKES_API_KEY; any other handler never sees it (it is deleted instead)."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        ticket = data.get(KEY_MESSAGE)
        if not isinstance(ticket, KeyMessage) or ticket.settled:
            return await handler(event, data)
        ticket.settled = True
        if get_flag(data, TAKES_API_KEY, default=False):
            return await handler(event, data)
        await _delete_key_message(ticket.message, data)
        return None


async def _delete_key_message(message: Message, data: dict[str, Any]) -> None:
    bot: Bot | None = data.get("bot")
    deleted = bot is not None and await delete_quietly(bot, message)
    user = _telegram_user(data)
    if user is None:
        return
    t = await _user_t(data, user)
    notice = t("keys-unasked-deleted") if deleted else t("keys-delete-yourself")
    try:
        await message.answer(notice)
    except Exception as exc:  # the notice is a courtesy; the message is handled either way
        log.warning("could not send a middleware notice: %s", type(exc).__name__)


async def _user_t(data: dict[str, Any], user: TelegramUser) -> Translate:
    """The user's language as they chose it in Settings, else Telegram's."""
    t = data.get("t")
    if callable(t):  # registration ran: the user's own
        return t
    translator: Translator = data["translator"]
    user_settings: UserSettingsService = data["user_settings"]
    try:
        stored = await user_settings.get(user.id)
    except Exception as exc:  # the key is deleted regardless; the notice falls back
        log.warning("could not read the user's language: %s", type(exc).__name__)
        stored = None
    if stored is not None and stored.language in translator.languages:
        return translator.bind(stored.language)
    return _fallback_t(data, user)


def setup_middlewares(dp: Dispatcher, settings: Settings) -> None:
    """Attach the update middlewares once, on the dispatcher's update observer (every event
    type). The per-handler ones sit on the root router (`handlers.build_router`)."""
    admins = list(settings.admin_ids)
    dp.update.outer_middleware(KeyGuardMiddleware())
    dp.update.outer_middleware(InFlightMiddleware(UPDATES_IN_FLIGHT))
    dp.update.outer_middleware(AllowlistMiddleware(list(settings.allowed_users), admins))
    dp.update.outer_middleware(RegistrationMiddleware(admins))


def bot_commands(translator: Translator, lang: str) -> list[BotCommand]:
    return [
        BotCommand(command=name, description=translator.get(lang, f"cmd-{name}"))
        for name in COMMANDS
    ]


async def set_commands(bot: Bot, translator: Translator) -> None:
    """setMyCommands for each language, and the default list (English) for everyone else."""
    await bot.set_my_commands(bot_commands(translator, "en"), scope=BotCommandScopeDefault())
    for lang in translator.languages:
        await bot.set_my_commands(
            bot_commands(translator, lang), scope=BotCommandScopeDefault(), language_code=lang
        )
