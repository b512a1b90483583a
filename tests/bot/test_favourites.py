"""FavouritesService: star, un-star, toggle, and the picks the buy flow lists first."""

from __future__ import annotations

from bot.favourites import FavouritesService
from storage import Database

USER = 111


async def test_toggle_stars_then_unstars(tdb: Database) -> None:
    favourites = FavouritesService(tdb)
    assert await favourites.toggle(USER, "tg", "15") is True
    assert await favourites.is_favourite(USER, "tg", "15")
    assert not await favourites.is_favourite(USER, "tg")  # "any country" is another pick
    assert await favourites.toggle(USER, "tg", "15") is False
    assert not await favourites.is_favourite(USER, "tg", "15")
    assert await tdb.picks.favourites(USER) == []


async def test_add_remove_and_picks(tdb: Database) -> None:
    favourites = FavouritesService(tdb)
    await favourites.add(USER, "wa", "6")
    await favourites.add(USER, "tg")
    await tdb.picks.add_recent(USER, "vk", "0")
    await tdb.picks.add_recent(USER, "tg", "15")
    starred, recents = await favourites.picks(USER, recent_limit=1)
    assert starred == [("tg", None), ("wa", "6")] and recents == [("tg", "15")]
    await favourites.remove(USER, "wa", "6")
    assert (await favourites.picks(USER, recent_limit=5))[0] == [("tg", None)]
