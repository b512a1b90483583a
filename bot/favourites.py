"""FavouritesService: the (service, country) pairs a user starred, and the ones they used lately.

The buy flow lists favourites first and offers them (with the recent picks) as one-tap quick
picks; the ⭐ button of a number's card stars or un-stars its pair.
"""

from __future__ import annotations

from bot.provider.models import PurchaseFilter
from storage import Database

Favourites = list[tuple[str, str | None]]  # (service, country or None for "any country")
Recents = list[tuple[str, str]]  # (service, country), newest first


class FavouritesService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, user_id: int, service: str, country: str | None = None) -> None:
        await self._db.picks.add_favourite(user_id, service, country)

    async def remove(self, user_id: int, service: str, country: str | None = None) -> None:
        await self._db.picks.remove_favourite(user_id, service, country)

    async def is_favourite(self, user_id: int, service: str, country: str | None = None) -> bool:
        return await self._db.picks.is_favourite(user_id, service, country)

    async def toggle(self, user_id: int, service: str, country: str | None = None) -> bool:
        """Star the pair, or un-star it when it is starred already; True when it is now a
        favourite."""
        if await self.is_favourite(user_id, service, country):
            await self.remove(user_id, service, country)
            return False
        await self.add(user_id, service, country)
        return True

    async def choice(self, user_id: int, service: str, country: str) -> PurchaseFilter | None:
        """The suppliers/operator remembered on the starred pair; None when it is not starred
        (or what is stored is no longer readable)."""
        stored = await self._db.picks.favourite_choice(user_id, service, country)
        return None if stored is None else PurchaseFilter.parse(stored)

    async def remember_choice(
        self, user_id: int, service: str, country: str, choice: PurchaseFilter
    ) -> bool:
        """Remember the choice on the starred pair; False (nothing kept) when not starred."""
        return await self._db.picks.set_favourite_choice(user_id, service, country, choice.code())

    async def picks(self, user_id: int, *, recent_limit: int) -> tuple[Favourites, Recents]:
        """The favourites and the `recent_limit` newest recent picks, in one read."""
        return await self._db.picks.favourites_and_recents(user_id, recent_limit=recent_limit)
