"""Auto-replace end to end: the real bot process, the fake Bot API and the sandbox on the real
clock (a 20 s lifetime, a 2 s cancel lock: a number that gets no code is cancelled within
seconds, so a chain of three runs in a few passes).

Alice buys with auto-replace on; no code ever comes; the bot cancels each silent number and
buys the next, the cards say "attempt 2 of 3" and "attempt 3 of 3", and after the third it
stops and says why. Then Bob's chain is ended by the code that arrives on his second number,
which is never cancelled.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.e2e.conftest import BotProcess, User, tracker_passes
from tests.e2e.fake_telegram import FakeTelegram
from tests.e2e.test_journeys import ALICE, BOB, add_sandbox_key, no_telegram_errors, open_main_menu


async def buy_with_auto_replace(user: User) -> None:
    """Main menu → Buy number → Telegram → the cheapest country → 🔁 on → Buy."""
    screen = await open_main_menu(user)
    user.tap("Buy number", message_id=screen)
    await user.wait_screen(screen, "Choose a service")
    user.tap("Telegram", message_id=screen)
    shown = await user.wait_screen(screen, "choose a country")
    user.tap(shown.labels()[0], message_id=screen)
    await user.wait_screen(screen, "Confirm the purchase")
    user.tap("Auto-replace: off", message_id=screen)
    await user.wait_screen(screen, "Auto-replace: no code within")
    user.tap("Buy for", message_id=screen)
    await user.wait_text("attempt 1 of 3")


async def test_a_silent_number_is_replaced_twice_then_the_chain_stops(
    bot_process: BotProcess, telegram: FakeTelegram, provider: Any
) -> None:
    alice = User(telegram, ALICE)
    key = await add_sandbox_key(alice, provider)
    await buy_with_auto_replace(alice)

    await alice.wait_text("attempt 2 of 3", timeout=60)
    await alice.wait_text("attempt 3 of 3", timeout=60)
    notice = await alice.wait_text("Auto-replace stopped", timeout=60)
    assert "every attempt was used" in notice.text
    await tracker_passes(bot_process)  # nothing more is bought after the notice
    assert len(provider.state.purchases) == 3
    # Every number was cancelled (none got a code), so all the money came back.
    assert all(a.status == "cancelled" for a in provider.state.activations.values())
    assert provider.state.balance(key) == Decimal("100")
    no_telegram_errors(telegram)


async def test_a_code_ends_the_chain_and_keeps_the_number(
    bot_process: BotProcess, telegram: FakeTelegram, provider: Any
) -> None:
    bob = User(telegram, BOB)
    await add_sandbox_key(bob, provider)
    # A longer lock: the SMS below surely reaches the second number before it can be cancelled.
    provider.state.cancel_lock = 8.0
    await buy_with_auto_replace(bob)
    await telegram.wait_for(lambda: len(provider.state.purchases) >= 2, 60)
    second = str(provider.state.purchases[1]["id"])
    provider.state.deliver_sms(second, "Your Telegram code is 24680")
    await bob.wait_text("Code for Telegram", timeout=60)
    await bob.wait_text("attempt 2 of 3")
    await bob.tap_when_shown("Done")
    await bob.wait_text("Status: done")
    await tracker_passes(bot_process)
    assert len(provider.state.purchases) == 2
    assert provider.state.activations[second].status != "cancelled"
    assert bob.count("Auto-replace stopped") == 0
    no_telegram_errors(telegram)
