"""The tracker and the Telegram send queue: a key's pass never waits for Telegram; a code is
marked delivered only after Telegram took it, is not queued twice while on its way, and one
Telegram refused stays undelivered and is offered again."""

from __future__ import annotations

from typing import Any

from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import SendMessage

from bot.i18n import Translator
from bot.provider.factory import ProviderFactory
from bot.tracker import Tracker
from storage import Database
from storage.models import KeyProfile
from tests.bot.conftest import FAST, USER, buy, rent, sample
from tests.harness import telegram_notifier


async def _delivered(db: Database, activation_id: int) -> list[bool]:
    stored = await db.activations.get_any(activation_id)
    assert stored is not None
    return [code.delivered for code in stored.codes]


def _code_messages(bot: Any, code: str) -> int:
    """Messages the chat shows with `code` in them (a refused request shows nothing)."""
    return sum(code in m.text for m in bot.session.visible(USER))


async def test_a_code_is_queued_by_the_pass_and_marked_once_telegram_took_it(
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    bot: Any,
) -> None:
    notifier = telegram_notifier(bot, tdb, Translator(), None, clock=clock)
    tracker = Tracker(tdb, tproviders, notifier, FAST, clock=clock)  # tick() sends nothing
    a = await buy(tdb, tproviders, tkey, clock)
    sandbox.state.deliver_sms(a.provider_id, "code 515151")
    await tracker.tick()
    # Stored, queued, not sent: the pass did not wait for Telegram.
    assert await _delivered(tdb, a.id) == [False]
    assert bot.session.calls(SendMessage) == []
    # The next pass finds it still undelivered: it is on its way, not queued again.
    clock.advance(FAST.poll_fast)
    await tracker.tick()
    await notifier.queue.drain()
    assert await _delivered(tdb, a.id) == [True]
    assert _code_messages(bot, "515151") == 2  # the code, then the card showing it
    assert sample(tracker, "smsbot_tracker_codes_delivered_total") == 1
    # Delivered: later passes send it no more.
    clock.advance(FAST.poll_fast)
    await tracker.tick()
    await notifier.queue.drain()
    assert _code_messages(bot, "515151") == 2


async def test_a_code_telegram_refused_stays_undelivered_and_goes_on_a_later_pass(
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    bot: Any,
) -> None:
    notifier = telegram_notifier(bot, tdb, Translator(), None, clock=clock)
    tracker = Tracker(tdb, tproviders, notifier, FAST, clock=clock)
    a = await buy(tdb, tproviders, tkey, clock)
    sandbox.state.deliver_sms(a.provider_id, "code 626262")
    bot.session.fail_next(SendMessage, TelegramNetworkError(SendMessage(chat_id=1, text="x"), "x"))
    await tracker.tick()
    await notifier.queue.drain()
    assert await _delivered(tdb, a.id) == [False]
    assert _code_messages(bot, "626262") == 0
    clock.advance(FAST.poll_fast)
    await tracker.tick()
    await notifier.queue.drain()
    assert await _delivered(tdb, a.id) == [True]
    assert _code_messages(bot, "626262") == 2


async def test_a_rental_sms_is_marked_delivered_once_telegram_took_it(
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    bot: Any,
) -> None:
    notifier = telegram_notifier(bot, tdb, Translator(), None, clock=clock)
    tracker = Tracker(tdb, tproviders, notifier, FAST, clock=clock)
    r = await rent(tdb, tproviders, tkey, clock)
    sandbox.state.deliver_rent_sms(r.provider_id, "hello 737373", phone_from="Bank")
    await tracker.tick()
    assert [s.text for s in await tdb.rentals.undelivered_sms(r.id)] == ["hello 737373"]
    await notifier.queue.drain()
    assert await tdb.rentals.undelivered_sms(r.id) == []
    assert _code_messages(bot, "hello 737373") == 2  # the SMS, then the card showing it
    assert sample(tracker, "smsbot_tracker_rental_sms_delivered_total") == 1
