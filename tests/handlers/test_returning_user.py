"""A user who blocked the bot and came back: "blocked the bot" is not "suspended".

Blocking is cleared by any update from the user and by the bot's own membership update
(my_chat_member: kicked -> member); the returning user gets a fresh card for each live number.
Suspension is the operator's decision and refuses the user's updates.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram.types import ChatMemberBanned, ChatMemberMember, ChatMemberUpdated, Update

from tests.handlers.test_buy import open_confirm
from tests.harness import BOT_USER, ChatDriver, delivered


@pytest.fixture
async def keyed(services: Any, sandbox: Any, sandbox_key: str, chat: Any) -> Any:
    await services.accounts.add_key(
        chat.user.id, base_url=sandbox.url, api_key=sandbox_key, label="test"
    )
    return chat


async def _buy_and_rent(chat: ChatDriver, services: Any, clock: Any) -> tuple[str, str]:
    """A live activation (bought through the flow) and a live rental; their phones."""
    await open_confirm(chat)
    await chat.tap("Buy for")
    [activation] = await services.db.activations.list_live(chat.user.id)
    key = await services.db.keys.get_active(chat.user.id)
    rental = await services.db.rentals.add(
        user_id=chat.user.id,
        key_id=key.id,
        provider_id="r-1",
        service="tg",
        country="0",
        phone="79990003344",
        hours=4,
        cost=None,
        created_at=clock(),
        ends_at=clock() + 4 * 3600,
        chat_id=chat.chat_id,
    )
    return activation.phone, rental.phone


def _membership(chat: ChatDriver, update_id: int, *, blocked: bool) -> Update:
    """The bot's own membership in the private chat changed: the user blocked or unblocked it."""
    member = ChatMemberMember(user=BOT_USER)
    banned = ChatMemberBanned(user=BOT_USER, until_date=datetime.fromtimestamp(0, tz=UTC))
    return Update(
        update_id=update_id,
        my_chat_member=ChatMemberUpdated(
            chat=chat._chat(),
            from_user=chat.user,
            date=datetime.now(tz=UTC),
            old_chat_member=member if blocked else banned,
            new_chat_member=banned if blocked else member,
        ),
    )


def _cards_for(chat: ChatDriver, phone: str, since: int) -> list[str]:
    return [text for text in chat.texts()[since:] if phone in text]


async def test_a_user_who_blocked_the_bot_is_served_again_with_the_cards_of_live_numbers(
    keyed: ChatDriver, services: Any, clock: Any
) -> None:
    chat = keyed
    phone, rented = await _buy_and_rent(chat, services, clock)
    await services.db.users.set_blocked(chat.user.id, True)  # a Forbidden answer, earlier
    shown = len(chat.texts())

    await chat.send("/start")
    texts = chat.texts()[shown:]
    assert not any("suspended" in text for text in texts)
    assert any("Main menu" in text for text in texts)
    assert _cards_for(chat, phone, shown) and _cards_for(chat, rented, shown)
    user = await services.db.users.get(chat.user.id)
    assert user is not None and not user.blocked

    # Back for good: the next update sends no cards again.
    shown = len(chat.texts())
    await chat.send("/help")
    assert not _cards_for(chat, phone, shown)


async def test_my_chat_member_marks_and_clears_blocked(
    keyed: ChatDriver, services: Any, clock: Any
) -> None:
    chat = keyed
    phone, rented = await _buy_and_rent(chat, services, clock)

    await chat.dp.feed_update(chat.bot, _membership(chat, 9001, blocked=True))
    user = await services.db.users.get(chat.user.id)
    assert user is not None and user.blocked

    shown = len(chat.texts())
    await chat.dp.feed_update(chat.bot, _membership(chat, 9002, blocked=False))
    await delivered(services.notifier)  # the cards go through the send queue
    user = await services.db.users.get(chat.user.id)
    assert user is not None and not user.blocked
    assert _cards_for(chat, phone, shown) and _cards_for(chat, rented, shown)
    # The cards are remembered: the tracker edits the new ones from now on.
    [activation] = await services.db.activations.list_live(chat.user.id)
    assert activation.message_id == chat.session.visible(chat.chat_id)[-2].message_id


async def test_a_suspended_user_is_refused_and_stays_suspended(
    chat: ChatDriver, services: Any
) -> None:
    await services.db.users.set_suspended(chat.user.id, True)
    await chat.send("/start")
    assert "suspended" in chat.last_text
    answer = await chat.tap_data("m1:main")
    assert answer is not None and "suspended" in (answer.text or "")
    user = await services.db.users.get(chat.user.id)
    assert user is not None and user.suspended
