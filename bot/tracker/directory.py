"""Users and key profiles as the tracker sees them: cached for a short while, shared by every
part of the tracker (one cache, so a part that learns a user blocked the bot tells them all).

A cached entry is re-read after `ttl`. Whether a user blocked the bot is read fresh wherever
money or a message depends on it (`fresh_user`, `blocked`); a refused message drops the entry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from storage import Database
from storage.models import KeyProfile, User


class Directory:
    def __init__(self, db: Database, clock: Callable[[], float], ttl: float) -> None:
        self._db = db
        self._clock = clock
        self._ttl = ttl
        # id -> (valid until, row); a None row means "no such user/key" (cached too).
        self._users: dict[int, tuple[float, User | None]] = {}
        self._keys: dict[int, tuple[float, KeyProfile | None]] = {}
        self._reading: dict[int, asyncio.Future[User | None]] = {}  # user reads in flight

    def cached_user(self, user_id: int) -> tuple[bool, User | None]:
        """(found in the cache, the user): no database call, for the hot path of a poll."""
        cached = self._users.get(user_id)
        if cached is not None and self._clock() < cached[0]:
            return True, cached[1]
        return False, None

    async def user(self, user_id: int) -> User | None:
        found, user = self.cached_user(user_id)
        if found:
            return user
        return await self.fresh_user(user_id)

    async def fresh_user(self, user_id: int) -> User | None:
        """Read from the database (and cache it): the notifier may have just marked the user.
        Callers asking at the same time share one read (a key's numbers share an owner)."""
        reading = self._reading.get(user_id)
        if reading is None:
            reading = asyncio.ensure_future(self._read_user(user_id))
            self._reading[user_id] = reading
        return await asyncio.shield(reading)

    async def _read_user(self, user_id: int) -> User | None:
        try:
            user = await self._db.users.get(user_id)
            self._users[user_id] = (self._clock() + self._ttl, user)
            return user
        finally:
            self._reading.pop(user_id, None)

    async def know_users(self, user_ids: list[int]) -> None:
        """Read these users together (at start, the owners of the live numbers): no job
        reads its owner alone the first time."""
        ids = sorted(set(user_ids))
        until = self._clock() + self._ttl
        found = {user.id: user for user in await self._db.users.get_many(ids)}
        for user_id in ids:
            self._users[user_id] = (until, found.get(user_id))

    def forget_user(self, user_id: int) -> None:
        """The user's settings or blocked flag may have changed: read them next time."""
        self._users.pop(user_id, None)

    def know_keys(self, keys: list[KeyProfile]) -> None:
        """Keys just read together (at start): no key's first job reads its own again."""
        until = self._clock() + self._ttl
        for key in keys:
            self._keys[key.id] = (until, key)

    async def key(self, key_id: int) -> KeyProfile | None:
        cached = self._keys.get(key_id)
        if cached is not None and self._clock() < cached[0]:
            return cached[1]
        key = await self._db.keys.get_any(key_id)
        self._keys[key_id] = (self._clock() + self._ttl, key)
        return key

    async def blocked(self, user_id: int) -> bool:
        """Read fresh: the notifier may have just marked the user."""
        user = await self.fresh_user(user_id)
        return user is not None and user.blocked

    async def blocked_cached(self, user_id: int) -> bool:
        """Blocked? A cached "not blocked" is trusted (a refused message drops it); a cached
        "blocked" is read again, so a user who came back gets their codes at once."""
        user = await self.user(user_id)
        if user is None or not user.blocked:
            return False
        return await self.blocked(user_id)
