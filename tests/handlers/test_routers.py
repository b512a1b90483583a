"""Routers come from factories: every dispatcher gets fresh ones, so a process may build many
(tests, a restart in place) without detaching anything."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from aiogram import Router

from bot.app import build_dispatcher
from handlers import build_router
from tests.harness import ChatDriver

FEATURES = ["admin", "balance", "fallback", "help", "keys", "numbers", "settings", "start"]


@pytest.mark.parametrize("name", FEATURES)
def test_a_feature_module_makes_a_fresh_router_each_time(name: str) -> None:
    module = importlib.import_module(f"handlers.{name}")
    assert not isinstance(getattr(module, "router", None), Router)  # no module-level router
    first, second = module.create_router(), module.create_router()
    assert first is not second and first.parent_router is None
    assert first.name == f"handlers.{name}"


def test_the_root_router_includes_fresh_feature_routers(settings: Any) -> None:
    first, second = build_router(settings), build_router(settings)
    assert first.sub_routers and len(first.sub_routers) == len(second.sub_routers)
    assert not set(map(id, first.sub_routers)) & set(map(id, second.sub_routers))
    assert first.sub_routers[-1].name == "handlers.fallback"  # the catch-all comes last


async def test_two_dispatchers_in_one_process_both_answer(services: Any, bot: Any) -> None:
    for user_id in (801, 802):
        chat = ChatDriver(build_dispatcher(services, bot, with_tracker=False), bot, user_id)
        await chat.send("/help")
        assert "How this bot works" in chat.last_text
