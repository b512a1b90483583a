"""What a user owns, read for "My numbers", and the operator's overview of the whole bot.

Reads only: every list is read with the user's id, so one user never sees another's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from storage import Activation, Database, Rental
from storage.models import DatabaseCounts


class NumberKind(StrEnum):
    """The two kinds of number a history lists; the values travel in callback data."""

    ACTIVATIONS = "a"
    RENTALS = "r"


@dataclass(frozen=True, slots=True)
class LiveNumbers:
    activations: list[Activation]
    rentals: list[Rental]


@dataclass(frozen=True, slots=True)
class HistoryPage:
    items: list[Activation] | list[Rental]
    page: int  # clamped into range: an old or crafted page number shows the last page
    pages: int


class NumbersService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def live(self, user_id: int) -> LiveNumbers:
        return LiveNumbers(
            activations=await self._db.activations.list_live(user_id),
            rentals=await self._db.rentals.list_live(user_id),
        )

    async def history(
        self, user_id: int, kind: NumberKind, page: int, per_page: int
    ) -> HistoryPage:
        """One page of the user's ended numbers of one kind, newest first."""
        page = max(0, page)
        items, total = await self._ended(user_id, kind, page * per_page, per_page)
        pages = max(1, -(-total // per_page))
        if page >= pages:
            page = pages - 1
            items, total = await self._ended(user_id, kind, page * per_page, per_page)
        return HistoryPage(items=items, page=page, pages=pages)

    async def _ended(
        self, user_id: int, kind: NumberKind, offset: int, limit: int
    ) -> tuple[list[Activation] | list[Rental], int]:
        if kind == NumberKind.ACTIVATIONS:
            return await self._db.activations.list_ended(user_id, offset=offset, limit=limit)
        return await self._db.rentals.list_ended(user_id, offset=offset, limit=limit)

    async def overview(self) -> DatabaseCounts:
        """The whole bot's numbers (live, open intents, delivered), in one read."""
        return await self._db.counts()
