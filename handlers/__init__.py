"""The Telegram face of the bot: one router per feature, built fresh by `build_router()`.

Every feature module has `create_router() -> Router`; the root router built here carries the
middlewares that read handler flags (key input, throttling) and includes every feature's fresh
router, so each dispatcher (a test builds many) gets routers of its own.
"""

from __future__ import annotations

from aiogram import Router

from bot.config import Settings
from handlers import (
    activation,
    admin,
    balance,
    fallback,
    help,
    history,
    imports,
    keys,
    mydata,
    numbers,
    rent,
    replace_settings,
    settings,
    spending,
    start,
    watches,
)
from handlers.middlewares import (
    KeyInputMiddleware,
    SharedThrottle,
    ThrottleMiddleware,
    setup_middlewares,
)
from handlers.profile import publish_profile

__all__ = ["build_router", "publish_profile", "setup_middlewares"]


def build_router(config: Settings, shared_throttle: SharedThrottle | None = None) -> Router:
    """The root router: the per-handler middlewares, then every feature's router. Order
    matters: feature routers first, the catch-all fallback last. `shared_throttle`: the
    throttle's buckets in Redis, shared by the replicas (REDIS_URL)."""
    root = Router(name=__name__)
    key_input = KeyInputMiddleware()
    throttle = ThrottleMiddleware(config.throttle_rate, shared=shared_throttle)
    # Inner middlewares see the handler the update reached, so its flags decide. The key
    # input check comes first: a key message a handler does not take is never throttled.
    root.message.middleware(key_input)
    root.message.middleware(throttle)
    root.callback_query.middleware(throttle)
    root.include_routers(
        admin.create_router(),
        start.create_router(),
        keys.create_router(),
        balance.create_router(),
        activation.create_router(),
        rent.create_router(),
        numbers.create_router(),
        imports.create_router(),
        spending.create_router(),
        history.create_router(),
        watches.create_router(),
        mydata.create_router(),
        settings.create_router(),
        replace_settings.create_router(),
        help.create_router(),
        fallback.create_router(),
    )
    return root
