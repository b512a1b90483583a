"""The Telegram face of the bot: one router per feature, collected by `get_routers()`."""

from __future__ import annotations

from aiogram import Router

from handlers.middlewares import set_commands, setup_middlewares

__all__ = ["get_routers", "set_commands", "setup_middlewares"]


def get_routers() -> list[Router]:
    # Order matters: feature routers first, the catch-all fallback last.
    from handlers import (
        activation,
        admin,
        balance,
        fallback,
        help,
        keys,
        numbers,
        settings,
        start,
    )
    from handlers.rent import create_router as create_rent_router

    routers = [
        admin.router,
        start.router,
        keys.router,
        balance.router,
        activation.create_router(),
        create_rent_router(),
        numbers.router,
        settings.router,
        help.router,
        fallback.router,
    ]
    # Routers are module singletons, but a process may build more than one dispatcher (tests,
    # a restart in place): release them from the previous one so they can be included again.
    for router in routers:
        _detach(router)
    return routers


def _detach(router: Router) -> None:
    parent = router.parent_router
    if parent is not None:
        if router in parent.sub_routers:
            parent.sub_routers.remove(router)
        router._parent_router = None
