"""Through the real bot process: a user who blocked the bot while a code was on its way comes
back, is served (not told they are suspended), and gets the code and the number's card."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import BotProcess, User
from tests.e2e.fake_telegram import FakeTelegram
from tests.e2e.test_journeys import activation_id, add_sandbox_key, buy_telegram_number

CAROL = 3003


async def test_a_user_who_blocked_the_bot_comes_back_to_their_code(
    bot_process: BotProcess, telegram: FakeTelegram, provider: Any
) -> None:
    carol = User(telegram, CAROL)
    await add_sandbox_key(carol, provider)
    await buy_telegram_number(carol, provider)
    activation = activation_id(provider)

    telegram.block(CAROL)
    provider.state.deliver_sms(activation, "Your Telegram code is 24680")
    # The tracker tries to deliver the code; Telegram refuses (the user blocked the bot).
    await telegram.wait_for(lambda: any(m == "sendMessage" for m, _ in telegram.errors), 30)
    assert carol.count("24680") == 0

    telegram.blocked.discard(CAROL)  # unblocked
    carol.say("/start")
    await carol.wait_text("Main menu")
    await carol.wait_text("Code for Telegram")  # the code kept back is delivered now
    await carol.wait_text("1. 24680")  # and the number's card shows it
    assert not any("suspended" in text for text in carol.texts())
