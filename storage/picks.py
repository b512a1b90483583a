"""PickRepo: a user's favourite and recently used services/countries."""

from __future__ import annotations

from storage.base import Store
from storage.users import ensure_user, read_rows

RECENTS_KEPT = 10


class PickRepo:
    def __init__(self, store: Store) -> None:
        self._s = store

    async def add_favourite(self, user_id: int, service: str, country: str | None = None) -> None:
        async with self._s.transaction() as conn:
            await ensure_user(conn, user_id, self._s.clock())
            await conn.execute(
                "INSERT OR IGNORE INTO favourites(user_id, service, country) VALUES (?, ?, ?)",
                (user_id, service, country or ""),
            )

    async def remove_favourite(
        self, user_id: int, service: str, country: str | None = None
    ) -> None:
        await self._s.write(
            "DELETE FROM favourites WHERE user_id = ? AND service = ? AND country = ?",
            (user_id, service, country or ""),
        )

    async def is_favourite(self, user_id: int, service: str, country: str | None = None) -> bool:
        rows = await read_rows(
            self._s,
            "SELECT 1 FROM favourites WHERE user_id = ? AND service = ? AND country = ?",
            (user_id, service, country or ""),
        )
        return bool(rows)

    async def favourite_choice(self, user_id: int, service: str, country: str) -> str | None:
        """The supplier/operator choice remembered on a favourite; None when not starred."""
        rows = await read_rows(
            self._s,
            "SELECT choice FROM favourites WHERE user_id = ? AND service = ? AND country = ?",
            (user_id, service, country),
        )
        return str(rows[0][0]) if rows else None

    async def set_favourite_choice(
        self, user_id: int, service: str, country: str, choice: str
    ) -> bool:
        """Remember the choice on the favourite; False when the pair is not starred."""
        changed = await self._s.write(
            "UPDATE favourites SET choice = ? WHERE user_id = ? AND service = ? AND country = ?",
            (choice, user_id, service, country),
        )
        return changed == 1

    async def favourites(self, user_id: int) -> list[tuple[str, str | None]]:
        rows = await read_rows(
            self._s,
            "SELECT service, country FROM favourites WHERE user_id = ? ORDER BY service, country",
            (user_id,),
        )
        return [(row[0], row[1] or None) for row in rows]

    async def add_recent(self, user_id: int, service: str, country: str) -> None:
        """Move (service, country) to the front and keep only the last RECENTS_KEPT. A pick
        at the front already (the same number bought again, the usual case) costs one read
        and no write."""
        if await self.recents(user_id, limit=1) == [(service, country)]:
            return
        # OR IGNORE: a pick another session is adding at this moment (its row not yet
        # committed) is the same front entry, not a unique violation after the money is spent.
        async with self._s.transaction() as conn:
            await ensure_user(conn, user_id, self._s.clock())
            await conn.execute(
                "DELETE FROM recents WHERE user_id = ? AND service = ? AND country = ?",
                (user_id, service, country),
            )
            await conn.execute(
                "INSERT OR IGNORE INTO recents(user_id, service, country) VALUES (?, ?, ?)",
                (user_id, service, country),
            )
            await conn.execute(
                "DELETE FROM recents WHERE user_id = ? AND id NOT IN ("
                " SELECT id FROM recents WHERE user_id = ? ORDER BY id DESC LIMIT ?)",
                (user_id, user_id, RECENTS_KEPT),
            )

    async def recents(self, user_id: int, limit: int = 5) -> list[tuple[str, str]]:
        rows = await read_rows(
            self._s,
            "SELECT service, country FROM recents WHERE user_id = ? ORDER BY id DESC LIMIT ?",
            (user_id, limit),
        )
        return [(row[0], row[1]) for row in rows]

    async def favourites_and_recents(
        self, user_id: int, recent_limit: int = 5
    ) -> tuple[list[tuple[str, str | None]], list[tuple[str, str]]]:
        """`favourites(user_id)` and `recents(user_id, recent_limit)` in one read: the services
        screen needs both on every page-0 tap."""
        rows = await read_rows(
            self._s,
            # The outer ORDER BY: favourites by (service, country), then recents newest first.
            "SELECT 0 AS kind, service, country, 0 AS seq FROM favourites WHERE user_id = ?"
            " UNION ALL "
            "SELECT 1, service, country, id FROM ("
            " SELECT id, service, country FROM recents WHERE user_id = ?"
            " ORDER BY id DESC LIMIT ?)"
            " ORDER BY kind, seq DESC, service, country",
            (user_id, user_id, recent_limit),
        )
        favourites = [(row[1], row[2] or None) for row in rows if row[0] == 0]
        recents = [(row[1], row[2]) for row in rows if row[0] == 1]
        return favourites, recents
