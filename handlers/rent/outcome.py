"""The unknown outcome of a rent or an extension: the message that says "checking".

The provider's answer was lost (timeout, 5xx, garbage): maybe charged, maybe not. The tapped
message says so, and the tracker's reconciliation later edits that same message with the truth
(the card, "not rented", "charged but not found"). ONE function draws it for both kinds, so
switching it to a shared unknown-outcome presenter is one change.
"""

from __future__ import annotations

from aiogram.types import CallbackQuery

from bot.i18n import Translate
from handlers.common import answer_quietly, show
from handlers.outcome import PurchaseKind, checking_text
from handlers.rent.keyboards import card_only_keyboard, flow_error_keyboard


async def show_checking(
    callback: CallbackQuery, t: Translate, *, rental_id: int | None, findable: bool = False
) -> None:
    """`rental_id`: the rental being extended, None for a new rent. `findable`: the provider
    lists rentals, so reconciliation can find the number itself (else only the balance tells,
    as with Grizzly: the message says so)."""
    if rental_id is not None:
        text = checking_text(t, PurchaseKind.EXTEND)
        await show(callback, text, card_only_keyboard(t, rental_id))
        await answer_quietly(callback, text, alert=True)
        return
    text = checking_text(t, PurchaseKind.RENT, findable=findable)
    await show(callback, text, flow_error_keyboard(t, None))
    await answer_quietly(callback, t("rent-pending"), alert=True)
