"""An old prompt loses its buttons once, even when two updates of its chat run at once."""

from __future__ import annotations

from aiogram.methods import EditMessageReplyMarkup

from handlers.middlewares import PromptMiddleware
from tests.harness import leave_one_prompt_at_once


async def test_two_updates_leaving_one_prompt_retire_it_once() -> None:
    middleware = PromptMiddleware()
    session, prompt = await leave_one_prompt_at_once([middleware, middleware])
    assert len(session.calls(EditMessageReplyMarkup)) == 1
    assert prompt.markup is None
