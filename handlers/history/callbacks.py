"""The history's wire format: one callback factory, StrEnum actions, the filter carried along
so that every screen (a page, a filter choice, an opened card) leads back to the same view."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from pydantic import Field

from bot.history import ExportFormat, HistoryQuery, Period
from handlers.common import CallbackId, CallbackPage

# Filter values travel in callback data: short, and never the ":" that separates fields. A
# service or country code that does not fit is simply not offered as a filter.
SERVICE_CODE = r"^[A-Za-z0-9_.\-]{0,10}$"
COUNTRY_CODE = r"^[A-Za-z0-9_.\-]{0,6}$"
CallbackService = Annotated[str, Field(pattern=SERVICE_CODE)]
CallbackCountry = Annotated[str, Field(pattern=COUNTRY_CODE)]


class HistoryAction(StrEnum):
    LIST = "l"  # one page of the filtered history
    SERVICES = "s"  # choose the service filter
    COUNTRIES = "c"  # choose the country filter
    OUTCOMES = "o"  # choose the outcome filter
    PERIODS = "p"  # choose the period
    OPEN = "v"  # an ended number's read-only card (kind, item)
    CSV = "xc"  # export the filtered history as CSV
    JSON = "xj"  # ... as JSON


EXPORTS: dict[HistoryAction, ExportFormat] = {
    HistoryAction.CSV: ExportFormat.CSV,
    HistoryAction.JSON: ExportFormat.JSON,
}


class Outcome(StrEnum):
    """The outcome filter on the wire; ANY = no filter. Maps to storage's outcome names."""

    ANY = "n"
    LIVE = "l"
    CODE = "c"
    REFUNDED = "r"
    EXPIRED = "e"


OUTCOME_NAMES: dict[Outcome, str] = {
    Outcome.LIVE: "live",
    Outcome.CODE: "code",
    Outcome.REFUNDED: "refunded",
    Outcome.EXPIRED: "expired",
}


class EntryKind(StrEnum):
    ACTIVATION = "a"
    RENTAL = "r"


class HistoryCb(CallbackData, prefix="h1"):  # type: ignore[explicit-any]  # BaseModel's Any
    action: HistoryAction
    page: CallbackPage = 0
    service: CallbackService = ""  # "" = any
    country: CallbackCountry = ""  # "" = any
    outcome: Outcome = Outcome.ANY
    period: Period = Period.ALL
    kind: EntryKind = EntryKind.ACTIVATION
    item: CallbackId = 0

    def query(self) -> HistoryQuery:
        return HistoryQuery(
            service=self.service or None,
            country=self.country or None,
            outcome=OUTCOME_NAMES.get(self.outcome),
            period=self.period,
        )

    def go(self, action: HistoryAction, **changes: object) -> HistoryCb:
        """This view's data with another action (and any field changed): filters carry over."""
        fields = {**self.model_dump(), "action": action, **changes}
        return HistoryCb.model_validate(fields)


def fits_service(code: str) -> bool:
    """A service code that can travel as a filter (others are not offered)."""
    return bool(code) and re.fullmatch(SERVICE_CODE, code) is not None


def fits_country(code: str) -> bool:
    return bool(code) and re.fullmatch(COUNTRY_CODE, code) is not None
