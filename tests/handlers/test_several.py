"""Several numbers at once from the confirm screen, through the real dispatcher, a real SQLite
database and the sandbox provider."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from handlers.activation.callbacks import OfferCb

POLAND = "15"


@pytest.fixture
async def keyed(services: Any, sandbox: Any, sandbox_key: str, chat: Any) -> Any:
    await services.accounts.add_key(
        chat.user.id, base_url=sandbox.url, api_key=sandbox_key, label="test"
    )
    return chat


async def open_confirm(chat: Any, quantity: int) -> None:
    await chat.send("/buy")
    await chat.tap("Telegram")
    await chat.send("Poland")
    await chat.tap("Poland")
    if quantity > 1:
        await chat.tap("Several at once")
    for _ in range(quantity - 2):
        await chat.tap("One more")


async def test_quantity_choice_on_the_confirm_screen(keyed: Any) -> None:
    chat = keyed
    await open_confirm(chat, 1)
    await chat.tap("Several at once")
    assert "Quantity: <b>2</b>" in chat.last_text and "57.60" in chat.last_text
    for _ in range(8):
        await chat.tap("One more")
    assert "Quantity: <b>10</b>" in chat.last_text
    labels = [b.text for b in chat.last_bot_message().buttons()]
    assert not any("One more" in label for label in labels)  # ten at most
    assert any("Buy 10 for at most 288.00" in label for label in labels)
    await chat.tap("One fewer")
    assert "Quantity: <b>9</b>" in chat.last_text


async def test_stock_running_out_mid_batch_reports_a_partial_result(
    keyed: Any, sandbox: Any, services: Any
) -> None:
    sandbox.state.set_stock(POLAND, "tg", 3)
    chat = keyed
    await open_confirm(chat, 5)
    shown, button = chat.find_button("Buy 5")
    data = OfferCb.unpack(button.callback_data)
    assert data.n == 5 and data.mx == "28.8"
    await chat.tap_data(button.callback_data, shown)

    assert len(sandbox.state.purchases) == 3
    assert all(p["max_price"] == "28.8" for p in sandbox.state.purchases)  # the cap, each
    texts = chat.texts()
    cards = [t for t in texts if "<code>+" in t]
    assert len(cards) == 3  # one card per number, the first where the confirm screen was
    assert (
        "+" + sandbox.state.purchases[0]["phone"]
        in chat.session.messages[(chat.chat_id, shown.message_id)].text
    )
    report = chat.last_text
    assert "3 of 5 bought" in report and "no numbers" in report.lower()
    live = await services.db.activations.list_live(chat.user.id)
    assert len(live) == 3 and sum(a.cost for a in live) <= 5 * Decimal("28.8")
    assert await services.db.pending.list_all() == []

    answer = await chat.tap_data(button.callback_data, shown)  # the same tap again
    assert answer is not None and "already done" in (answer.text or "")
    assert len(sandbox.state.purchases) == 3


async def test_a_refusal_of_the_first_number_shows_the_screen_again(
    keyed: Any, sandbox: Any
) -> None:
    sandbox.state.set_balance(next(iter(sandbox.state.accounts)), "10")
    chat = keyed
    await open_confirm(chat, 3)
    await chat.tap("Buy 3")
    assert sandbox.state.purchases == []
    assert chat.last_text.startswith("⚠️") and "Confirm the purchase" in chat.last_text
    assert "Quantity: <b>3</b>" in chat.last_text  # the same offer, one tap to try again


async def test_a_dropped_answer_mid_batch_is_checked_not_retried(
    keyed: Any, sandbox: Any, services: Any
) -> None:
    chat = keyed
    await open_confirm(chat, 3)
    sandbox.state.inject_fault("drop_after_charge", action="getNumberV2")
    await chat.tap("Buy 3")
    sent = [r for r in sandbox.state.requests if r["action"].startswith("getNumber")]
    assert len(sent) == 1  # the first answer was lost: the batch stops, nothing is retried
    assert "checking" in chat.last_text.lower()
    [pending] = await services.db.pending.list_all()
    assert pending.unknown_at is not None
