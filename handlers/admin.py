"""Operator commands, for the ids in ADMIN_IDS only: /stats.

For anybody else the command does not exist: the fallback router answers it like any text.
"""

from __future__ import annotations

from typing import Any

from aiogram import Router
from aiogram.filters import Command, Filter
from aiogram.types import Message

from bot.config import Settings
from bot.i18n import Translate
from storage import Database

router = Router(name=__name__)


class IsAdmin(Filter):
    async def __call__(self, message: Message, settings: Settings) -> bool:
        return message.from_user is not None and message.from_user.id in settings.admin_ids


@router.message(Command("stats"), IsAdmin())
async def on_stats(message: Message, t: Translate, db: Database, tracker: Any = None) -> None:
    stats: dict[str, Any] = dict(getattr(tracker, "stats", {}) or {})
    await message.answer(
        t(
            "admin-stats",
            live_activations=str(await db.activations.count_live()),
            live_rentals=str(await db.rentals.count_live()),
            pending=str(len(await db.pending.list_all())),
            codes=str(stats.get("codes_delivered", 0)),
            rental_sms=str(stats.get("rental_sms_delivered", 0)),
            auto_cancels=str(stats.get("auto_cancels", 0)),
            errors=str(sum((stats.get("provider_errors") or {}).values())),
        )
    )
