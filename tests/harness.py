"""Test doubles for Telegram: a recording Bot API session and a chat driver.

`RecordingSession` follows aiogram's own MockedBot pattern: every API call is recorded and answered
locally with a plausible result, and the session keeps the chat as the user would see it
(messages, edits, deletions, keyboards). `ChatDriver` feeds updates through the real dispatcher
as a user would: send text, tap a button by its label, read what the chat shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    SendMessage,
    TelegramMethod,
)
from aiogram.types import (
    CallbackQuery,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
    User,
)

from bot.catalog import CatalogService
from bot.i18n import Translator
from bot.orders import OrderService
from bot.provider.factory import ProviderFactory
from bot.rentals import RentalService
from bot.settings import UserSettingsService
from bot.tracker import Tracker
from handlers.notifier import TelegramNotifier
from handlers.send_queue import UNPACED, SendQueue
from storage import Database

BOT_USER = User(id=42, is_bot=True, first_name="SMS bot", username="sms_test_bot")

M = TypeVar("M")


def find_middleware(dp: Dispatcher, kind: type[M]) -> M:
    """The dispatcher's middleware of this class: on the update observer (outer), or around the
    message/tap handlers of the root router (inner)."""
    managers = [dp.update.outer_middleware]
    for router in (dp, *dp.sub_routers):
        managers += [router.message.middleware, router.callback_query.middleware]
    for manager in managers:
        for middleware in manager[:]:
            if isinstance(middleware, kind):
                return middleware
    raise AssertionError(f"no {kind.__name__} on the dispatcher")


@dataclass
class ChatMessage:
    message_id: int
    chat_id: int
    text: str
    from_bot: bool
    markup: InlineKeyboardMarkup | None = None
    deleted: bool = False
    edits: int = 0

    def buttons(self) -> list[InlineKeyboardButton]:
        if self.markup is None:
            return []
        return [button for row in self.markup.inline_keyboard for button in row]


@dataclass
class RecordingSession(BaseSession):
    """Records every Bot API call and answers it as Telegram would, keeping the chat state."""

    requests: list[TelegramMethod[Any]] = field(default_factory=list)
    messages: dict[tuple[int, int], ChatMessage] = field(default_factory=dict)
    callback_answers: list[AnswerCallbackQuery] = field(default_factory=list)
    # method type -> exceptions to raise on the next calls of that type (FIFO)
    failures: dict[type, list[Exception]] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1000))

    def __post_init__(self) -> None:
        super().__init__()

    def next_message_id(self) -> int:
        return next(self._ids)

    def fail_next(self, method_type: type, error: Exception) -> None:
        self.failures.setdefault(method_type, []).append(error)

    async def close(self) -> None:  # nothing to close
        return None

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:
        yield b""

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None):
        self.requests.append(method)
        pending = self.failures.get(type(method))
        if pending:
            raise pending.pop(0)
        return self._answer(method)

    def _answer(self, method: TelegramMethod[Any]) -> Any:
        now = datetime.now(tz=UTC)
        if isinstance(method, GetMe):
            return BOT_USER
        if isinstance(method, SendMessage):
            message_id = self.next_message_id()
            chat_id = int(method.chat_id)
            markup = (
                method.reply_markup
                if isinstance(method.reply_markup, InlineKeyboardMarkup)
                else None
            )
            self.messages[(chat_id, message_id)] = ChatMessage(
                message_id, chat_id, method.text, True, markup
            )
            return Message(
                message_id=message_id,
                date=now,
                chat=Chat(id=chat_id, type="private"),
                from_user=BOT_USER,
                text=method.text,
                reply_markup=markup,
            )
        if isinstance(method, EditMessageText | EditMessageReplyMarkup):
            key = (int(method.chat_id), int(method.message_id))
            shown = self.messages.get(key)
            if shown is None or shown.deleted:
                raise TelegramBadRequest(method, "Bad Request: message to edit not found")
            new_text = method.text if isinstance(method, EditMessageText) else shown.text
            new_markup = (
                method.reply_markup
                if isinstance(method.reply_markup, InlineKeyboardMarkup)
                else None
            )
            if isinstance(method, EditMessageReplyMarkup):
                new_text = shown.text
            if new_text == shown.text and _markup_eq(new_markup, shown.markup):
                raise TelegramBadRequest(
                    method,
                    "Bad Request: message is not modified: specified new message content and "
                    "reply markup are exactly the same as a current content and reply markup "
                    "of the message",
                )
            shown.text, shown.markup = new_text, new_markup
            shown.edits += 1
            return Message(
                message_id=shown.message_id,
                date=now,
                chat=Chat(id=shown.chat_id, type="private"),
                from_user=BOT_USER,
                text=shown.text,
                reply_markup=shown.markup,
            )
        if isinstance(method, DeleteMessage):
            shown = self.messages.get((int(method.chat_id), int(method.message_id)))
            if shown is None or shown.deleted:
                raise TelegramBadRequest(method, "Bad Request: message to delete not found")
            shown.deleted = True
            return True
        if isinstance(method, AnswerCallbackQuery):
            self.callback_answers.append(method)
            return True
        return True

    # --- what the user sees -------------------------------------------------------------
    def visible(self, chat_id: int) -> list[ChatMessage]:
        return sorted(
            (m for m in self.messages.values() if m.chat_id == chat_id and not m.deleted),
            key=lambda m: m.message_id,
        )

    def bot_texts(self, chat_id: int) -> list[str]:
        """Every text the bot sent or edited in, in order (what could have leaked)."""
        texts: list[str] = []
        for method in self.requests:
            if isinstance(method, SendMessage | EditMessageText) and int(method.chat_id) == chat_id:
                texts.append(method.text)
            if isinstance(method, AnswerCallbackQuery) and method.text:
                texts.append(method.text)
        return texts

    def calls(self, method_type: type) -> list[Any]:
        return [m for m in self.requests if isinstance(m, method_type)]


def _markup_eq(a: InlineKeyboardMarkup | None, b: InlineKeyboardMarkup | None) -> bool:
    return _dump(a) == _dump(b)


def _dump(markup: InlineKeyboardMarkup | None) -> dict[str, Any] | None:
    return markup.model_dump(exclude_none=True) if markup is not None else None


def _inline(markup: object) -> InlineKeyboardMarkup | None:
    return markup if isinstance(markup, InlineKeyboardMarkup) else None


class ChatDriver:
    """One Telegram user talking to the bot through the real dispatcher."""

    def __init__(
        self,
        dp: Dispatcher,
        bot: Bot,
        user_id: int = 111,
        language: str = "en",
        *,
        first_update_id: int = 1,
    ):
        self.dp, self.bot = dp, bot
        self.user = User(id=user_id, is_bot=False, first_name="Alice", language_code=language)
        self.session: RecordingSession = bot.session  # type: ignore[assignment]
        # Several drivers on one dispatcher need ranges of their own: Telegram's update ids
        # are unique per bot (aiogram caches by them).
        self._update_ids = itertools.count(first_update_id)

    @property
    def chat_id(self) -> int:
        return self.user.id

    def _chat(self) -> Chat:
        return Chat(id=self.user.id, type="private")

    def make_message_update(self, text: str) -> Update:
        message_id = self.session.next_message_id()
        self.session.messages[(self.chat_id, message_id)] = ChatMessage(
            message_id, self.chat_id, text, from_bot=False
        )
        message = Message(
            message_id=message_id,
            date=datetime.now(tz=UTC),
            chat=self._chat(),
            from_user=self.user,
            text=text,
        )
        return Update(update_id=next(self._update_ids), message=message)

    async def send(self, text: str) -> None:
        await self.dp.feed_update(self.bot, self.make_message_update(text))
        await delivered(self.dp.workflow_data.get("notifier"))

    def find_button(
        self, label: str, message: ChatMessage | None = None
    ) -> tuple[ChatMessage, InlineKeyboardButton]:
        candidates = [message] if message else list(reversed(self.session.visible(self.chat_id)))
        for shown in candidates:
            for button in shown.buttons():
                if label.lower() in button.text.lower():
                    return shown, button
        labels = [b.text for m in candidates for b in m.buttons()]
        raise AssertionError(f"no button {label!r} in the chat; buttons: {labels}")

    def make_callback_update(self, data: str, message: ChatMessage) -> Update:
        query = CallbackQuery(
            id=str(next(self._update_ids) + 10_000),
            from_user=self.user,
            chat_instance="ci",
            data=data,
            message=Message(
                message_id=message.message_id,
                date=datetime.now(tz=UTC),
                chat=self._chat(),
                from_user=BOT_USER,
                text=message.text,
                reply_markup=message.markup,
            ),
        )
        return Update(update_id=next(self._update_ids), callback_query=query)

    async def tap(
        self, label: str, message: ChatMessage | None = None
    ) -> AnswerCallbackQuery | None:
        """Tap the newest button whose label contains `label`; returns the callback answer."""
        shown, button = self.find_button(label, message)
        assert button.callback_data is not None, f"button {button.text!r} has no callback data"
        return await self.tap_data(button.callback_data, shown)

    async def tap_data(
        self, data: str, message: ChatMessage | None = None
    ) -> AnswerCallbackQuery | None:
        shown = message or self.last_bot_message()
        before = len(self.session.callback_answers)
        await self.dp.feed_update(self.bot, self.make_callback_update(data, shown))
        await delivered(self.dp.workflow_data.get("notifier"))
        answers = self.session.callback_answers[before:]
        return answers[-1] if answers else None

    def last_bot_message(self) -> ChatMessage:
        bot_messages = [m for m in self.session.visible(self.chat_id) if m.from_bot]
        assert bot_messages, "the bot has shown nothing"
        return bot_messages[-1]

    @property
    def last_text(self) -> str:
        return self.last_bot_message().text

    def texts(self) -> list[str]:
        return [m.text for m in self.session.visible(self.chat_id) if m.from_bot]


def message_update(update_id: int, user_id: int, text: str) -> Update:
    """A text from a user in their private chat, as Telegram would send it."""
    user = User(id=user_id, is_bot=False, first_name="U", language_code="en")
    message = Message(
        message_id=update_id,
        date=datetime.now(tz=UTC),
        chat=Chat(id=user_id, type="private"),
        from_user=user,
        text=text,
    )
    return Update(update_id=update_id, message=message)


class HeldHandler:
    """A message handler that holds every update until `gate` opens; counts how many run at
    once (`running`, `peak`) and how many finished (`handled`)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.running = 0
        self.peak = 0
        self.handled = 0

    async def handle(self, message: Any) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await self.gate.wait()
        finally:
            self.running -= 1
            self.handled += 1


async def delivered(notifier: Any) -> None:
    """Send what the notifier's queue holds, as the running bot's queue worker would."""
    queue = getattr(notifier, "queue", None)
    if queue is not None:
        await queue.drain()


def sending(tracker: Tracker) -> Tracker:
    """The tracker whose tick() also sends what the pass queued for Telegram (in the running
    bot the send queue's worker does, beside the tracker)."""
    tick = tracker.tick

    async def tick_and_send() -> None:
        await tick()
        await delivered(tracker.notifier)

    tracker.tick = tick_and_send  # type: ignore[method-assign]
    return tracker


async def until(condition: Callable[[], bool], guard: float = 30.0) -> None:
    """Wait for a condition something running brings about. `guard` only stops a hang: it is
    no budget (a slow machine just takes longer)."""
    async with asyncio.timeout(guard):
        while not condition():
            await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def hang_guard(guard: float = 60.0) -> AsyncIterator[None]:
    """Turn a hang into a failure that says what was still running: the stack of every task
    of the loop, taken before the wait is cancelled (cancelling it cancels what it gathers).
    `guard` only stops a hang: it is no budget (a slow machine just takes longer)."""
    waiting = asyncio.current_task()
    assert waiting is not None
    stacks: list[str] = []

    def expire() -> None:
        out = io.StringIO()
        for task in asyncio.all_tasks():
            out.write(f"--- {task!r}\n")
            task.print_stack(file=out)
        stacks.append(out.getvalue())
        waiting.cancel()

    timer = asyncio.get_running_loop().call_later(guard, expire)
    try:
        yield
    except asyncio.CancelledError:
        if not stacks:
            raise
        waiting.uncancel()
        raise AssertionError(f"still running after {guard:g} s:\n{stacks[0]}") from None
    finally:
        timer.cancel()


class SqlTrace:
    """Every SQL statement the database runs from now on, through sqlite3's trace callback
    (public in aiosqlite): what a code path costs in statements, and which ones."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    @classmethod
    async def start(cls, db: Any) -> SqlTrace:
        trace = cls()
        for conn in db.connections:  # the writer and the read connections
            await conn.set_trace_callback(trace._record)
        return trace

    def _record(self, sql: str) -> None:
        # Called on aiosqlite's thread as each statement runs; lines starting "--" are
        # SQLite's notes on a trigger starting, not statements.
        if not sql.lstrip().startswith("--"):
            self.statements.append(" ".join(sql.split()))

    @property
    def count(self) -> int:
        return len(self.statements)

    def matching(self, fragment: str) -> list[str]:
        return [sql for sql in self.statements if fragment in sql]


def telegram_notifier(
    bot: Bot,
    db: Database,
    translator: Translator,
    catalog: CatalogService | None,
    *,
    clock: Callable[[], float],
) -> TelegramNotifier:
    """The Telegram notifier as the composition root builds it, on `db`, with use cases that
    never ask a provider (the notifier only stores which message shows a card), and a send
    queue without Telegram's pace (not started: `notifier.queue.drain()` sends what waits)."""
    providers = ProviderFactory()  # never asked for a client
    return TelegramNotifier(
        bot,
        translator,
        catalog,
        orders=OrderService(db, providers, clock),
        rentals=RentalService(db, providers, clock),
        queue=SendQueue(UserSettingsService(db).mark_blocked, limits=UNPACED),
        clock=clock,
    )


async def leave_one_prompt_at_once(
    middlewares: list[Any], chat_id: int = 77
) -> tuple[RecordingSession, ChatMessage]:
    """An input prompt with a Cancel button, then one update through each of `middlewares`
    (`PromptMiddleware`s: one process's, or one per replica), all running at once, each having
    seen the prompt before any moved on. Returns the session (what was called) and the prompt
    as the chat shows it after."""
    from aiogram.fsm.context import FSMContext
    from aiogram.fsm.storage.base import StorageKey
    from aiogram.fsm.storage.memory import MemoryStorage
    from aiogram.types import Chat, InlineKeyboardButton, InlineKeyboardMarkup, TelegramObject

    from handlers.common import PROMPT

    session = RecordingSession()
    bot = Bot("42:TEST", session=session)
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Cancel", callback_data="m1:main")]]
    )
    prompt = await bot.send_message(chat_id=chat_id, text="Send your key", reply_markup=markup)
    state = FSMContext(MemoryStorage(), StorageKey(bot_id=42, chat_id=chat_id, user_id=chat_id))
    await state.update_data({PROMPT: prompt.message_id})
    all_started = asyncio.Barrier(len(middlewares))

    async def leave_the_prompt(event: TelegramObject, data: dict[str, object]) -> None:
        await all_started.wait()  # each saw the prompt before the others moved on
        await state.clear()

    data = {"state": state, "bot": bot, "event_chat": Chat(id=chat_id, type="private")}
    await asyncio.gather(
        *(middleware(leave_the_prompt, TelegramObject(), dict(data)) for middleware in middlewares)
    )
    return session, session.messages[(chat_id, prompt.message_id)]
