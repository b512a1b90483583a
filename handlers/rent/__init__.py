"""Renting numbers: the rent flow (flow.py) and the rental card's buttons (card.py).

The rental card itself is drawn by presenter.py, for the tap handlers and for the tracker's
Telegram notifier alike.
"""

from __future__ import annotations

from aiogram import Router

from handlers.rent import card, flow


def create_router() -> Router:
    """A fresh router with the rent flow and the card's buttons (one per dispatcher)."""
    router = Router(name=__name__)
    router.include_routers(flow.create_router(), card.create_router())
    return router


__all__ = ["create_router"]
