"""Numbers on my provider account, through the dispatcher: numbers bought outside the bot with
the same key are listed (never one the bot knows), only the ticked ones are adopted, the others
are left alone at the provider, an adopted number's code reaches the chat, and stale or crafted
taps lose nothing."""

from __future__ import annotations

from typing import Any

from handlers.imports import ImportAction, ImportCb
from tests.harness import ChatDriver


def bought_elsewhere(sandbox: Any, api_key: str, service: str = "tg", country: str = "15") -> str:
    """A number bought with the same key outside the bot (the provider's website)."""
    reply = sandbox.state.handle(
        {"api_key": api_key, "action": "getNumber", "service": service, "country": country}
    )
    assert reply.body.startswith("ACCESS_NUMBER:"), reply.body
    return reply.body.split(":")[1]


def phone_of(sandbox: Any, provider_id: str) -> str:
    return "+" + sandbox.state.activations[provider_id].phone.lstrip("+")


async def open_imports(chat: ChatDriver) -> None:
    await chat.send("/numbers")
    await chat.tap("Numbers on my provider account")


async def test_adopts_only_what_was_ticked(
    keyed_chat: ChatDriver, sandbox: Any, sandbox_key: str, services: Any, tracker: Any
) -> None:
    chat = keyed_chat
    await chat.send("/buy")  # one number bought here: the bot knows it
    await chat.tap("Telegram")
    await chat.send("Poland")
    await chat.tap("Poland")
    await chat.tap("Buy for")
    (known,) = await services.db.activations.list_live(chat.user.id)
    first = bought_elsewhere(sandbox, sandbox_key)
    second = bought_elsewhere(sandbox, sandbox_key, "wa", "16")

    await open_imports(chat)
    text = chat.last_text
    assert phone_of(sandbox, first) in text and phone_of(sandbox, second) in text
    assert "+" + known.phone not in text  # a number the bot knows is not listed
    labels = [b.text for b in chat.last_bot_message().buttons()]
    assert not any("Adopt" in label for label in labels)  # nothing ticked, nothing to adopt
    assert chat.find_button("My numbers") and chat.find_button("Main menu")

    await chat.tap(phone_of(sandbox, first))  # tick
    await chat.tap(phone_of(sandbox, second))  # tick
    await chat.tap(phone_of(sandbox, second))  # and untick
    assert chat.find_button("☑️ " + phone_of(sandbox, first))
    assert chat.find_button("⬜ " + phone_of(sandbox, second))
    await chat.tap("Adopt 1 ticked")
    assert "Adopted 1" in chat.last_text

    live = {a.provider_id: a for a in await services.db.activations.list_live(chat.user.id)}
    assert set(live) == {known.provider_id, first}
    adopted = live[first]
    assert adopted.adopted and adopted.service == "tg" and adopted.country == "15"
    assert adopted.chat_id == chat.chat_id
    # The one not ticked is still live at the provider, untouched: no setStatus for it.
    assert sandbox.state.activations[second].live
    touched = [r for r in sandbox.state.requests if r["action"] == "setStatus"]
    assert not [r for r in touched if r.get("id") == second]
    assert await services.db.activations.get_by_provider_id(adopted.key_id, second) is None

    # Tracked like any other: its code lands in the chat.
    sandbox.state.deliver_sms(first, "Your code 424242")
    await tracker.tick()
    assert any("424242" in text for text in chat.session.bot_texts(chat.chat_id))

    # Looking again lists only the one left.
    await chat.tap("My numbers")
    await chat.tap("Numbers on my provider account")
    assert phone_of(sandbox, second) in chat.last_text
    assert phone_of(sandbox, first) not in chat.last_text


async def test_nothing_to_take_in(keyed_chat: ChatDriver) -> None:
    chat = keyed_chat
    await open_imports(chat)
    assert "Nothing to take in" in chat.last_text
    assert chat.find_button("Main menu")


async def test_stale_and_crafted_taps_lose_nothing(
    keyed_chat: ChatDriver, sandbox: Any, sandbox_key: str, services: Any, clock: Any
) -> None:
    chat = keyed_chat
    first = bought_elsewhere(sandbox, sandbox_key)
    # Taps with no listing behind them (an old screen, a crafted index): told, nothing stored.
    for data in (
        ImportCb(action=ImportAction.TICK, i=0).pack(),
        ImportCb(action=ImportAction.ADOPT).pack(),
        ImportCb(action=ImportAction.TICK, i=9_999).pack(),
        "i1:t:-1",
        "i1:zz:0",
    ):
        answer = await chat.tap_data(data)
        assert answer is not None
    await open_imports(chat)
    answer = await chat.tap_data(ImportCb(action=ImportAction.TICK, i=5).pack())
    assert answer is not None and answer.show_alert and "out of date" in (answer.text or "")
    assert await services.db.activations.list_live(chat.user.id) == []

    # The number ends at the provider between the tick and the adoption: not stored.
    await chat.tap(phone_of(sandbox, first))
    clock.advance(121)  # past the early-cancel lock: cancelled on the website
    sandbox.state.handle(
        {"api_key": sandbox_key, "action": "setStatus", "id": first, "status": "8"}
    )
    await chat.tap("Adopt 1 ticked")
    assert "Adopted 0" in chat.last_text and "no longer live" in chat.last_text
    assert await services.db.activations.list_live(chat.user.id) == []


async def test_provider_without_the_listing(
    keyed_chat: ChatDriver, sandbox: Any, services: Any
) -> None:
    chat = keyed_chat
    sandbox.state.inject_fault("http500", action="getActiveActivations", count=5)
    await open_imports(chat)
    assert chat.find_button("My numbers") and chat.find_button("Main menu")
    assert "Nothing to take in" not in chat.last_text


async def test_a_purchase_being_checked_is_left_to_the_tracker(
    keyed_chat: ChatDriver, sandbox: Any, services: Any, tracker: Any, clock: Any
) -> None:
    """A purchase whose answer was lost is listed by the provider but unknown to the bot: the
    import must not take it in (only the tracker's adoption links it to its intent)."""
    chat = keyed_chat
    await chat.send("/buy")
    await chat.tap("Telegram")
    await chat.send("Poland")
    await chat.tap("Poland")
    sandbox.state.inject_fault("drop_after_charge", action="getNumberV2")
    await chat.tap("Buy for")
    [lost] = sandbox.state.purchases
    await open_imports(chat)
    assert "still being checked" in chat.last_text
    assert phone_of(sandbox, lost["id"]) not in chat.last_text
    assert chat.find_button("Main menu")

    clock.advance(60)
    await tracker.tick()  # the reconciler adopts the lost purchase for its intent
    [adopted] = await services.db.activations.list_live(chat.user.id)
    assert adopted.provider_id == lost["id"] and adopted.adopted
    assert await services.db.pending.list_all() == []  # the intent resolved with it
    await open_imports(chat)
    assert "still being checked" not in chat.last_text
    assert phone_of(sandbox, lost["id"]) not in chat.last_text  # the bot knows it now
