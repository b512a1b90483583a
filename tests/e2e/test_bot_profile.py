"""The real `python -m bot` publishes its profile at start-up (issue 15): commands, description
and short description for the default and en/ru/zh. A call Telegram refuses is logged and the
bot starts all the same."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import TEST_TOKEN
from tests.e2e.conftest import BotProcess
from tests.e2e.fake_telegram import ApiError, FakeTelegram

PROFILE_METHODS = ("setMyCommands", "setMyDescription", "setMyShortDescription")


class RefusingDescriptions(FakeTelegram):
    """Telegram that refuses the Russian description (as a flood limit would)."""

    async def _api_setmydescription(self, params: dict[str, Any]) -> bool:
        if params.get("language_code") == "ru":
            raise ApiError(400, "Bad Request: description refused")
        return True


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    server = RefusingDescriptions(TEST_TOKEN)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_the_profile_is_published_per_language_and_a_refusal_is_not_fatal(
    bot_process: BotProcess, telegram: FakeTelegram
) -> None:
    # bot_process is polling: the start-up went through despite the refused description.
    assert bot_process.alive
    for method in PROFILE_METHODS:
        languages = {
            params.get("language_code") for name, params in telegram.calls if name == method
        }
        assert languages == {None, "en", "ru", "zh"}, method
    descriptions = {
        params.get("language_code"): params["description"]
        for name, params in telegram.calls
        if name == "setMyDescription"
    }
    assert "API key" in descriptions[None] and "API-ключ" in descriptions["ru"]
    assert telegram.errors == [("setMyDescription", "Bad Request: description refused")]
    assert "setMyDescription (ru) was refused" in bot_process.log()
