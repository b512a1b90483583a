"""The fake Bot API server behaves like Telegram, so the end-to-end journeys can trust it.

Driven by a real aiogram `Bot` over HTTP (multipart form data, as the bot process sends it) and
by raw JSON requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from tests.conftest import TEST_TOKEN
from tests.e2e.fake_telegram import ApiError, FakeTelegram, FloodControl, RateLimits, parse_html

USER = 501


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(TEST_TOKEN, callback_timeout=1.0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def api(fake: FakeTelegram) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.url))
    bot = Bot(TEST_TOKEN, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    try:
        yield bot
    finally:
        await bot.session.close()


def keyboard(*labels_and_data: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=label, callback_data=data)]
            for label, data in labels_and_data
        ]
    )


async def first_update(api: Bot, offset: int = 0) -> Any:
    updates = await api.get_updates(offset=offset, timeout=1)
    assert updates, "expected an update"
    return updates[0]


async def test_get_me_and_unknown_methods(api: Bot, fake: FakeTelegram) -> None:
    me = await api.get_me()
    assert me.username == "sms_test_bot"
    assert await api.send_chat_action(chat_id=USER, action="typing") is True  # generic true
    assert ("sendChatAction", {"chat_id": USER, "action": "typing"}) in fake.calls


async def test_wrong_token_is_unauthorized(fake: FakeTelegram) -> None:
    async with aiohttp.ClientSession() as http, http.post(f"{fake.url}/botWRONG/getMe") as r:
        assert r.status == 401
        assert (await r.json())["ok"] is False


async def test_user_text_becomes_an_update_and_offsets_confirm(
    api: Bot, fake: FakeTelegram
) -> None:
    fake.send_text(USER, "/start")
    update = await first_update(api)
    assert update.message.text == "/start"
    assert update.message.from_user.id == USER
    assert update.message.entities[0].type == "bot_command"
    # Not confirmed yet: served again.
    again = await first_update(api)
    assert again.update_id == update.update_id
    # Confirmed by the next offset: gone.
    assert await api.get_updates(offset=update.update_id + 1, timeout=0) == []


async def test_long_polling_waits_for_an_update(api: Bot, fake: FakeTelegram) -> None:
    async def later() -> None:
        await asyncio.sleep(0.2)
        fake.send_text(USER, "hello")

    task = asyncio.create_task(later())
    updates = await api.get_updates(timeout=5)
    await task
    assert [u.message.text for u in updates] == ["hello"]


async def test_long_polling_times_out_empty(api: Bot) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await api.get_updates(timeout=1) == []
    assert loop.time() - started >= 0.9


async def test_send_edit_and_keyboard_are_kept_as_the_user_sees_them(
    api: Bot, fake: FakeTelegram
) -> None:
    fake.send_text(USER, "/start")
    sent = await api.send_message(
        USER, "<b>Hello</b> &amp; welcome", reply_markup=keyboard(("Buy", "m1:buy"))
    )
    assert fake.last(USER).text == "Hello & welcome"
    assert fake.last(USER).entities == [{"type": "bold", "offset": 0, "length": 5}]
    assert fake.last(USER).labels() == ["Buy"]
    await api.edit_message_text(
        "Bye", chat_id=USER, message_id=sent.message_id, reply_markup=keyboard(("Back", "m1:main"))
    )
    assert fake.last(USER).text == "Bye"
    assert fake.last(USER).labels() == ["Back"]
    # editMessageText without a keyboard removes it, as Telegram does.
    await api.edit_message_text("Bye!", chat_id=USER, message_id=sent.message_id)
    assert fake.last(USER).markup is None
    await api.edit_message_reply_markup(
        chat_id=USER, message_id=sent.message_id, reply_markup=keyboard(("X", "x"))
    )
    assert fake.last(USER).labels() == ["X"]
    assert [m.text for m in fake.chat(USER)] == ["/start", "Bye!"]


async def test_message_is_not_modified(api: Bot, fake: FakeTelegram) -> None:
    fake.send_text(USER, "/start")
    markup = keyboard(("Buy", "m1:buy"))
    sent = await api.send_message(USER, "<b>Same</b>", reply_markup=markup)
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await api.edit_message_text(
            "<b>Same</b>", chat_id=USER, message_id=sent.message_id, reply_markup=markup
        )
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await api.edit_message_reply_markup(
            chat_id=USER, message_id=sent.message_id, reply_markup=markup
        )
    # A change of formatting only is a change.
    await api.edit_message_text(
        "<i>Same</i>", chat_id=USER, message_id=sent.message_id, reply_markup=markup
    )
    assert [method for method, _ in fake.errors] == ["editMessageText", "editMessageReplyMarkup"]


async def test_message_to_edit_or_delete_not_found(api: Bot, fake: FakeTelegram) -> None:
    fake.send_text(USER, "/start")
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await api.edit_message_text("x", chat_id=USER, message_id=999)
    sent = await api.send_message(USER, "bye")
    assert await api.delete_message(USER, sent.message_id) is True
    assert fake.chat(USER)[-1].text == "/start"
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await api.edit_message_text("x", chat_id=USER, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await api.delete_message(USER, sent.message_id)


async def test_the_bot_may_delete_the_users_message_but_not_edit_it(
    api: Bot, fake: FakeTelegram
) -> None:
    message_id = fake.send_text(USER, "secret-api-key")
    with pytest.raises(TelegramBadRequest, match="can't be edited"):
        await api.edit_message_text("x", chat_id=USER, message_id=message_id)
    await api.delete_message(USER, message_id)
    assert fake.chat(USER) == []


@pytest.mark.parametrize(
    "text",
    [
        "<b>unclosed",
        "<b><i>crossed</b></i>",
        "<div>not a telegram tag</div>",
        "1 < 2",
        "stray </b> end",
        '<span class="other">x</span>',
        "<a>no href</a>",
        "<br/>",
    ],
)
async def test_cant_parse_entities(api: Bot, fake: FakeTelegram, text: str) -> None:
    fake.send_text(USER, "/start")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await api.send_message(USER, text)
    assert len(fake.chat(USER)) == 1  # nothing was sent


def test_parse_html_accepts_telegram_tags() -> None:
    text, entities = parse_html(
        "<b>a</b><i>b</i><u>c</u><s>d</s><code>e</code><pre>f</pre>"
        '<a href="https://x.test">g</a><tg-spoiler>h</tg-spoiler>'
        '<span class="tg-spoiler">i</span><blockquote>j</blockquote> &lt;k&gt; &#39;'
    )
    assert text == "abcdefghij <k> '"
    assert [e["type"] for e in entities] == [
        "bold", "italic", "underline", "strikethrough", "code", "pre",
        "text_link", "spoiler", "spoiler", "blockquote",
    ]  # fmt: skip


async def test_plain_text_mode_is_not_parsed(api: Bot, fake: FakeTelegram) -> None:
    fake.send_text(USER, "/start")
    await api.send_message(USER, "1 < 2 <b>", parse_mode=None)
    assert fake.last(USER).text == "1 < 2 <b>"


async def test_callback_data_too_long(api: Bot, fake: FakeTelegram) -> None:
    fake.send_text(USER, "/start")
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await api.send_message(USER, "x", reply_markup=keyboard(("Long", "x" * 65)))
    await api.send_message(USER, "ok", reply_markup=keyboard(("Max", "x" * 64)))
    assert fake.last(USER).labels() == ["Max"]


async def test_empty_text_and_unknown_chat(api: Bot, fake: FakeTelegram) -> None:
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await api.send_message(777, "hi")
    fake.send_text(USER, "/start")
    with pytest.raises(TelegramBadRequest, match="text is empty"):
        await api.send_message(USER, "<b></b>")
    with pytest.raises(TelegramBadRequest, match="too long"):
        await api.send_message(USER, "x" * 4097)


async def test_blocked_user_is_forbidden(api: Bot, fake: FakeTelegram) -> None:
    fake.send_text(USER, "/start")
    fake.block(USER)
    with pytest.raises(TelegramForbiddenError):
        await api.send_message(USER, "hi")


async def test_tap_sends_a_callback_query_and_answers_once(api: Bot, fake: FakeTelegram) -> None:
    fake.send_text(USER, "/start")
    await api.send_message(USER, "old", reply_markup=keyboard(("Buy", "old:buy")))
    await api.send_message(USER, "new", reply_markup=keyboard(("🛒 Buy now", "new:buy")))
    query_id = fake.tap(USER, "buy")  # newest message, by a contained label
    updates = await api.get_updates(timeout=1)
    query = updates[-1].callback_query
    assert query.id == query_id
    assert query.data == "new:buy"
    assert query.message.text == "new"
    assert await api.answer_callback_query(query.id, text="Done") is True
    assert fake.answered(query_id)
    assert fake.answers_for(USER)[-1].text == "Done"
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await api.answer_callback_query(query.id)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await api.answer_callback_query("no-such-query")


async def test_tap_exact_label_wins_and_missing_label_fails(api: Bot, fake: FakeTelegram) -> None:
    fake.send_text(USER, "/start")
    await api.send_message(USER, "m", reply_markup=keyboard(("Buy", "exact"), ("Buy more", "more")))
    fake.tap(USER, "Buy")
    assert fake._updates[-1]["callback_query"]["data"] == "exact"
    with pytest.raises(AssertionError, match="no button"):
        fake.tap(USER, "Rent")


async def test_query_too_old_after_the_timeout(api: Bot, fake: FakeTelegram) -> None:
    fake.send_text(USER, "/start")
    await api.send_message(USER, "m", reply_markup=keyboard(("Go", "go")))
    query_id = fake.tap_data(USER, "tampered:data")
    fake._queries[query_id].created -= fake.callback_timeout + 0.1  # as old as a timed-out one
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await api.answer_callback_query(query_id)


async def test_json_bodies_are_understood(fake: FakeTelegram) -> None:
    fake.send_text(USER, "/start")
    async with aiohttp.ClientSession() as http:
        body = {
            "chat_id": USER,
            "text": "123",
            "reply_markup": {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]},
        }
        async with http.post(f"{fake.url}/bot{TEST_TOKEN}/sendMessage", json=body) as r:
            payload = await r.json()
    assert payload["ok"] is True
    assert payload["result"]["text"] == "123"
    assert fake.last(USER).labels() == ["A"]


async def test_wait_for_returns_and_times_out(api: Bot, fake: FakeTelegram) -> None:
    fake.send_text(USER, "/start")

    async def later() -> None:
        await asyncio.sleep(0.1)
        await api.send_message(USER, "code 12345")

    task = asyncio.create_task(later())
    found = await fake.wait_for(lambda: "12345" in fake.last_text(USER), timeout=3)
    await task
    assert found
    with pytest.raises(AssertionError, match="timed out"):
        await fake.wait_for(lambda: False, timeout=0.3)


async def test_webhook_blocks_polling_and_pushes_updates_with_the_secret(
    api: Bot, fake: FakeTelegram
) -> None:
    received: list[tuple[dict[str, Any], str | None]] = []

    async def hook(request: aiohttp.web.Request) -> aiohttp.web.Response:
        received.append(
            (await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        )
        return aiohttp.web.json_response({})

    app = aiohttp.web.Application()
    app.router.add_post("/hook", hook)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await api.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
        assert (await api.get_webhook_info()).url.endswith("/hook")
        with pytest.raises(TelegramConflictError):
            await api.get_updates(timeout=0)
        fake.send_text(USER, "via webhook")
        await fake.wait_for(lambda: received, timeout=3)
        assert received[0][0]["message"]["text"] == "via webhook"
        assert received[0][1] == "s3cret"
        await api.delete_webhook()
        assert await api.get_updates(timeout=0) == []
    finally:
        await runner.cleanup()


@pytest.fixture
async def limited() -> AsyncIterator[tuple[FakeTelegram, Bot]]:
    """The fake with Telegram's flood limits (small bot-wide limit), any chat open."""
    server = FakeTelegram(
        TEST_TOKEN, limits=RateLimits(per_bot=3, per_chat=1), open_chats=True, keep_calls=False
    )
    await server.start()
    session = AiohttpSession(api=TelegramAPIServer.from_base(server.url))
    bot = Bot(TEST_TOKEN, session=session)
    try:
        yield server, bot
    finally:
        await bot.session.close()
        await server.stop()


async def test_flood_limits_answer_429_with_retry_after(
    limited: tuple[FakeTelegram, Bot],
) -> None:
    fake, api = limited
    seen: list[tuple[int, str]] = []
    fake.on_sent = lambda chat_id, text, at: seen.append((chat_id, text))
    # open_chats: the bot may write first into any private chat.
    await api.send_message(USER, "first")
    # A second message into the same chat within the second: Telegram's 429, as aiogram reads it.
    with pytest.raises(TelegramRetryAfter) as refused:
        await api.send_message(USER, "second")
    assert refused.value.retry_after == 1
    # Other chats are free until the bot-wide limit (3 a second here) is reached.
    await api.send_message(USER + 1, "a")
    await api.send_message(USER + 2, "b")
    with pytest.raises(TelegramRetryAfter):
        await api.send_message(USER + 3, "c")
    assert fake.flood is not None and fake.flood.refused == 2
    # Refused messages were never accepted: the hook heard only the accepted ones.
    assert seen == [(USER, "first"), (USER + 1, "a"), (USER + 2, "b")]
    assert fake.calls == []  # keep_calls=False: nothing recorded for a long run


async def test_group_limit_is_per_minute() -> None:
    flood = FloodControl(RateLimits(per_group=2, group_window=60.0))
    flood.admit(-100)
    flood.admit(-100)
    with pytest.raises(ApiError) as refused:
        flood.admit(-100)
    assert refused.value.status == 429 and refused.value.retry_after is not None
    assert 1 <= refused.value.retry_after <= 60
    flood.admit(-200)  # another group has its own window


async def test_raw_429_carries_telegrams_parameters(limited: tuple[FakeTelegram, Bot]) -> None:
    fake, _api = limited
    url = f"{fake.url}/bot{TEST_TOKEN}/sendMessage"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"chat_id": USER, "text": "one"}) as first:
            assert first.status == 200
        async with http.post(url, json={"chat_id": USER, "text": "two"}) as second:
            assert second.status == 429
            body = await second.json()
    assert body["ok"] is False and body["error_code"] == 429
    assert body["parameters"] == {"retry_after": 1}
