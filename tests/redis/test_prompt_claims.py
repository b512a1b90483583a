"""An old prompt loses its buttons once when the two updates that leave it run on two
replicas: the replicas share the claim through Redis."""

from __future__ import annotations

import asyncio

from aiogram import Bot
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods import EditMessageReplyMarkup
from aiogram.types import Chat, InlineKeyboardButton, InlineKeyboardMarkup, TelegramObject
from redis.asyncio import Redis

from handlers.common import PROMPT
from handlers.middlewares import PromptMiddleware
from handlers.redis_limits import RedisPromptClaims
from tests.harness import RecordingSession

CHAT = 77
PREFIX = "sms-bot:test"


async def test_two_replicas_leaving_one_prompt_retire_it_once(redis: Redis) -> None:
    session = RecordingSession()
    bot = Bot("42:TEST", session=session)
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Cancel", callback_data="m1:main")]]
    )
    prompt = await bot.send_message(chat_id=CHAT, text="Send your key", reply_markup=markup)
    state = FSMContext(MemoryStorage(), StorageKey(bot_id=42, chat_id=CHAT, user_id=CHAT))
    await state.update_data({PROMPT: prompt.message_id})
    replicas = [PromptMiddleware(RedisPromptClaims(redis, PREFIX)) for _ in range(2)]
    both_started = asyncio.Barrier(2)

    async def leave_the_prompt(event: TelegramObject, data: dict[str, object]) -> None:
        await both_started.wait()  # each saw the prompt before the other moved on
        await state.clear()

    data = {"state": state, "bot": bot, "event_chat": Chat(id=CHAT, type="private")}
    await asyncio.gather(
        *(replica(leave_the_prompt, TelegramObject(), dict(data)) for replica in replicas)
    )
    assert len(session.calls(EditMessageReplyMarkup)) == 1
    assert session.messages[(CHAT, prompt.message_id)].markup is None


async def test_a_redis_that_cannot_answer_leaves_the_claim_to_the_process(
    unused_tcp_port: int,
) -> None:
    dead = Redis.from_url(f"redis://127.0.0.1:{unused_tcp_port}/0", socket_connect_timeout=1)
    try:
        claims = RedisPromptClaims(dead, PREFIX)
        assert await claims.claim(CHAT, 5) is True
    finally:
        await dead.aclose()
