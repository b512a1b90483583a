"""An old prompt loses its buttons once, even when two updates of its chat run at once."""

from __future__ import annotations

import asyncio

from aiogram import Bot
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods import EditMessageReplyMarkup
from aiogram.types import Chat, InlineKeyboardButton, InlineKeyboardMarkup, TelegramObject

from handlers.common import PROMPT
from handlers.middlewares import PromptMiddleware
from tests.harness import RecordingSession

CHAT = 77


async def test_two_updates_leaving_one_prompt_retire_it_once() -> None:
    session = RecordingSession()
    bot = Bot("42:TEST", session=session)
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Cancel", callback_data="m1:main")]]
    )
    prompt = await bot.send_message(chat_id=CHAT, text="Send your key", reply_markup=markup)
    state = FSMContext(MemoryStorage(), StorageKey(bot_id=42, chat_id=CHAT, user_id=CHAT))
    await state.update_data({PROMPT: prompt.message_id})
    middleware = PromptMiddleware()
    both_started = asyncio.Barrier(2)

    async def leave_the_prompt(event: TelegramObject, data: dict[str, object]) -> None:
        await both_started.wait()  # each saw the prompt before the other moved on
        await state.clear()

    data = {"state": state, "bot": bot, "event_chat": Chat(id=CHAT, type="private")}
    await asyncio.gather(
        middleware(leave_the_prompt, TelegramObject(), dict(data)),
        middleware(leave_the_prompt, TelegramObject(), dict(data)),
    )
    assert len(session.calls(EditMessageReplyMarkup)) == 1
    assert session.messages[(CHAT, prompt.message_id)].markup is None
