"""Item 23 in the chat: a rent whose purchase answer is lost (charged) says "checking", and
where the provider lists rentals the tracker puts the rental's card into that very message;
its SMS then reaches the chat once."""

from __future__ import annotations

import re
from typing import Any

from tests.handlers.test_rent import USER, _rent_via_ui, _stored, _t, _with_key


async def _ticks(tracker: Any, clock: Any, seconds: float, step: float = 5.0) -> None:
    for _ in range(int(seconds / step)):
        clock.advance(step)
        await tracker.tick()


async def test_lost_rent_answer_becomes_the_card_in_the_checking_message(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str, clock: Any, tracker: Any
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    sandbox.state.configure(rent_list=True)
    sandbox.state.inject_fault("drop_after_charge", action="getRentNumber")
    checking = await _rent_via_ui(chat, "4 h")
    t = _t(services)
    assert checking.text == t("rent-pending")  # the rental can be looked up: no "unlisted"
    [bought] = sandbox.state.rent_purchases  # charged, answer lost
    assert await services.db.rentals.list_live(USER) == []
    await _ticks(tracker, clock, 90)
    rental = await _stored(services)
    assert (rental.provider_id, rental.phone) == (bought["id"], bought["phone"])
    assert (rental.chat_id, rental.message_id) == (chat.chat_id, checking.message_id)
    # The "checking" message now is the normal rental card, with its buttons.
    assert bought["phone"] in re.sub(r"\D", "", checking.text)
    assert t("rent-pending") not in checking.text
    assert checking.buttons()
    sandbox.state.deliver_rent_sms(rental.provider_id, "lost and found 5151", phone_from="Shop")
    await _ticks(tracker, clock, 120)
    pushed = [text for text in chat.texts() if "lost and found 5151" in text]
    assert len([text for text in pushed if text != checking.text]) == 1


async def test_lost_rent_answer_without_a_rent_list_still_says_the_balance_will_tell(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str, clock: Any, tracker: Any
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    sandbox.state.inject_fault("drop_after_charge", action="getRentNumber")
    checking = await _rent_via_ui(chat, "4 h")
    t = _t(services)
    assert checking.text == t("rent-pending-unlisted")
    await _ticks(tracker, clock, 90)
    assert await services.db.rentals.list_live(USER) == []
    assert "provider account" in checking.text  # charged: where to find the number
    assert [r["action"] for r in sandbox.state.requests].count("getRentList") == 1
