"""My numbers: live activations and rentals open their cards; ended ones as a paged history;
only the user's own numbers are listed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from handlers.activation import ActivationCb
from handlers.numbers import NumbersAction, NumbersCb
from handlers.rent.callbacks import RentalCb
from tests.harness import ChatDriver


async def _activation(db: Any, user_id: int, key_id: int, n: int, now: float) -> Any:
    return await db.activations.add(
        user_id=user_id,
        key_id=key_id,
        provider_id=f"9{n:05d}",
        service="tg",
        country="0",
        phone=f"7900000{n:04d}",
        cost=Decimal("10.5"),
        currency=None,
        created_at=now - 60 * n,
        ends_at=now + 1200,
        cancel_allowed_at=now + 120,
    )


async def _rental(db: Any, user_id: int, key_id: int, n: int, now: float) -> Any:
    return await db.rentals.add(
        user_id=user_id,
        key_id=key_id,
        provider_id=f"5{n:05d}",
        service="wa",
        country="0",
        phone=f"7911000{n:04d}",
        hours=4,
        cost=Decimal("30"),
        created_at=now - 60 * n,
        ends_at=now + 4 * 3600,
    )


async def _key_id(services: Any, user_id: int) -> int:
    key = await services.db.keys.get_active(user_id)
    assert key is not None
    return key.id


def _data(chat: ChatDriver) -> list[str]:
    return [b.callback_data or "" for b in chat.last_bot_message().buttons()]


async def test_live_numbers_open_their_cards(
    keyed_chat: ChatDriver, services: Any, clock: Any
) -> None:
    chat = keyed_chat
    db, now = services.db, clock()
    key_id = await _key_id(services, chat.user.id)
    a = await _activation(db, chat.user.id, key_id, 1, now)
    r = await _rental(db, chat.user.id, key_id, 1, now)
    await chat.send("/numbers")
    text = chat.last_text
    # Times until which they run, in the user's zone (UTC here): a list never goes stale.
    assert "+79000000001" in text and "waiting for the code, until 08:20" in text
    assert "+79110000001" in text and "until 12:00" in text
    # Services by the provider's names, not their codes.
    assert "Telegram" in text and "WhatsApp" in text and " tg" not in text
    data = _data(chat)
    assert ActivationCb(action="open", id=a.id).pack() in data
    assert RentalCb(action="open", id=r.id).pack() in data
    # The activation's own module draws its card from this button.
    answer = await chat.tap("+79000000001")
    assert answer is not None
    assert "79000000001" in chat.last_text and "My numbers" not in chat.last_text


async def test_another_users_numbers_are_not_listed(
    keyed_chat: ChatDriver, dp: Any, bot: Any, services: Any, clock: Any
) -> None:
    key_id = await _key_id(services, keyed_chat.user.id)
    await _activation(services.db, keyed_chat.user.id, key_id, 7, clock())
    other = ChatDriver(dp, bot, user_id=777)
    await other.send("/numbers")
    assert "No live numbers" in other.last_text
    assert "+79000000007" not in " ".join(other.session.bot_texts(other.chat_id))


async def test_history_pages_and_switches_kind(
    keyed_chat: ChatDriver, services: Any, clock: Any
) -> None:
    chat = keyed_chat
    db, now = services.db, clock()
    key_id = await _key_id(services, chat.user.id)
    for n in range(1, 8):
        a = await _activation(db, chat.user.id, key_id, n, now)
        await db.activations.set_status(a.id, "finished" if n % 2 else "cancelled", ended_at=now)
    r = await _rental(db, chat.user.id, key_id, 1, now)
    await db.rentals.set_status(r.id, "finished", ended_at=now)

    await chat.send("/numbers")
    assert "No live numbers" in chat.last_text
    # The per-kind list: the rental card's "« Rental history" and buttons already in chats.
    await chat.tap_data(NumbersCb(action=NumbersAction.HISTORY).pack())
    first = chat.last_text
    assert "one-time numbers" in first
    assert first.count("+7900000000") == 5  # newest five first
    assert "+79000000001" in first and "+79000000006" not in first
    assert "1/2" in " ".join(b.text for b in chat.last_bot_message().buttons())
    await chat.tap("›")
    second = chat.last_text
    assert "+79000000006" in second and "+79000000007" in second
    assert "+79000000001" not in second
    await chat.tap("Rentals")
    assert "History: rentals" in chat.last_text and "+79110000001" in chat.last_text
    assert RentalCb(action="open", id=r.id).pack() in _data(chat)


async def test_my_numbers_history_button_opens_the_filtered_history(
    keyed_chat: ChatDriver, services: Any, clock: Any
) -> None:
    chat = keyed_chat
    key_id = await _key_id(services, chat.user.id)
    a = await _activation(services.db, chat.user.id, key_id, 1, clock())
    await services.db.activations.set_status(a.id, "finished", ended_at=clock())
    await chat.send("/numbers")
    await chat.tap("History")
    assert "1 in all" in chat.last_text and "+79000000001" in chat.last_text
    labels = " ".join(b.text for b in chat.last_bot_message().buttons())
    assert "CSV" in labels  # the history with filters and exports, not the per-kind list


async def test_crafted_history_pages(keyed_chat: ChatDriver, services: Any, clock: Any) -> None:
    chat = keyed_chat
    await chat.send("/numbers")
    answer = await chat.tap_data(NumbersCb(action="hist", kind="a", page=999).pack())
    assert answer is not None and "Nothing here yet" in chat.last_text
    answer = await chat.tap_data("n1:hist:zz:0")  # a kind no keyboard makes
    assert answer is not None and "out of date" in (answer.text or "")
