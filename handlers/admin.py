"""Operator commands, for the ids in ADMIN_IDS only: /stats.

For anybody else the command does not exist: the fallback router answers it like any text.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, Filter
from aiogram.types import Message

from bot.config import Settings
from bot.i18n import Translate
from bot.numbers import NumbersService
from bot.tracker import Tracker


class IsAdmin(Filter):
    async def __call__(self, message: Message, settings: Settings) -> bool:
        return message.from_user is not None and message.from_user.id in settings.admin_ids


async def on_stats(
    message: Message, t: Translate, numbers: NumbersService, tracker: Tracker | None = None
) -> None:
    overview = await numbers.overview()
    # This process's counters (a web replica has no tracker: zeros).
    stats = tracker.stats if tracker is not None else {}
    await message.answer(
        t(
            "admin-stats",
            live_activations=str(overview.live_activations),
            live_rentals=str(overview.live_rentals),
            pending=str(overview.pending_purchases),
            codes=str(stats.get("codes_delivered", 0)),
            rental_sms=str(stats.get("rental_sms_delivered", 0)),
            auto_cancels=str(stats.get("auto_cancels", 0)),
            errors=str(sum((stats.get("provider_errors") or {}).values())),
        )
    )


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(on_stats, Command("stats"), IsAdmin())
    return router
