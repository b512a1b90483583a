"""Buying one-time activation numbers: the buy flow and the number's card.

`callbacks` (wire format), `keyboards` and `views` (pure renderers), `presenter` (THE card:
its data and its rendering, also used by the tracker's notifier), `flow` (services →
countries → confirm → buy) and `card` (the card's buttons).
"""

from __future__ import annotations

from aiogram import Router

from handlers.activation import card, flow
from handlers.activation.callbacks import ActivationAction, ActivationCb, BuyAction, BuyCb

__all__ = ["ActivationAction", "ActivationCb", "BuyAction", "BuyCb", "create_router"]


def create_router() -> Router:
    router = Router(name=__name__)
    router.include_routers(flow.create_router(), card.create_router())
    return router
