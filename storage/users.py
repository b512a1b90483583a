"""UserRepo: one row per Telegram user and their settings."""

from __future__ import annotations

from typing import Any

from storage.base import Params, Store, id_list
from storage.models import User

# The columns a User is read from (also by a query that joins users to another table).
USER_COLUMNS = (
    "id", "language", "auto_cancel", "auto_cancel_margin", "timezone", "blocked", "created_at",
    "suspended",
)  # fmt: skip
_COLUMNS = ", ".join(USER_COLUMNS)


def user_from_row(row: Any) -> User:
    """A User from the first len(USER_COLUMNS) values of `row`."""
    return User(
        id=row[0],
        language=row[1],
        auto_cancel=bool(row[2]),
        auto_cancel_margin=int(row[3]),
        timezone=row[4],
        blocked=bool(row[5]),
        created_at=row[6],
        suspended=bool(row[7]),
    )


async def read_rows(store: Store, sql: str, params: Params = ()) -> list[Any]:
    """A locked read in one round trip (kept for the repositories that import it)."""
    return await store.fetchall(sql, params)


async def read_row(store: Store, sql: str, params: Params = ()) -> Any:
    return await store.fetchone(sql, params)


class UserRepo:
    def __init__(self, store: Store) -> None:
        self._s = store

    async def get_or_create(self, user_id: int, language: str | None = None) -> User:
        """The language is only set when the user is created; later changes go through update.

        Every update calls this: a known user costs one read and no write."""
        known = await self.get(user_id)
        if known is not None:
            return known
        await self._s.write(
            "INSERT OR IGNORE INTO users(id, language, created_at) VALUES (?, ?, ?)",
            (user_id, language, self._s.clock()),
        )
        user = await self.get(user_id)
        assert user is not None  # just inserted (rows are never deleted)
        return user

    async def get(self, user_id: int) -> User | None:
        row = await read_row(self._s, f"SELECT {_COLUMNS} FROM users WHERE id = ?", (user_id,))
        return None if row is None else user_from_row(row)

    async def get_many(self, user_ids: list[int]) -> list[User]:
        """System: these users in one query (the tracker's directory, at start)."""
        if not user_ids:
            return []
        rows = await read_rows(
            self._s,
            f"SELECT {_COLUMNS} FROM users WHERE id IN (SELECT value FROM json_each(?))",
            (id_list(user_ids),),
        )
        return [user_from_row(row) for row in rows]

    async def update(
        self,
        user_id: int,
        *,
        language: Any = ...,
        auto_cancel: Any = ...,
        auto_cancel_margin: Any = ...,
        timezone: Any = ...,
    ) -> User:
        """Change only the fields given (`...` = leave as is; language=None = follow Telegram)."""
        changes: dict[str, Any] = {}
        if language is not ...:
            changes["language"] = language
        if auto_cancel is not ...:
            changes["auto_cancel"] = int(bool(auto_cancel))
        if auto_cancel_margin is not ...:
            changes["auto_cancel_margin"] = int(auto_cancel_margin)
        if timezone is not ...:
            changes["timezone"] = str(timezone)
        async with self._s.transaction() as conn:
            await conn.execute(
                "INSERT OR IGNORE INTO users(id, created_at) VALUES (?, ?)",
                (user_id, self._s.clock()),
            )
            if changes:
                assignments = ", ".join(f"{column} = ?" for column in changes)
                await conn.execute(
                    f"UPDATE users SET {assignments} WHERE id = ?", (*changes.values(), user_id)
                )
        user = await self.get(user_id)
        assert user is not None
        return user

    async def set_blocked(self, user_id: int, blocked: bool) -> None:
        """The user blocked the bot (Telegram answered Forbidden), or unblocked it."""
        await self._set_flag(user_id, "blocked", blocked)

    async def clear_blocked(self, user_id: int) -> bool:
        """The user is back (any update from them): True only for the call that found them
        marked, so a return is acted on once however many updates arrive together."""
        changed = await self._s.side_write(
            "UPDATE users SET blocked = 0 WHERE id = ? AND blocked = 1", (user_id,)
        )
        return changed == 1

    async def set_suspended(self, user_id: int, suspended: bool) -> None:
        """The operator's decision: a suspended user's updates are refused with a notice."""
        await self._set_flag(user_id, "suspended", suspended)

    async def _set_flag(self, user_id: int, column: str, value: bool) -> None:
        assert column in ("blocked", "suspended")
        async with self._s.transaction() as conn:
            await conn.execute(
                "INSERT OR IGNORE INTO users(id, created_at) VALUES (?, ?)",
                (user_id, self._s.clock()),
            )
            await conn.execute(
                f"UPDATE users SET {column} = ? WHERE id = ?", (int(bool(value)), user_id)
            )


async def ensure_user(conn: Any, user_id: int, now: float) -> None:
    """Inside a transaction: make sure the owner row exists (foreign keys are enforced)."""
    await conn.execute("INSERT OR IGNORE INTO users(id, created_at) VALUES (?, ?)", (user_id, now))
