"""History in the chat: the main menu's button and /history, newest first in pages, filters
chosen by taps, an ended number's read-only card with its codes and the way back to its page,
a live one opening its live card, and only the user's own numbers."""

from __future__ import annotations

from typing import Any

from handlers.activation import ActivationCb
from handlers.history import HistoryAction, HistoryCb
from handlers.history.callbacks import EntryKind
from tests.harness import ChatDriver
from tests.seeded_history import seed_history


async def _seed(chat: ChatDriver, services: Any, clock: Any) -> Any:
    key = await services.db.keys.get_active(chat.user.id)
    assert key is not None
    return await seed_history(services.db, chat.user.id, key.id, clock())


def _data(chat: ChatDriver) -> list[str]:
    return [b.callback_data or "" for b in chat.last_bot_message().buttons()]


def _labels(chat: ChatDriver) -> list[str]:
    return [b.text for b in chat.last_bot_message().buttons()]


def _phone(user_id: int, n: int, kind: str = "activation") -> str:
    return ("+7" if kind == "activation" else "+8") + f"{user_id:03d}{n:07d}"


async def test_menu_button_opens_the_history_newest_first(
    keyed_chat: ChatDriver, services: Any, clock: Any
) -> None:
    chat = keyed_chat
    await _seed(chat, services, clock)
    await chat.send("/start")
    await chat.tap("History")
    text = chat.last_text
    assert "History" in text and "7 in all" in text and "Everything" in text
    phones = [_phone(111, n) for n in (1, 2, 3)] + [_phone(111, 4, "rental"), _phone(111, 5)]
    positions = [text.index(p) for p in phones]
    assert positions == sorted(positions)  # newest first
    assert _phone(111, 6) not in text  # on the next page
    assert "code received" in text and "refunded" in text and "ended without a code" in text
    assert "50.00 ₽" in text  # a rental's periods together (30 + 20)
    await chat.tap("›")
    assert _phone(111, 6) in chat.last_text and _phone(111, 7, "rental") in chat.last_text
    assert "2/2" in " ".join(_labels(chat))
    assert "Main menu" in " ".join(_labels(chat))


async def test_command_shows_the_same_screen(
    keyed_chat: ChatDriver, services: Any, clock: Any
) -> None:
    chat = keyed_chat
    await _seed(chat, services, clock)
    await chat.send("/history")
    assert "7 in all" in chat.last_text


async def test_filters_by_taps(keyed_chat: ChatDriver, services: Any, clock: Any) -> None:
    chat = keyed_chat
    await _seed(chat, services, clock)
    await chat.send("/history")
    await chat.tap("Service")
    assert "Which service?" in chat.last_text
    await chat.tap("WhatsApp")
    text = chat.last_text
    assert "2 in all" in text and "WhatsApp" in text
    assert _phone(111, 4, "rental") in text and _phone(111, 5) in text
    await chat.tap("Outcome")
    await chat.tap("Code received")
    assert "1 in all" in chat.last_text and _phone(111, 4, "rental") in chat.last_text
    # The filters carry over: back from a choice screen keeps them.
    await chat.tap("Period")
    await chat.tap("Back")
    assert "1 in all" in chat.last_text
    await chat.tap("Clear the filter")
    assert "7 in all" in chat.last_text
    await chat.tap("Country")
    await chat.tap("USA")
    assert "2 in all" in chat.last_text
    await chat.tap("Period")
    await chat.tap("last 30 days")
    assert "1 in all" in chat.last_text and _phone(111, 5) in chat.last_text
    await chat.tap("Period")
    await chat.tap("last 7 days")
    assert "Nothing matches this filter" in chat.last_text


async def test_an_ended_number_opens_read_only_with_its_codes(
    keyed_chat: ChatDriver, services: Any, clock: Any
) -> None:
    chat = keyed_chat
    await _seed(chat, services, clock)
    await chat.send("/history")
    await chat.tap("›")
    page = chat.last_text
    await chat.tap(_phone(111, 6))
    text = chat.last_text
    assert _phone(111, 6).lstrip("+") in text and "22222" in text
    labels = _labels(chat)
    assert labels == ["« Back", "« Main menu"]  # no action on an ended number
    await chat.tap("Back")
    assert chat.last_text == page  # back to the page it came from


async def test_an_ended_rental_opens_read_only_with_its_sms(
    keyed_chat: ChatDriver, services: Any, clock: Any
) -> None:
    chat = keyed_chat
    await _seed(chat, services, clock)
    await chat.send("/history")
    await chat.tap(_phone(111, 4, "rental"))
    text = chat.last_text
    assert "434343" in text and "Earlier SMS" in text and "newest 1 of 1" in text
    # each SMS once (the latest one's code also tap-to-copy above its text)
    assert text.count("424242") == 1 and text.count("<blockquote>WhatsApp code 434343") <= 1
    assert text.count("434343") == 1 + text.count("<code>434343</code>")
    assert _labels(chat) == ["« Back", "« Main menu"]


async def test_a_live_number_opens_its_live_card(
    keyed_chat: ChatDriver, services: Any, clock: Any
) -> None:
    chat = keyed_chat
    seeded = await _seed(chat, services, clock)
    await chat.send("/history")
    assert ActivationCb(action="open", id=seeded.ids["live"]).pack() in _data(chat)
    await chat.tap(_phone(111, 1))
    assert "Cancel" in " ".join(_labels(chat))  # the live card, with its actions


async def test_another_users_numbers_are_neither_listed_nor_opened(
    keyed_chat: ChatDriver, services: Any, clock: Any
) -> None:
    chat = keyed_chat
    other_key = await services.db.keys.add(
        999, label="theirs", base_url="http://127.0.0.1:1", api_key="Z" * 24
    )
    theirs = await seed_history(services.db, 999, other_key.id, clock())
    await chat.send("/history")
    assert "0 in all" in chat.last_text and "No numbers yet" in chat.last_text
    crafted = HistoryCb(
        action=HistoryAction.OPEN, kind=EntryKind.ACTIVATION, item=theirs.ids["code"]
    )
    answer = await chat.tap_data(crafted.pack())
    assert answer is not None and answer.show_alert
    assert "not in your history" in (answer.text or "")
    assert "11111" not in " ".join(chat.session.bot_texts(chat.chat_id))


async def test_a_tampered_filter_is_out_of_date(keyed_chat: ChatDriver) -> None:
    chat = keyed_chat
    await chat.send("/history")
    # A ":"-free but too long service, and an unknown period: neither decodes.
    for data in ("h1:l:0:" + "s" * 40 + "::n:a:a:0", "h1:l:0:::n:zz:a:0"):
        answer = await chat.tap_data(data)
        assert answer is not None and "out of date" in (answer.text or "").lower()
