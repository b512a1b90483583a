"""The user's history: every activation and rental they had, newest first, paged and filtered,
and exported as CSV or JSON (dates in the user's zone, bounded, never a key or a secret).

Reads only, every one scoped by the user's id.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.formatting import user_timezone
from storage import Database, HistoryEntry, HistoryFilter, User

EXPORT_LIMIT = 10_000  # rows in one export: the newest ones; the caption says when cut
DAY = 86400.0


class Period(StrEnum):
    """How far back the history goes; the values travel in callback data."""

    ALL = "a"
    WEEK = "w"
    MONTH = "m"
    YEAR = "y"


PERIOD_DAYS: dict[Period, int] = {Period.WEEK: 7, Period.MONTH: 30, Period.YEAR: 365}


class ExportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """What the user chose to see: None = any (the period is never None: ALL)."""

    service: str | None = None
    country: str | None = None
    outcome: str | None = None
    period: Period = Period.ALL

    def to_filter(self, now: float) -> HistoryFilter:
        days = PERIOD_DAYS.get(self.period)
        since = None if days is None else now - days * DAY
        return HistoryFilter(
            service=self.service, country=self.country, outcome=self.outcome, since=since
        )

    @property
    def narrowed(self) -> bool:
        return self != HistoryQuery()


@dataclass(frozen=True, slots=True)
class HistoryPage:
    entries: list[HistoryEntry]
    page: int  # clamped into range: an old or crafted page number shows the last page
    pages: int
    total: int


# The export's columns, in order: one rule for CSV and JSON alike.
EXPORT_COLUMNS: tuple[str, ...] = (
    "kind",
    "id",
    "created_at",
    "ended_at",
    "service",
    "country",
    "phone",
    "status",
    "outcome",
    "cost",
    "currency",
    "hours",
    "key",
    "codes",
    "sms",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Columns whose text comes from the user or the provider (a phone's "+" is ours, not a formula).
_FREE_TEXT = frozenset({"service", "country", "key", "codes"})


@dataclass(frozen=True, slots=True)
class Export:
    filename: str
    data: bytes
    rows: int  # in the file
    total: int  # matching the filter; more than `rows` when the export was cut


def local_time(moment: float | None, user: User) -> str:
    """An ISO 8601 time with the user's offset (`2026-11-30T14:05:00+03:00`); '' for none."""
    if moment is None:
        return ""
    zone = user_timezone(user.timezone)
    return datetime.fromtimestamp(moment, zone).isoformat(timespec="seconds")


def export_record(entry: HistoryEntry, user: User) -> dict[str, str | int | None]:
    """One history entry as the export writes it (the key by its label, never the key)."""
    return {
        "kind": entry.kind,
        "id": entry.id,
        "created_at": local_time(entry.created_at, user),
        "ended_at": local_time(entry.ended_at, user) or None,
        "service": entry.service,
        "country": entry.country,
        "phone": "+" + entry.phone.lstrip("+"),
        "status": entry.status,
        "outcome": entry.outcome,
        "cost": None if entry.cost is None else str(entry.cost),
        "currency": entry.currency,
        "hours": entry.hours,
        "key": entry.key_label,
        "codes": " ".join(entry.codes),
        "sms": entry.sms,
    }


def _csv_cell(column: str, value: str | int | None) -> str:
    """A cell as text. A text a spreadsheet would run as a formula (a key label or a code
    that starts with "=") is kept as text by a leading apostrophe; numbers go as they are."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if column in _FREE_TEXT and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(records: list[dict[str, str | int | None]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for record in records:
        writer.writerow([_csv_cell(column, record[column]) for column in EXPORT_COLUMNS])
    # A byte-order mark: spreadsheet programs then read the file as UTF-8.
    return buffer.getvalue().encode("utf-8-sig")


def to_json(records: list[dict[str, str | int | None]]) -> bytes:
    return json.dumps(records, ensure_ascii=False, indent=1).encode("utf-8")


def render_export(entries: list[HistoryEntry], user: User, fmt: ExportFormat) -> bytes:
    records = [export_record(entry, user) for entry in entries]
    return to_csv(records) if fmt is ExportFormat.CSV else to_json(records)


class HistoryService:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def page(
        self, user_id: int, query: HistoryQuery, page: int, per_page: int
    ) -> HistoryPage:
        """One page of the entries `query` selects, newest first."""
        where = query.to_filter(self._clock())
        total = await self._db.history.count(user_id, where)
        pages = max(1, -(-total // per_page))
        page = min(max(page, 0), pages - 1)
        entries = await self._db.history.page(
            user_id, where, offset=page * per_page, limit=per_page
        )
        return HistoryPage(entries=entries, page=page, pages=pages, total=total)

    async def services(self, user_id: int) -> list[str]:
        """The services the user's history has, the most used first (bounded)."""
        return await self._db.history.choices(user_id, "service")

    async def countries(self, user_id: int) -> list[str]:
        return await self._db.history.choices(user_id, "country")

    async def export(self, user: User, query: HistoryQuery, fmt: ExportFormat) -> Export:
        """The newest EXPORT_LIMIT entries `query` selects, as a file in `fmt`."""
        where = query.to_filter(self._clock())
        total = await self._db.history.count(user.id, where)
        entries = await self._db.history.page(user.id, where, offset=0, limit=EXPORT_LIMIT)
        # Thousands of rows to format: off the event loop, so other users' taps go on meanwhile.
        data = await asyncio.to_thread(render_export, entries, user, fmt)
        stamp = datetime.fromtimestamp(self._clock(), user_timezone(user.timezone))
        filename = f"history-{stamp:%Y%m%d-%H%M}.{fmt.value}"
        return Export(filename=filename, data=data, rows=len(entries), total=total)
