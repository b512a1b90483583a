"""History: every number the user had, newest first, paged and filtered; an ended number's
read-only card; exports as CSV and JSON.

`callbacks` (wire format), `views` and `keyboards` (pure renderers), `screens` (the handlers).
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command

from handlers.common import MenuAction, MenuCb
from handlers.history import screens
from handlers.history.callbacks import EXPORTS, HistoryAction, HistoryCb

__all__ = ["HistoryAction", "HistoryCb", "create_router"]


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(screens.on_history, Command("history"))
    tap = router.callback_query.register
    tap(screens.on_history, MenuCb.filter(F.action == MenuAction.HISTORY))
    tap(screens.on_list, HistoryCb.filter(F.action == HistoryAction.LIST))
    tap(screens.on_services, HistoryCb.filter(F.action == HistoryAction.SERVICES))
    tap(screens.on_countries, HistoryCb.filter(F.action == HistoryAction.COUNTRIES))
    tap(screens.on_outcomes, HistoryCb.filter(F.action == HistoryAction.OUTCOMES))
    tap(screens.on_periods, HistoryCb.filter(F.action == HistoryAction.PERIODS))
    tap(screens.on_open, HistoryCb.filter(F.action == HistoryAction.OPEN))
    tap(screens.on_export, HistoryCb.filter(F.action.in_(EXPORTS)))
    return router
