"""TelegramNotifier with a recording Bot API session: what the chat shows, and Telegram errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.methods import EditMessageText, SendMessage
from cryptography.fernet import Fernet

from bot.formatting import format_time
from bot.i18n import Translator
from bot.orders import OrderService
from bot.provider.factory import ProviderFactory
from bot.rentals import RentalService
from bot.tracker.notifier import Recipient
from handlers.notifier import TelegramNotifier
from handlers.send_queue import SendQueue
from storage import Database, KeyCipher
from storage.models import Activation, ActivationCode, Rental

USER = 111


@pytest.fixture
async def ndb(tmp_path: Path, clock: Any) -> AsyncIterator[Database]:
    db = await Database.open(
        tmp_path / "notifier.db", KeyCipher([Fernet.generate_key().decode()]), clock=clock
    )
    await db.users.get_or_create(USER, "en")
    yield db
    await db.close()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def blocked() -> list[int]:
    return []


@pytest.fixture
def queue_now() -> list[float]:
    """The send queue's clock: moved on by its naps only."""
    return [1000.0]


@pytest.fixture
def queue(sleeps: list[float], blocked: list[int], queue_now: list[float]) -> SendQueue:
    """Telegram's pace on a clock of its own, which the queue's naps move on."""
    now = queue_now

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    async def on_blocked(user_id: int) -> None:
        blocked.append(user_id)

    return SendQueue(on_blocked, clock=lambda: now[0], sleep=fake_sleep)


@pytest.fixture
def notifier(bot: Any, ndb: Database, clock: Any, queue: SendQueue) -> TelegramNotifier:
    providers = ProviderFactory()  # never asked for a client: the notifier only stores cards
    return TelegramNotifier(
        bot,
        Translator(),
        None,
        orders=OrderService(ndb, providers, clock),
        rentals=RentalService(ndb, providers, clock),
        queue=queue,
        clock=clock,
    )


class Settled(list[bool]):
    """A delivery's settle: records what the queue said of it."""

    async def __call__(self, taken: bool) -> None:
        self.append(taken)


async def to(db: Database, key_id: int) -> Recipient:
    """Whom an event is for, as the tracker hands it over: the owner and the key."""
    return Recipient(await db.users.get(USER), await db.keys.get_any(key_id))


async def _activation(db: Database, clock: Any, code: str | None = None) -> Activation:
    key = await db.keys.add(USER, label="k", base_url="http://127.0.0.1:1/x", api_key="k" * 32)
    a = await db.activations.add(
        user_id=USER,
        key_id=key.id,
        provider_id="400000001",
        service="tg",
        country="0",
        phone="79001234567",
        cost=Decimal("18.50"),
        currency="RUB",
        created_at=clock(),
        ends_at=clock() + 1200,
        cancel_allowed_at=clock() + 120,
        chat_id=USER,
    )
    if code is not None:
        await db.activations.add_code(a.id, 0, code, f"Your code {code}", clock())
        await db.activations.set_status(a.id, "received")
    stored = await db.activations.get_any(a.id)
    assert stored is not None
    return stored


def _forbidden() -> TelegramForbiddenError:
    return TelegramForbiddenError(
        SendMessage(chat_id=USER, text="x"), "Forbidden: bot was blocked by the user"
    )


def _retry_after(seconds: int) -> TelegramRetryAfter:
    return TelegramRetryAfter(SendMessage(chat_id=USER, text="x"), "Too Many Requests", seconds)


async def test_code_is_a_new_notifying_message_with_tap_to_copy_and_card_shown(
    notifier: TelegramNotifier, ndb: Database, bot: Any, clock: Any
) -> None:
    a = await _activation(ndb, clock, code="048213")
    settled = Settled()
    await notifier.code_received(a, a.codes[0], await to(ndb, a.key_id), settled)
    assert bot.session.calls(SendMessage) == [] and settled == []  # queued, not waited for
    await notifier.queue.drain()
    assert settled == [True]
    sends = bot.session.calls(SendMessage)
    assert "<code>048213</code>" in sends[0].text
    assert "+79001234567" in sends[0].text
    assert not sends[0].disable_notification
    # No card existed: one was sent and remembered, so later changes edit it.
    stored = await ndb.activations.get_any(a.id)
    assert stored is not None and stored.message_id is not None
    assert len(sends) == 2 and sends[1].disable_notification
    assert "048213" in bot.session.messages[(USER, stored.message_id)].text
    await notifier.code_received(
        stored,
        ActivationCode(1, "777111", None, clock(), False),
        await to(ndb, a.key_id),
        Settled(),
    )
    await notifier.queue.drain()
    edits = bot.session.calls(EditMessageText)
    assert len(edits) == 1 and edits[0].message_id == stored.message_id
    assert "New code" in bot.session.calls(SendMessage)[-1].text


async def test_html_in_remote_text_is_escaped(
    notifier: TelegramNotifier, ndb: Database, bot: Any, clock: Any
) -> None:
    a = await _activation(ndb, clock)
    code = ActivationCode(0, "<b>1</b>", "<script>x</script>", clock(), False)
    await notifier.code_received(a, code, await to(ndb, a.key_id), Settled())
    await notifier.queue.drain()
    text = bot.session.calls(SendMessage)[0].text
    assert "<b>1</b>" not in text and "&lt;b&gt;1&lt;/b&gt;" in text
    assert "<script>" not in text


async def test_retry_after_holds_the_chat_and_the_code_goes_again(
    notifier: TelegramNotifier, ndb: Database, bot: Any, clock: Any, sleeps: list[float]
) -> None:
    """A 429 loses nothing: the chat waits what Telegram asked, then the code goes again (as
    often as it takes); it is settled delivered only once Telegram took it."""
    a = await _activation(ndb, clock, code="1234")
    bot.session.fail_next(SendMessage, _retry_after(3))
    bot.session.fail_next(SendMessage, _retry_after(5))
    settled = Settled()
    await notifier.code_received(a, a.codes[0], await to(ndb, a.key_id), settled)
    await notifier.queue.drain()
    assert settled == [True]
    assert sum(sleeps) >= 3 + 5
    assert "1234" in bot.session.calls(SendMessage)[0].text


async def test_blocked_user_is_reported_and_delivery_settled_undelivered(
    notifier: TelegramNotifier, ndb: Database, bot: Any, clock: Any, blocked: list[int]
) -> None:
    a = await _activation(ndb, clock, code="1234")
    bot.session.fail_next(SendMessage, _forbidden())
    settled = Settled()
    await notifier.code_received(a, a.codes[0], await to(ndb, a.key_id), settled)
    await notifier.queue.drain()
    assert settled == [False]  # the tracker keeps it undelivered
    assert blocked == [USER]  # told once, through the callback the composition root wires


async def test_a_code_on_its_way_is_not_queued_twice(
    notifier: TelegramNotifier, ndb: Database, bot: Any, clock: Any
) -> None:
    a = await _activation(ndb, clock, code="1234")
    first, second = Settled(), Settled()
    await notifier.code_received(a, a.codes[0], await to(ndb, a.key_id), first)
    await notifier.code_received(a, a.codes[0], await to(ndb, a.key_id), second)
    await notifier.queue.drain()
    assert first == [True] and second == []
    assert sum("1234" in m.text for m in bot.session.calls(SendMessage)) == 2  # code + card


async def test_not_modified_is_ignored_and_lost_card_is_replaced(
    notifier: TelegramNotifier, ndb: Database, bot: Any, clock: Any
) -> None:
    a = await _activation(ndb, clock)
    await notifier.activation_changed(a, await to(ndb, a.key_id))  # no card yet: a new one
    await notifier.queue.drain()
    first = await ndb.activations.get_any(a.id)
    assert first is not None and first.message_id is not None
    await notifier.activation_changed(
        first, await to(ndb, a.key_id)
    )  # same text: "message is not modified"
    await notifier.queue.drain()
    assert len(bot.session.calls(SendMessage)) == 1
    # The user deleted the card: the next change sends a fresh one and remembers it.
    gone = first.message_id
    bot.session.messages[(USER, gone)].deleted = True
    await notifier.activation_changed(first, await to(ndb, a.key_id))
    await notifier.queue.drain()
    second = await ndb.activations.get_any(a.id)
    assert second is not None and second.message_id not in (None, gone)
    assert len(bot.session.calls(SendMessage)) == 2


class OneASecondPerChat:
    """Telegram's one message a second into one chat, on the queue's clock: a request within a
    second of the chat's last accepted one is refused with a 429 (every request counts, an edit
    of a deleted message too, as the fake Bot API counts it). Gives up refusing after `cap`
    requests, so a send loop ends and shows in the counts."""

    def __init__(self, bot: Any, now: list[float], cap: int = 20) -> None:
        self.now, self.cap = now, cap
        self.accepted: list[tuple[str, float]] = []
        self.refused = 0
        self._last: dict[int, float] = {}
        self._session = bot.session
        self._inner = bot.session.make_request
        bot.session.make_request = self.make_request

    async def make_request(self, bot: Any, method: Any, timeout: int | None = None) -> Any:
        chat = int(getattr(method, "chat_id", 0) or 0)
        at = self.now[0]
        if len(self.accepted) + self.refused < self.cap and at - self._last.get(chat, -9e9) < 1:
            self.refused += 1
            self._session.requests.append(method)
            raise TelegramRetryAfter(method, "Too Many Requests: retry after 1", 1)
        self._last[chat] = at
        self.accepted.append((type(method).__name__, at))
        return await self._inner(bot, method, timeout)


async def _card_deleted_by_the_user(
    notifier: TelegramNotifier, ndb: Database, bot: Any, clock: Any
) -> tuple[Activation, int]:
    """A number whose card was shown, then deleted in the chat: the row, and the gone id."""
    a = await _activation(ndb, clock)
    await notifier.activation_changed(a, await to(ndb, a.key_id))
    await notifier.queue.drain()
    shown = await ndb.activations.get_any(a.id)
    assert shown is not None and shown.message_id is not None
    bot.session.messages[(USER, shown.message_id)].deleted = True
    return shown, shown.message_id


async def test_a_deleted_card_is_sent_anew_on_the_chat_s_next_turn(
    notifier: TelegramNotifier, ndb: Database, bot: Any, clock: Any, queue_now: list[float]
) -> None:
    """The edit that finds the card gone took the chat's turn: the new card waits for the
    next one. (Sent at once, it was refused, and its retry edited again: a loop that never
    showed the card and kept the chat, and with several such chats the whole bot, held.)"""
    a, gone = await _card_deleted_by_the_user(notifier, ndb, bot, clock)
    queue_now[0] += 10  # the chat's pace allows a message again
    telegram = OneASecondPerChat(bot, queue_now)
    await notifier.activation_changed(a, await to(ndb, a.key_id))
    await notifier.queue.drain()
    assert telegram.refused == 0
    assert [name for name, _at in telegram.accepted] == ["EditMessageText", "SendMessage"]
    (_edit, edited_at), (_send, sent_at) = telegram.accepted
    assert sent_at - edited_at >= 1
    second = await ndb.activations.get_any(a.id)
    assert second is not None and second.message_id not in (None, gone)
    assert bot.session.messages[(USER, second.message_id)].markup is not None


async def test_a_refused_new_card_is_sent_again_without_editing_again(
    notifier: TelegramNotifier, ndb: Database, bot: Any, clock: Any
) -> None:
    a, gone = await _card_deleted_by_the_user(notifier, ndb, bot, clock)
    bot.session.fail_next(SendMessage, _retry_after(1))
    await notifier.activation_changed(a, await to(ndb, a.key_id))
    await notifier.queue.drain()
    assert len(bot.session.calls(EditMessageText)) == 1  # the gone card was tried once
    assert len(bot.session.calls(SendMessage)) == 3  # the first card, refused, sent
    second = await ndb.activations.get_any(a.id)
    assert second is not None and second.message_id not in (None, gone)


async def test_a_resent_card_retires_the_old_one_on_the_chat_s_next_turn(
    notifier: TelegramNotifier, ndb: Database, bot: Any, clock: Any, queue_now: list[float]
) -> None:
    a = await _activation(ndb, clock)
    await notifier.activation_changed(a, await to(ndb, a.key_id))
    await notifier.queue.drain()
    old = a.message_id
    assert old is not None
    queue_now[0] += 10
    telegram = OneASecondPerChat(bot, queue_now)
    await notifier.resend_cards(USER)  # the user unblocked the bot
    await notifier.queue.drain()
    assert telegram.refused == 0
    assert [name for name, _at in telegram.accepted] == ["SendMessage", "EditMessageText"]
    assert telegram.accepted[1][1] - telegram.accepted[0][1] >= 1
    assert bot.session.messages[(USER, old)].text == Translator().get("en", "card-moved")
    stored = await ndb.activations.get_any(a.id)
    assert stored is not None and stored.message_id not in (None, old)


async def test_other_bad_request_on_edit_does_not_resend(
    notifier: TelegramNotifier, ndb: Database, bot: Any, clock: Any
) -> None:
    a = await _activation(ndb, clock)
    await notifier.activation_changed(a, await to(ndb, a.key_id))
    await notifier.queue.drain()
    shown = await ndb.activations.get_any(a.id)
    assert shown is not None
    bot.session.fail_next(
        EditMessageText,
        TelegramBadRequest(EditMessageText(text="x"), "Bad Request: can't parse entities"),
    )
    await ndb.activations.set_status(a.id, "cancelled")
    ended = await ndb.activations.get_any(a.id)
    await notifier.activation_changed(ended, await to(ndb, a.key_id))  # type: ignore[arg-type]
    await notifier.queue.drain()
    assert len(bot.session.calls(SendMessage)) == 1


async def test_ended_says_the_refund(
    notifier: TelegramNotifier, ndb: Database, bot: Any, clock: Any
) -> None:
    a = await _activation(ndb, clock)
    await ndb.activations.set_status(a.id, "cancelled")
    ended = await ndb.activations.get_any(a.id)
    assert ended is not None
    await notifier.activation_ended(ended, True, await to(ndb, a.key_id))
    await notifier.queue.drain()
    texts = [m.text for m in bot.session.calls(SendMessage)]
    assert any("18.50" in text and "balance" in text for text in texts)


async def test_language_follows_the_user(
    notifier: TelegramNotifier, ndb: Database, bot: Any, clock: Any
) -> None:
    await ndb.users.update(USER, language="ru")
    a = await _activation(ndb, clock, code="9999")
    await notifier.code_received(a, a.codes[0], await to(ndb, a.key_id), Settled())
    await notifier.queue.drain()
    assert "Код для" in bot.session.calls(SendMessage)[0].text
    await ndb.users.update(USER, language="zh")
    await notifier.code_received(a, a.codes[0], await to(ndb, a.key_id), Settled())
    await notifier.queue.drain()
    assert "验证码" in bot.session.calls(SendMessage)[-1].text


async def _rental(db: Database, clock: Any) -> Rental:
    key = await db.keys.add(USER, label="k", base_url="http://127.0.0.1:1/x", api_key="k" * 32)
    return await db.rentals.add(
        user_id=USER,
        key_id=key.id,
        provider_id="7000001",
        service="tg",
        country="0",
        phone="79005550000",
        hours=4,
        cost=Decimal("40"),
        created_at=clock(),
        ends_at=clock() + 4 * 3600,
        chat_id=USER,
    )


async def test_each_rental_sms_is_a_new_message(
    notifier: TelegramNotifier, ndb: Database, bot: Any, clock: Any
) -> None:
    r = await _rental(ndb, clock)
    for n in range(3):
        sms = await ndb.rentals.add_sms(
            r.id,
            dedup_key=f"k{n}",
            phone_from="Bank",
            text=f"hello <{n}>",
            date=None,
            received_at=clock(),
        )
        assert sms is not None
        settled = Settled()
        await notifier.rental_sms(r, sms, await to(ndb, r.key_id), settled)
        await notifier.queue.drain()
        assert settled == [True]
    texts = [m.text for m in bot.session.calls(SendMessage)]
    assert len(texts) == 3
    assert all("Bank" in text for text in texts)
    assert "hello &lt;2&gt;" in texts[2]


async def test_rental_reminder_and_end(
    notifier: TelegramNotifier, ndb: Database, bot: Any, clock: Any
) -> None:
    r = await _rental(ndb, clock)
    await notifier.rental_reminder(r, 600, await to(ndb, r.key_id))
    await notifier.queue.drain()
    # the end as a moment: the reminder stays true as it sits in the chat
    reminder = bot.session.calls(SendMessage)[-1].text
    assert f"ends at {format_time(r.ends_at, UTC)}" in reminder and "10 min" not in reminder
    await ndb.rentals.set_status(r.id, "expired")
    ended = await ndb.rentals.get_any(r.id)
    assert ended is not None
    await notifier.rental_ended(ended, await to(ndb, r.key_id))
    await notifier.queue.drain()
    assert any("ended" in m.text for m in bot.session.calls(SendMessage))


async def test_pending_unresolved_goes_to_its_chat(
    notifier: TelegramNotifier, ndb: Database, bot: Any, clock: Any
) -> None:
    key = await ndb.keys.add(USER, label="k", base_url="http://127.0.0.1:1/x", api_key="k" * 32)
    pending = await ndb.pending.add(
        user_id=USER, key_id=key.id, service="tg", country="0", chat_id=4242
    )
    await notifier.pending_unresolved(pending, await to(ndb, key.id))
    await notifier.queue.drain()
    sent = bot.session.calls(SendMessage)[-1]
    assert int(sent.chat_id) == 4242 and "balance" in sent.text


async def test_an_outcome_whose_checking_message_is_gone_is_sent_on_the_next_turn(
    notifier: TelegramNotifier, ndb: Database, bot: Any, queue_now: list[float]
) -> None:
    """The "checking" message was deleted: the edit that found it gone took the chat's
    turn, and the outcome goes as a new message on the next one (sent at once it was
    refused, and its retry edited again, for as long as the bot ran)."""
    key = await ndb.keys.add(USER, label="k", base_url="http://127.0.0.1:1/x", api_key="k" * 32)
    pending = await ndb.pending.add(
        user_id=USER, key_id=key.id, service="tg", country="0", chat_id=USER, message_id=999
    )
    telegram = OneASecondPerChat(bot, queue_now)
    await notifier.pending_unresolved(pending, await to(ndb, key.id))
    await notifier.queue.drain()
    assert telegram.refused == 0
    assert [name for name, _at in telegram.accepted] == ["EditMessageText", "SendMessage"]
    assert telegram.accepted[1][1] - telegram.accepted[0][1] >= 1
    assert "balance" in bot.session.calls(SendMessage)[-1].text


# ------------------------------------------------------------------ long texts (item 30)

LONG = "&<" * 2500  # 5,000 characters, 22,500 once escaped


def _fits(text: str) -> None:
    assert "{???}" not in text  # Fluent's answer to a value over 2,500 characters
    assert len(text) <= 4096


async def test_a_long_rental_sms_arrives_whole_in_several_messages(
    notifier: TelegramNotifier, ndb: Database, bot: Any, clock: Any
) -> None:
    import html

    r = await _rental(ndb, clock)
    sms = await ndb.rentals.add_sms(
        r.id, dedup_key="long", phone_from=LONG, text=LONG, date=None, received_at=clock()
    )
    assert sms is not None
    settled = Settled()
    await notifier.rental_sms(r, sms, await to(ndb, r.key_id), settled)
    await notifier.queue.drain()
    assert settled == [True]
    texts = [m.text for m in bot.session.calls(SendMessage)]
    assert len(texts) > 1
    for text in texts:
        _fits(text)
    body = "".join(text.split("\n", 1)[1] for text in texts)
    assert html.unescape(body) == LONG


async def test_a_long_rental_sms_is_not_delivered_unless_every_part_was_taken(
    notifier: TelegramNotifier, ndb: Database, bot: Any, clock: Any
) -> None:
    r = await _rental(ndb, clock)
    sms = await ndb.rentals.add_sms(
        r.id, dedup_key="long", phone_from="Bank", text=LONG, date=None, received_at=clock()
    )
    assert sms is not None
    session = bot.session
    answer = session._answer
    sent: list[str] = []

    def first_part_only(method: Any) -> Any:
        if isinstance(method, SendMessage):
            if sent:  # the second part is refused
                raise TelegramBadRequest(method, "Bad Request: message is too long")
            sent.append(method.text)
        return answer(method)

    session._answer = first_part_only
    settled = Settled()
    await notifier.rental_sms(r, sms, await to(ndb, r.key_id), settled)
    await notifier.queue.drain()
    assert settled == [False]  # the tracker will try again
    assert len(sent) == 1


async def test_a_long_code_and_its_sms_fit_the_message_and_the_card(
    notifier: TelegramNotifier, ndb: Database, bot: Any, clock: Any
) -> None:
    a = await _activation(ndb, clock)
    code = ActivationCode(0, LONG, LONG, clock(), False)
    await notifier.code_received(a, code, await to(ndb, a.key_id), Settled())
    await notifier.queue.drain()
    sends = bot.session.calls(SendMessage)
    assert len(sends) == 2  # the code, then the card
    for method in sends:
        _fits(method.text)
    assert "&amp;&lt;&amp;&lt;" in sends[0].text  # the code is there, escaped


async def test_the_card_drawn_is_the_row_handed_over_and_names_come_from_the_key(
    notifier: TelegramNotifier, ndb: Database, bot: Any, clock: Any
) -> None:
    """The tracker hands over the fresh row and its Recipient: nothing is read again (a row
    changed in memory only is what the card shows), and a card sent anew is remembered
    through the orders use case."""
    a = await _activation(ndb, clock)
    a.phone = "70000000000"  # never stored: only the handed-over row has it
    await notifier.activation_changed(a, Recipient(None, None))
    await notifier.queue.drain()
    sent = bot.session.calls(SendMessage)[-1]
    assert "+70000000000" in sent.text
    assert "tg" in sent.text and "🌐" in sent.text  # no key: the raw codes stand in
    stored = await ndb.activations.get_any(a.id)
    assert stored is not None and stored.message_id == a.message_id is not None


async def test_a_card_changed_twice_before_it_is_sent_is_sent_once_in_its_newest_state(
    notifier: TelegramNotifier, ndb: Database, bot: Any, clock: Any
) -> None:
    """Coalesced: one job per card while it waits. A row handed over later that still names
    no message (or the one replaced) edits the card the queue sent, never a second card."""
    a = await _activation(ndb, clock)
    stale = replace(a)
    await notifier.activation_changed(a, await to(ndb, a.key_id))
    a.phone = "70000000001"
    await notifier.activation_changed(a, await to(ndb, a.key_id))
    await notifier.queue.drain()
    [sent] = bot.session.calls(SendMessage)
    assert "+70000000001" in sent.text  # only the newest state went
    stale.phone = "70000000002"
    assert stale.message_id is None
    await notifier.activation_changed(stale, await to(ndb, a.key_id))
    await notifier.queue.drain()
    assert len(bot.session.calls(SendMessage)) == 1
    [edit] = bot.session.calls(EditMessageText)
    assert "+70000000002" in edit.text and edit.message_id == a.message_id
