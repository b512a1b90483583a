"""Middlewares, and the bot's command list in each language (published by `handlers.profile`).

On every update (outer, outermost first): the timing (the handler latency metric), the key
guard (a message carrying an API key never stays in the chat), the in-flight cap (at most
UPDATES_IN_FLIGHT updates do work at once), the allowlist (refused users leave no row
behind), then registration, which injects `user`, `lang`, `t` and the per-update `active_key`
loader for every handler, then the prompt check (an input prompt that no longer asks loses
its buttons).

Around each message and tap handler (inner, on the root router, so the handler is known and its
flags decide): the key input check (only a handler flagged TAKES_API_KEY gets a message that
carries a key), then throttling of one user's floods (a handler flagged Throttle.PACE has its
input paced, never dropped; with REDIS_URL the buckets are shared by the replicas).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.dispatcher.flags import get_flag
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    BotCommand,
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
    PROMPT,
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

# Taps a user may make at once before the throttle's rate applies: a person's quick taps (a
# double tap, a few buttons in a row) always pass; only a sustained flood is slowed down.
THROTTLE_BURST = 5
# Float sums of the rate drift by far less than this; a tap exactly on time is on time.
_CLOCK_SLACK = 1e-9

COMMANDS: tuple[str, ...] = (
    "start",
    "buy",
    "numbers",
    "spending",
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


class SharedThrottle(Protocol):
    """The throttle's per-user buckets held outside the process, one for every replica
    (`handlers.redis_limits.RedisThrottle`). None: it cannot say now (Redis is down), and the
    process's own bucket decides."""

    async def allow(self, user_id: int, rate: float, burst: int) -> bool | None: ...

    async def reserve(self, user_id: int, rate: float, burst: int) -> float | None: ...


class ThrottleMiddleware(BaseMiddleware):
    """Lets each user through at a human pace and slows down only a flood (inner: the
    handler's flag decides what a flood costs).

    A token bucket per user: `burst` taps at once, refilled one per `rate` seconds, so quick
    taps of a person (a double tap, three buttons in a row) always pass and only a sustained
    flood runs dry. It is kept as one number per user, the moment their bucket is full again
    (each update pushes it `rate` further; more than `burst` updates ahead of now is a flood).

    A tap or a command that finds the bucket empty is dropped (the tap is still answered, so
    the button does not spin). A handler flagged `Throttle.PACE` (input a screen asked for, an
    API key above all: its message must reach the handler that deletes it) never has its input
    dropped: it waits for the user's next token, without holding an in-flight slot, so a flood
    at the key prompt makes at most `burst` key checks at once and then one per `rate` seconds.
    Uses the monotonic clock: throttling is about real time, not the provider's.

    With `shared` (REDIS_URL set), the buckets live in Redis under the same rule, so a flood
    spread over several replicas meets one bucket; while Redis cannot answer, this process's
    own bucket decides (a flood is still slowed, per replica)."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        max_users: int = 10000,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        burst: int = THROTTLE_BURST,
        shared: SharedThrottle | None = None,
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._shared = shared
        self._clock = clock
        self._sleep = sleep
        # user id -> the moment their bucket is full again (in the past once it is)
        self._full_at: dict[int, float] = {}
        self._max_users = max_users

    def _forget_idle(self, now: float) -> None:
        if len(self._full_at) >= self._max_users:
            # A user whose bucket is full again is like one never seen: forget them.
            self._full_at = {k: v for k, v in self._full_at.items() if v > now}

    def _take(self, user_id: int, now: float) -> float:
        """Take one token (booking it ahead when the bucket is empty); the seconds until that
        token is there (0 when it is there now)."""
        full_at = max(self._full_at.get(user_id, now), now) + self.rate
        self._forget_idle(now)
        self._full_at[user_id] = full_at
        # The bucket holds `burst` tokens: a token booked more than that ahead must wait.
        return max(0.0, full_at - now - self.rate * self.burst)

    def _allowed(self, user_id: int) -> bool:
        """Whether a tap may pass now; one that may not takes no token (a flood never digs
        the bucket deeper than empty)."""
        now = self._clock()
        full_at = max(self._full_at.get(user_id, now), now)
        if full_at + self.rate - now > self.rate * self.burst + _CLOCK_SLACK:
            return False
        self._take(user_id, now)
        return True

    def _reserve(self, user_id: int) -> float:
        """Book the user's next token; the seconds to wait for it (0 when one is free now)."""
        return self._take(user_id, self._clock())

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user = _telegram_user(data)
        if self.rate <= 0 or user is None:
            return await handler(event, data)
        if get_flag(data, THROTTLE, default=Throttle.DROP) == Throttle.PACE:
            delay = await self._reserve_anywhere(user.id)
            if delay > 0:
                await self._wait(delay, data.get(IN_FLIGHT))
            return await handler(event, data)
        if await self._allowed_anywhere(user.id):
            return await handler(event, data)
        if isinstance(event, CallbackQuery):  # the button stops spinning; a text goes unanswered
            await _answer(event, _t(data, user)("notice-throttled"))
        return None

    async def _allowed_anywhere(self, user_id: int) -> bool:
        """`_allowed`, by the shared bucket when there is one and it can say."""
        if self._shared is not None:
            allowed = await self._shared.allow(user_id, self.rate, self.burst)
            if allowed is not None:
                return allowed
        return self._allowed(user_id)

    async def _reserve_anywhere(self, user_id: int) -> float:
        """`_reserve`, in the shared bucket when there is one and it can say."""
        if self._shared is not None:
            delay = await self._shared.reserve(user_id, self.rate, self.burst)
            if delay is not None:
                return delay
        return self._reserve(user_id)

    async def _wait(self, delay: float, in_flight: object) -> None:
        """Wait for the user's slot; the update's in-flight slot is free for others meanwhile."""
        if isinstance(in_flight, InFlightMiddleware):
            async with in_flight.stepped_out():
                await self._sleep(delay)
        else:
            await self._sleep(delay)


class UpdateTimingMiddleware(BaseMiddleware):
    """Times every update through everything after it (the wait for an in-flight slot
    included), and hands the seconds to `observe`, failed updates too: the outermost
    middleware, so the figure is what the user waited between a tap and its answer."""

    def __init__(
        self, observe: Callable[[float], None], clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._observe = observe
        self._clock = clock

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        started = self._clock()
        try:
            return await handler(event, data)
        finally:
            self._observe(self._clock() - started)


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

    The user and their active key are read together once per update here (a known user costs
    one read, no write) and every handler gets them (`active_key`: the update's loader)."""

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
        user, key = await user_settings.register_with_active_key(
            tg_user.id, pick_language(tg_user.language_code)
        )
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
        data["active_key"] = ActiveKeyLoader.read(accounts, user.id, key)
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


class SharedClaims(Protocol):
    """Claims shared by the bot's processes: True for the first to claim (chat, message) only.
    Never raises (True when it cannot say: this process's own claim decides)."""

    async def claim(self, chat_id: int, message_id: int) -> bool: ...


class PromptMiddleware(BaseMiddleware):
    """An input prompt ("Send your API key…") keeps its buttons only while it is the message
    asking: once the flow moves on (another message asks, see `remember_prompt`) or is left
    (a command, a tap elsewhere, Cancel), its Cancel can do nothing, so it is taken away.

    Around every update (the handler that changes the state may be any router's): the prompt
    before and after the update are compared. The tapped message itself is left alone: the
    handler has just drawn the next screen in it.

    Two updates of one chat may run at once (a key sent, then /menu): both saw the same prompt
    before and both see it gone after. The prompt is claimed before it is retired, with no await
    between the check and the claim, so it is retired once (a second edit would be refused by
    Telegram as "not modified"). With several replicas the two updates may run in two
    processes: then `shared` (Redis, `handlers.redis_limits.RedisPromptClaims`) is asked too,
    after this process's own claim."""

    _REMEMBERED = 4096  # prompts retired lately, per process (bounded)

    def __init__(self, shared: SharedClaims | None = None) -> None:
        self._retired: OrderedDict[tuple[int, int], None] = OrderedDict()
        self._shared = shared

    async def _claimed(self, chat_id: int, message_id: int) -> bool:
        """This process's claim first (no await before it), then the replicas'."""
        if not self._claim(chat_id, message_id):
            return False
        return self._shared is None or await self._shared.claim(chat_id, message_id)

    def _claim(self, chat_id: int, message_id: int) -> bool:
        key = (chat_id, message_id)
        if key in self._retired:
            return False
        self._retired[key] = None
        if len(self._retired) > self._REMEMBERED:
            self._retired.popitem(last=False)
        return True

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        state = data.get("state")
        if not isinstance(state, FSMContext):
            return await handler(event, data)
        before = (await state.get_data()).get(PROMPT)
        if not isinstance(before, int):
            return await handler(event, data)
        try:
            return await handler(event, data)
        finally:
            if (await state.get_data()).get(PROMPT) != before and before != _tapped_id(event):
                chat = data.get("event_chat")
                if chat is not None and await self._claimed(chat.id, before):
                    await _retire_prompt(data, before)


def _tapped_id(event: TelegramObject) -> int | None:
    """The id of the message whose button this update tapped, if it is a tap."""
    query = event.callback_query if isinstance(event, Update) else None
    return query.message.message_id if query is not None and query.message is not None else None


async def _retire_prompt(data: dict[str, Any], message_id: int) -> None:
    bot: Bot | None = data.get("bot")
    chat = data.get("event_chat")
    if bot is None or chat is None:
        return
    try:
        await bot.edit_message_reply_markup(
            chat_id=chat.id, message_id=message_id, reply_markup=None
        )
    except TelegramAPIError as exc:  # already gone or without buttons: the prompt is cosmetic
        log.debug("could not retire a prompt: %s", type(exc).__name__)


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


def setup_middlewares(
    dp: Dispatcher,
    settings: Settings,
    observe_update: Callable[[float], None] | None = None,
    shared_claims: SharedClaims | None = None,
) -> None:
    """Attach the update middlewares once, on the dispatcher's update observer (every event
    type). The per-handler ones sit on the root router (`handlers.build_router`).
    `observe_update` gets each update's seconds (the handler latency metric); `shared_claims`
    lets one replica of several retire an old prompt."""
    admins = list(settings.admin_ids)
    if observe_update is not None:
        dp.update.outer_middleware(UpdateTimingMiddleware(observe_update))
    dp.update.outer_middleware(KeyGuardMiddleware())
    dp.update.outer_middleware(InFlightMiddleware(UPDATES_IN_FLIGHT))
    dp.update.outer_middleware(AllowlistMiddleware(list(settings.allowed_users), admins))
    dp.update.outer_middleware(RegistrationMiddleware(admins))
    dp.update.outer_middleware(PromptMiddleware(shared_claims))


def bot_commands(translator: Translator, lang: str) -> list[BotCommand]:
    return [
        BotCommand(command=name, description=translator.get(lang, f"cmd-{name}"))
        for name in COMMANDS
    ]
