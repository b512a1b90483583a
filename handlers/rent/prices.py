"""The price a confirmation screen showed, remembered in the chat's FSM data under its one-time
token: callback data carries ids only, and the provider's rent and extend answers carry no
price, so this is where the price of what the confirming tap pays for is known."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from enum import StrEnum

from aiogram.fsm.context import FSMContext


class Confirming(StrEnum):
    """What a confirmation screen buys; its value names the FSM data field (unchanged, so a
    screen shown before a restart still confirms at its price)."""

    RENT = "rent_costs"
    EXTEND = "extend_costs"


async def remember_price(state: FSMContext, kind: Confirming, token: str, price: Decimal) -> None:
    """Remember the price shown with `token` (only the latest screen of a kind is kept)."""
    await state.update_data({kind.value: {token: str(price)}})


async def confirmed_price(state: FSMContext, kind: Confirming, token: str) -> Decimal | None:
    """The price the confirmation screen of `token` showed, when this chat still knows it."""
    remembered = (await state.get_data()).get(kind.value)
    raw = remembered.get(token) if isinstance(remembered, dict) else None
    try:
        return Decimal(str(raw)) if raw is not None else None
    except InvalidOperation:
        return None
