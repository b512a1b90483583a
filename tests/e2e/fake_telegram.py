"""A fake Telegram Bot API server for end-to-end tests.

It speaks enough of the Bot API for a real `python -m bot` process (aiogram over HTTP) to run
against it: getMe, getUpdates (long polling with offsets), sendMessage, editMessageText,
editMessageReplyMarkup, deleteMessage, answerCallbackQuery, setMyCommands, the webhook methods,
and a generic `true` for anything else. It keeps each private chat as the user sees it and answers
Telegram's own errors for the common bot bugs (message is not modified, message to edit not
found, can't parse entities, BUTTON_DATA_INVALID, query is too old), so a bug that real Telegram
would reject fails here too. Every error it answered is kept in `errors` for tests to inspect.

Tests drive it as a user would: `send_text`, `tap` (by button label), `tap_data`, then
`wait_for` a condition and read `chat(user_id)`.

For the load benchmark (all off by default, so the e2e tests see no change): `latency` delays
every answer; `limits` (a `RateLimits`) enforces Telegram's flood limits on the methods that put
a message in a chat, answering 429 with `retry_after` as Telegram does; `open_chats` lets the bot
write to any private chat without the user writing first; `on_sent(chat_id, text, at)` hears of
every sendMessage Telegram accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import aiohttp
from aiohttp import web

BOT_ID = 42
BOT_USERNAME = "sms_test_bot"
CALLBACK_DATA_LIMIT = 64
MESSAGE_LIMIT = 4096

# Fields that are plain strings even when they look like JSON ("123" stays a str).
STRING_FIELDS = frozenset(
    {
        "text",
        "parse_mode",
        "callback_query_id",
        "url",
        "secret_token",
        "caption",
        "inline_message_id",
        "description",
        "short_description",
        "name",
        "language_code",
    }
)

# Telegram's HTML parse mode: these tags and nothing else.
ALLOWED_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)
ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}

ERR_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
ERR_EDIT_NOT_FOUND = "Bad Request: message to edit not found"
ERR_DELETE_NOT_FOUND = "Bad Request: message to delete not found"
ERR_CANT_EDIT = "Bad Request: message can't be edited"
ERR_QUERY_TOO_OLD = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
ERR_BUTTON_DATA = "Bad Request: BUTTON_DATA_INVALID"
ERR_TEXT_EMPTY = "Bad Request: message text is empty"
ERR_TOO_LONG = "Bad Request: message is too long"
ERR_CHAT_NOT_FOUND = "Bad Request: chat not found"
ERR_BLOCKED = "Forbidden: bot was blocked by the user"
ERR_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
ERR_UNAUTHORIZED = "Unauthorized"
ERR_TOO_MANY = "Too Many Requests: retry after {seconds}"

# Methods that put a message in a chat: Telegram's flood limits count these.
LIMITED_METHODS = frozenset({"sendmessage", "editmessagetext", "editmessagereplymarkup"})


class ApiError(Exception):
    """An error answer of the Bot API: HTTP status and Telegram's description."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after


# --- flood limits ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimits:
    """Telegram's documented flood limits: about 30 messages a second from one bot, one a
    second into one chat, 20 a minute into one group (chat ids below zero)."""

    per_bot: int = 30
    per_chat: int = 1
    per_group: int = 20
    bot_window: float = 1.0
    chat_window: float = 1.0
    group_window: float = 60.0


class SlidingLimiter:
    """At most `limit` accepted calls in any `window` seconds; a refusal says how long to wait,
    rounded up to whole seconds as Telegram's retry_after is."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.accepted: deque[float] = deque()

    def wait_needed(self, now: float) -> float:
        while self.accepted and self.accepted[0] <= now - self.window:
            self.accepted.popleft()
        if len(self.accepted) < self.limit:
            return 0.0
        return self.accepted[0] + self.window - now

    def take(self, now: float) -> None:
        self.accepted.append(now)


class FloodControl:
    """The bot-wide window and one window per chat (a group's is longer)."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self.bot = SlidingLimiter(limits.per_bot, limits.bot_window)
        self.chats: dict[int, SlidingLimiter] = {}
        self.refused = 0

    def _chat(self, chat_id: int) -> SlidingLimiter:
        limiter = self.chats.get(chat_id)
        if limiter is None:
            if chat_id < 0:
                limiter = SlidingLimiter(self.limits.per_group, self.limits.group_window)
            else:
                limiter = SlidingLimiter(self.limits.per_chat, self.limits.chat_window)
            self.chats[chat_id] = limiter
        return limiter

    def admit(self, chat_id: int) -> None:
        """Count one message into `chat_id`, or raise Telegram's 429 with retry_after."""
        now = time.monotonic()
        chat = self._chat(chat_id)
        wait = max(self.bot.wait_needed(now), chat.wait_needed(now))
        if wait > 0:
            self.refused += 1
            seconds = max(1, math.ceil(wait))
            raise ApiError(429, ERR_TOO_MANY.format(seconds=seconds), retry_after=seconds)
        self.bot.take(now)
        chat.take(now)


# --- HTML parse mode ---------------------------------------------------------------------------


class _EntityParser(HTMLParser):
    """Turns Telegram HTML into (plain text, entities), refusing what Telegram refuses."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.length = 0  # in UTF-16 code units, as Telegram counts offsets
        self.stack: list[tuple[str, int, dict[str, str | None]]] = []
        self.entities: list[dict[str, Any]] = []
        self.error: str | None = None

    def _fail(self, message: str) -> None:
        if self.error is None:
            self.error = message

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self._fail(f'Unsupported start tag "{tag}"')
            return
        attributes = dict(attrs)
        if tag == "span" and attributes.get("class") != "tg-spoiler":
            self._fail('Tag "span" must have class "tg-spoiler"')
            return
        if tag == "a" and not attributes.get("href"):
            self._fail('Tag "a" must have attribute "href"')
            return
        self.stack.append((tag, self.length, attributes))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._fail(f'Unsupported start tag "{tag}/"')

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1][0] != tag:
            if self.stack:
                opened = self.stack[-1][0]
                self._fail(f'Can\'t find end tag corresponding to start tag "{opened}"')
            else:
                self._fail(f'Unexpected end tag "{tag}"')
            return
        name, start, attributes = self.stack.pop()
        if self.length > start:
            entity: dict[str, Any] = {
                "type": ENTITY_TYPES[name],
                "offset": start,
                "length": self.length - start,
            }
            if name == "a":
                entity["url"] = attributes.get("href")
            self.entities.append(entity)

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        self.length += len(data.encode("utf-16-le")) // 2

    def handle_comment(self, data: str) -> None:
        self._fail('Unsupported start tag "!--"')

    def handle_decl(self, decl: str) -> None:
        self._fail(f'Unsupported start tag "!{decl}"')

    def unknown_decl(self, data: str) -> None:
        self._fail(f'Unsupported start tag "!{data}"')


_BARE_LT = re.compile(r"<(?![a-zA-Z/!])")


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities of a Telegram-HTML message; ApiError when Telegram would refuse."""
    if _BARE_LT.search(text):
        offset = _BARE_LT.search(text).start()  # type: ignore[union-attr]
        raise ApiError(
            400,
            f'Bad Request: can\'t parse entities: Unsupported start tag "" at byte offset {offset}',
        )
    parser = _EntityParser()
    parser.feed(text)
    parser.close()
    if parser.error is None and parser.stack:
        parser.error = f'Can\'t find end tag corresponding to start tag "{parser.stack[-1][0]}"'
    if parser.error is not None:
        raise ApiError(400, f"Bad Request: can't parse entities: {parser.error}")
    return "".join(parser.parts), sorted(parser.entities, key=lambda e: (e["offset"], e["type"]))


# --- chat state --------------------------------------------------------------------------------


@dataclass
class FakeMessage:
    """One message as the user sees it."""

    message_id: int
    chat_id: int
    from_bot: bool
    text: str  # plain text as displayed (tags removed, entities decoded)
    html: str  # what the bot sent (or the user's raw text)
    entities: list[dict[str, Any]] = field(default_factory=list)
    markup: list[list[dict[str, Any]]] | None = None
    date: int = 0
    deleted: bool = False
    edits: int = 0

    def buttons(self) -> list[dict[str, Any]]:
        return [button for row in self.markup or [] for button in row]

    def labels(self) -> list[str]:
        return [str(button.get("text", "")) for button in self.buttons()]

    def __repr__(self) -> str:  # short and readable in assertion messages
        who = "bot" if self.from_bot else "user"
        return f"<{who} #{self.message_id} {self.text!r} buttons={self.labels()}>"


@dataclass
class CallbackAnswer:
    query_id: str
    user_id: int
    text: str | None
    show_alert: bool


@dataclass
class _Query:
    user_id: int
    data: str
    message_id: int
    created: float
    answered: bool = False


class FakeTelegram:
    """The fake Bot API server. Start it, point TELEGRAM_API_URL at `url`, drive it as a user."""

    def __init__(
        self,
        token: str,
        *,
        callback_timeout: float = 15.0,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        limits: RateLimits | None = None,
        open_chats: bool = False,
        on_sent: Callable[[int, str, float], None] | None = None,
        keep_calls: bool = True,
    ) -> None:
        self.token = token
        self.callback_timeout = callback_timeout
        self.host = host
        self.port = port
        self.latency = latency
        self.flood = FloodControl(limits) if limits is not None else None
        self.open_chats = open_chats
        self.on_sent = on_sent
        self.keep_calls = keep_calls  # off for long benchmark runs: `calls` would only grow
        self.method_counts: dict[str, int] = {}
        self.messages: dict[int, dict[int, FakeMessage]] = {}  # chat id -> message id -> message
        self.answers: list[CallbackAnswer] = []
        self.errors: list[tuple[str, str]] = []  # (method, description) of every error answered
        self.calls: list[tuple[str, dict[str, Any]]] = []  # (method, params) of every call
        self.commands: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] = {}
        self.blocked: set[int] = set()
        self.languages: dict[int, str] = {}
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._queries: dict[str, _Query] = {}
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._closing = False
        self._delivery: asyncio.Task[None] | None = None
        self._webhook_session: aiohttp.ClientSession | None = None

    # --- life cycle ---

    async def start(self) -> None:
        app = web.Application(client_max_size=10 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        # Release pending long polls now: aiohttp would wait for them to time out.
        self._closing = True
        await self._notify()
        if self._delivery is not None:
            self._delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery
        if self._webhook_session is not None:
            await self._webhook_session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- what the user does ---

    def send_text(self, user_id: int, text: str, *, language_code: str = "en") -> int:
        """The user types `text`; returns the id of the user's message."""
        self.languages.setdefault(user_id, language_code)
        message = self._store(user_id, from_bot=False, text=text, html_text=text, markup=None)
        payload = self._message_json(message)
        if text.startswith("/"):
            command = text.split()[0]
            payload["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        self._push_update({"message": payload})
        return message.message_id

    def tap(self, user_id: int, label: str, *, message_id: int | None = None) -> str:
        """The user taps the newest button labelled `label` (exact, else contained, any case)."""
        message, button = self.find_button(user_id, label, message_id=message_id)
        if "callback_data" not in button:
            raise AssertionError(f"button {label!r} is not a callback button: {button}")
        return self.tap_data(user_id, button["callback_data"], message_id=message.message_id)

    def tap_data(self, user_id: int, data: str, *, message_id: int | None = None) -> str:
        """The user's client sends a callback query with any `data` (a modified client can)."""
        if message_id is None:
            visible = [m for m in self.chat(user_id) if m.from_bot]
            if not visible:
                raise AssertionError(f"no bot message to tap in chat {user_id}")
            message_id = visible[-1].message_id
        message = self.messages[user_id][message_id]
        query_id = str(next(self._query_ids)) + "000" + str(user_id)
        self._queries[query_id] = _Query(user_id, data, message_id, time.monotonic())
        self._push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self._user_json(user_id),
                    "message": self._message_json(message),
                    "chat_instance": f"ci{user_id}",
                    "data": data,
                }
            }
        )
        return query_id

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sends to this chat answer 403."""
        self.blocked.add(user_id)

    # --- what the user sees ---

    def chat(self, user_id: int) -> list[FakeMessage]:
        """Visible messages of the chat, oldest first."""
        return [m for m in self.messages.get(user_id, {}).values() if not m.deleted]

    def bot_messages(self, user_id: int) -> list[FakeMessage]:
        return [m for m in self.chat(user_id) if m.from_bot]

    def last(self, user_id: int) -> FakeMessage:
        messages = self.bot_messages(user_id)
        if not messages:
            raise AssertionError(f"the bot has not written to chat {user_id}")
        return messages[-1]

    def last_text(self, user_id: int) -> str:
        """Text of the newest bot message, or "" when the bot has not written yet."""
        messages = self.bot_messages(user_id)
        return messages[-1].text if messages else ""

    def texts(self, user_id: int) -> list[str]:
        return [m.text for m in self.bot_messages(user_id)]

    def answers_for(self, user_id: int) -> list[CallbackAnswer]:
        return [a for a in self.answers if a.user_id == user_id]

    def answered(self, query_id: str) -> bool:
        query = self._queries.get(query_id)
        return bool(query and query.answered)

    def find_button(
        self, user_id: int, label: str, *, message_id: int | None = None
    ) -> tuple[FakeMessage, dict[str, Any]]:
        messages = [m for m in reversed(self.chat(user_id)) if m.markup]
        if message_id is not None:
            messages = [m for m in messages if m.message_id == message_id]
        for exact in (True, False):
            for message in messages:
                for button in message.buttons():
                    text = str(button.get("text", ""))
                    if (text == label) if exact else (label.casefold() in text.casefold()):
                        return message, button
        shown = [m.labels() for m in messages]
        raise AssertionError(f"no button {label!r} in chat {user_id}; buttons: {shown}")

    def has_button(self, user_id: int, label: str) -> bool:
        try:
            self.find_button(user_id, label)
        except AssertionError:
            return False
        return True

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Wait until `predicate()` is truthy (re-checked on every change); return its value."""
        deadline = asyncio.get_running_loop().time() + timeout
        async with self._changed:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout}s; {self.describe()}")
                # Wake at least every 0.2 s: predicates may also read other state.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(remaining, 0.2)):
                        await self._changed.wait()

    def describe(self) -> str:
        lines = []
        for chat_id in self.messages:
            lines.append(f"chat {chat_id}:")
            lines.extend(f"  {m!r}" for m in self.chat(chat_id))
        lines.append(f"errors: {self.errors}")
        return "\n".join(lines)

    # --- HTTP ---

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return self._error_response(method, ApiError(401, ERR_UNAUTHORIZED))
        params = await self._read_params(request)
        if self.keep_calls:
            self.calls.append((method, params))
        self.method_counts[method] = self.method_counts.get(method, 0) + 1
        if self.latency > 0 and method.lower() != "getupdates":
            await asyncio.sleep(self.latency)
        handler = getattr(self, f"_api_{method.lower()}", None)
        try:
            if self.flood is not None and method.lower() in LIMITED_METHODS:
                self.flood.admit(self._chat_id(params))
            result = await handler(params) if handler else True
        except ApiError as exc:
            return self._error_response(method, exc)
        if self.on_sent is not None and method.lower() == "sendmessage":
            self.on_sent(int(params["chat_id"]), str(params.get("text", "")), time.time())
        await self._notify()
        return web.json_response({"ok": True, "result": result})

    def _error_response(self, method: str, exc: ApiError) -> web.Response:
        self.errors.append((method, exc.description))
        body: dict[str, Any] = {
            "ok": False,
            "error_code": exc.status,
            "description": exc.description,
        }
        if exc.retry_after is not None:
            body["parameters"] = {"retry_after": exc.retry_after}
        return web.json_response(body, status=exc.status)

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        content_type = request.content_type
        if content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
            return params
        if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            form = await request.post()
            for key, value in form.items():
                params[key] = _decode_field(key, value if isinstance(value, str) else "")
        return params

    # --- Bot API methods ---

    async def _api_getme(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "SMS bot",
            "username": BOT_USERNAME,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _api_getupdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook.get("url"):
            raise ApiError(409, ERR_CONFLICT)
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        if offset:
            # Telegram forgets every update below the offset: they are confirmed.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        deadline = asyncio.get_running_loop().time() + timeout
        async with self._changed:
            while not self._updates and not self._closing:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await self._changed.wait()
        return self._updates[:limit]

    async def _api_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        text, entities = self._render(params)
        markup = self._markup(params)
        message = self._store(
            chat_id,
            from_bot=True,
            text=text,
            html_text=str(params["text"]),
            markup=markup,
            entities=entities,
        )
        return self._message_json(message)

    async def _api_editmessagetext(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._editable(params)
        text, entities = self._render(params)
        # Without reply_markup Telegram removes the inline keyboard.
        markup = self._markup(params)
        if text == message.text and entities == message.entities and markup == message.markup:
            raise ApiError(400, ERR_NOT_MODIFIED)
        message.text, message.entities, message.markup = text, entities, markup
        message.html = str(params["text"])
        message.edits += 1
        return self._message_json(message)

    async def _api_editmessagereplymarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._editable(params)
        markup = self._markup(params)
        if markup == message.markup:
            raise ApiError(400, ERR_NOT_MODIFIED)
        message.markup = markup
        message.edits += 1
        return self._message_json(message)

    async def _api_deletemessage(self, params: dict[str, Any]) -> bool:
        chat_id = self._chat_id(params)
        message = self.messages.get(chat_id, {}).get(int(params.get("message_id") or 0))
        if message is None or message.deleted:
            raise ApiError(400, ERR_DELETE_NOT_FOUND)
        message.deleted = True
        return True

    async def _api_answercallbackquery(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        query = self._queries.get(query_id)
        too_late = query is not None and time.monotonic() - query.created > self.callback_timeout
        if query is None or query.answered or too_late:
            raise ApiError(400, ERR_QUERY_TOO_OLD)
        query.answered = True
        text = params.get("text")
        self.answers.append(
            CallbackAnswer(
                query_id,
                query.user_id,
                None if text is None else str(text),
                bool(params.get("show_alert")),
            )
        )
        return True

    async def _api_setmycommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands") or []
        if isinstance(commands, list):
            self.commands = commands
        return True

    async def _api_setwebhook(self, params: dict[str, Any]) -> bool:
        url = str(params.get("url") or "")
        self.webhook = {"url": url, "secret_token": params.get("secret_token")}
        if url and self._delivery is None:
            self._delivery = asyncio.create_task(self._deliver_webhook())
        return True

    async def _api_deletewebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = {}
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _api_getwebhookinfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    # --- helpers ---

    def _chat_id(self, params: dict[str, Any]) -> int:
        try:
            chat_id = int(params.get("chat_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ApiError(400, ERR_CHAT_NOT_FOUND) from None
        if chat_id not in self.messages:
            if not (self.open_chats and chat_id > 0):
                raise ApiError(400, ERR_CHAT_NOT_FOUND)
            self.messages[chat_id] = {}
        if chat_id in self.blocked:
            raise ApiError(403, ERR_BLOCKED)
        return chat_id

    def _editable(self, params: dict[str, Any]) -> FakeMessage:
        chat_id = self._chat_id(params)
        message = self.messages[chat_id].get(int(params.get("message_id") or 0))
        if message is None or message.deleted:
            raise ApiError(400, ERR_EDIT_NOT_FOUND)
        if not message.from_bot:
            raise ApiError(400, ERR_CANT_EDIT)
        return message

    def _render(self, params: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        raw = params.get("text")
        if raw is None or str(raw).strip() == "":
            raise ApiError(400, ERR_TEXT_EMPTY)
        raw = str(raw)
        mode = str(params.get("parse_mode") or "")
        if mode.upper() == "HTML":
            text, entities = parse_html(raw)
        else:
            text, entities = raw, []
        if text.strip() == "":
            raise ApiError(400, ERR_TEXT_EMPTY)
        if len(text.encode("utf-16-le")) // 2 > MESSAGE_LIMIT:
            raise ApiError(400, ERR_TOO_LONG)
        return text, entities

    def _markup(self, params: dict[str, Any]) -> list[list[dict[str, Any]]] | None:
        markup = params.get("reply_markup")
        if isinstance(markup, str):
            try:
                markup = json.loads(markup)
            except ValueError:
                raise ApiError(
                    400, "Bad Request: can't parse reply keyboard markup JSON object"
                ) from None
        if not markup:
            return None
        rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
        if rows is None:
            return None  # reply keyboards / removals are not shown as inline buttons
        for row in rows:
            for button in row:
                if not str(button.get("text", "")).strip():
                    raise ApiError(
                        400, "Bad Request: text buttons are unallowed in the inline keyboard"
                    )
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= CALLBACK_DATA_LIMIT:
                    raise ApiError(400, ERR_BUTTON_DATA)
        return rows or None

    def _store(
        self,
        chat_id: int,
        *,
        from_bot: bool,
        text: str,
        html_text: str,
        markup: list[list[dict[str, Any]]] | None,
        entities: list[dict[str, Any]] | None = None,
    ) -> FakeMessage:
        ids = self._message_ids.setdefault(chat_id, itertools.count(1))
        message = FakeMessage(
            message_id=next(ids),
            chat_id=chat_id,
            from_bot=from_bot,
            text=text,
            html=html_text,
            entities=entities or [],
            markup=markup,
            date=int(time.time()),
        )
        self.messages.setdefault(chat_id, {})[message.message_id] = message
        return message

    def _user_json(self, user_id: int) -> dict[str, Any]:
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": f"User{user_id}",
            "language_code": self.languages.get(user_id, "en"),
        }

    def _message_json(self, message: FakeMessage) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "message_id": message.message_id,
            "date": message.date,
            "chat": {
                "id": message.chat_id,
                "type": "private",
                "first_name": f"User{message.chat_id}",
            },
            "text": message.text,
        }
        if message.from_bot:
            payload["from"] = {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "SMS bot",
                "username": BOT_USERNAME,
            }
        else:
            payload["from"] = self._user_json(message.chat_id)
        if message.entities:
            payload["entities"] = message.entities
        if message.markup:
            payload["reply_markup"] = {"inline_keyboard": message.markup}
        if message.edits:
            payload["edit_date"] = int(time.time())
        return payload

    def _push_update(self, body: dict[str, Any]) -> None:
        self._updates.append({"update_id": next(self._update_ids), **body})
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _deliver_webhook(self) -> None:
        """Push queued updates to the webhook URL with the secret header, as Telegram does."""
        self._webhook_session = aiohttp.ClientSession()
        while not self._closing:
            url = self.webhook.get("url")
            if url and self._updates:
                update = self._updates[0]
                headers = {}
                if self.webhook.get("secret_token"):
                    headers["X-Telegram-Bot-Api-Secret-Token"] = str(self.webhook["secret_token"])
                try:
                    async with self._webhook_session.post(url, json=update, headers=headers) as r:
                        delivered = r.status == 200
                except aiohttp.ClientError:
                    delivered = False
                if delivered:
                    self._updates.pop(0)
                    continue
                await asyncio.sleep(0.2)  # Telegram retries failed deliveries later
                continue
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        await self._changed.wait()


def _decode_field(key: str, value: str) -> Any:
    """Form fields hold JSON for nested values and numbers; plain text stays as it is."""
    if key in STRING_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value
