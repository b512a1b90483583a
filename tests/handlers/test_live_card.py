"""The one-live-card helper: the old card becomes a stub without buttons; faults are harmless."""

from __future__ import annotations

from aiogram import Bot
from aiogram.methods import EditMessageText, SendMessage
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import Translator
from handlers.live_card import retire_card
from tests.harness import RecordingSession

CHAT = 42


async def _card(bot: Bot) -> int:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Cancel", callback_data="x")]]
    )
    sent = await bot.send_message(chat_id=CHAT, text="+1 555 card", reply_markup=markup)
    return sent.message_id


async def test_the_old_card_turns_into_a_stub_without_buttons() -> None:
    session = RecordingSession()
    bot = Bot("42:TEST", session=session)
    t = Translator().bind("en")
    old, new = await _card(bot), await _card(bot)
    assert await retire_card(bot, CHAT, old, new, t) is True
    stub = session.messages[(CHAT, old)]
    assert stub.text == t("card-moved") and stub.markup is None
    assert session.messages[(CHAT, new)].markup is not None


async def test_nothing_to_retire_and_a_vanished_message_are_no_error() -> None:
    session = RecordingSession()
    bot = Bot("42:TEST", session=session)
    t = Translator().bind("en")
    new = await _card(bot)
    assert await retire_card(bot, CHAT, None, new, t) is False
    assert await retire_card(bot, CHAT, new, new, t) is False
    assert await retire_card(bot, CHAT, 999_999, new, t) is False  # deleted by the user
    assert len(session.calls(EditMessageText)) == 1 and len(session.calls(SendMessage)) == 1
