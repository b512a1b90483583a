"""Operator commands, for the ids in ADMIN_IDS only: /stats (figures, then a chart of what the
whole bot's users spent per day: every user together, nobody named).

For anybody else the command does not exist: the fallback router answers it like any text.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, Filter
from aiogram.types import BufferedInputFile, Message

from bot.config import Settings
from bot.i18n import Translate, Translator
from bot.metrics import PREFIX, Metrics
from bot.numbers import NumbersService
from bot.spending import SpendingService
from handlers.spending import chart_words

# The operator's chart covers this many days (UTC), today included.
STATS_CHART_DAYS = 30


class IsAdmin(Filter):
    async def __call__(self, message: Message, settings: Settings) -> bool:
        return message.from_user is not None and message.from_user.id in settings.admin_ids


def since_start(metrics: Metrics, name: str) -> int:
    """What one of this process's counters (`smsbot_<name>_total`) counted since it started,
    summed over its labels: read through the registry, the library's public way."""
    family_name = PREFIX + name
    total = 0.0
    for family in metrics.registry.collect():
        if family.name == family_name:
            total += sum(s.value for s in family.samples if s.name == f"{family_name}_total")
    return int(total)


async def on_stats(
    message: Message,
    t: Translate,
    translator: Translator,
    numbers: NumbersService,
    metrics: Metrics,
    spending: SpendingService,
) -> None:
    overview = await numbers.overview()
    await message.answer(
        t(
            "admin-stats",
            live_activations=str(overview.live_activations),
            live_rentals=str(overview.live_rentals),
            pending=str(overview.pending_purchases),
            codes=str(since_start(metrics, "tracker_codes_delivered")),
            rental_sms=str(since_start(metrics, "tracker_rental_sms_delivered")),
            auto_cancels=str(since_start(metrics, "tracker_auto_cancels")),
            errors=str(since_start(metrics, "tracker_provider_errors")),
        )
    )
    report = await spending.whole_bot(STATS_CHART_DAYS)
    days = str(STATS_CHART_DAYS)
    words, english = chart_words(t, translator, "admin-chart-title", days=days)
    png = await spending.chart(report, words, english)
    await message.answer_photo(
        BufferedInputFile(png, filename="stats.png"), caption=t("admin-chart-caption", days=days)
    )


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(on_stats, Command("stats"), IsAdmin())
    return router
