"""Renting numbers: the rent flow and the rental card."""

from __future__ import annotations

from aiogram import Router

from handlers.rent import card, flow
from handlers.rent.callbacks import RentalCb
from handlers.rent.keyboards import rental_card_keyboard
from handlers.rent.views import render_rental_card

router = Router(name=__name__)
router.include_routers(flow.router, card.router)

__all__ = ["RentalCb", "render_rental_card", "rental_card_keyboard", "router"]
