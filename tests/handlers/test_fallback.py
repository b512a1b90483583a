"""Whatever nobody handled: stray text gets a hint, stale or tampered taps a notice, and a
failing handler an apology, with nothing secret in the log."""

from __future__ import annotations

import logging

import pytest
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import SendMessage

from handlers.common import MenuCb
from tests.harness import ChatDriver


async def test_stray_text_gets_a_hint_and_the_menu(chat: ChatDriver) -> None:
    await chat.send("hello?")
    assert "did not expect a message" in chat.last_text
    assert MenuCb(action="buy").pack() in {
        b.callback_data for b in chat.last_bot_message().buttons()
    }


@pytest.mark.parametrize(
    "data",
    ["zz:1", "k1:open:not-a-number:", "m1:nonexistent", "", "a1:open:999999", "x" * 64],
)
async def test_tampered_or_stale_callbacks_get_an_answer(chat: ChatDriver, data: str) -> None:
    await chat.send("/start")
    answer = await chat.tap_data(data)
    assert answer is not None and answer.text
    assert "went wrong" not in answer.text


async def test_a_failing_handler_gets_a_polite_answer_and_a_clean_log(
    keyed_chat: ChatDriver, sandbox_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    chat = keyed_chat
    chat.session.fail_next(
        SendMessage,
        TelegramNetworkError(SendMessage(chat_id=1, text="x"), f"boom api_key={sandbox_key}"),
    )
    with caplog.at_level(logging.ERROR):
        await chat.send("/help")
    assert "went wrong" in chat.last_text
    assert any("handler failed" in r.getMessage() for r in caplog.records)
    assert sandbox_key not in caplog.text
