"""Users and key profiles as the tracker sees them: cached for a short while, shared by every
part of the tracker (one cache, so a part that learns a user blocked the bot tells them all).

A cached entry is re-read after `ttl`: the entries in use are read again together, in one
query for the users and one for the keys (`refresh`, behind the key jobs), so a poll finds its
owner and key cached (one read per user and per key each `ttl` cost 2 x keys / ttl database
round trips a second). Whether a user blocked the bot is read fresh wherever money or a message
depends on it (`fresh_user`, `blocked`); a refused message drops the entry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from storage import Database
from storage.models import KeyProfile, User

T = TypeVar("T")


class Directory:
    def __init__(self, db: Database, clock: Callable[[], float], ttl: float) -> None:
        self._db = db
        self._clock = clock
        self._ttl = ttl
        # id -> (valid until, row); a None row means "no such user/key" (cached too).
        self._users: dict[int, tuple[float, User | None]] = {}
        self._keys: dict[int, tuple[float, KeyProfile | None]] = {}
        self._reading: dict[int, asyncio.Future[User | None]] = {}  # user reads in flight
        # id -> when last looked up: what was used within a `ttl` is read again by `refresh`;
        # the rest drops out of the cache once expired.
        self._users_used: dict[int, float] = {}
        self._keys_used: dict[int, float] = {}

    def cached_user(self, user_id: int) -> tuple[bool, User | None]:
        """(found in the cache, the user): no database call, for the hot path of a poll."""
        now = self._clock()
        self._users_used[user_id] = now
        cached = self._users.get(user_id)
        if cached is not None and now < cached[0]:
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
        now = self._clock()
        self._keys_used[key_id] = now
        cached = self._keys.get(key_id)
        if cached is not None and now < cached[0]:
            return cached[1]
        key = await self._db.keys.get_any(key_id)
        self._keys[key_id] = (self._clock() + self._ttl, key)
        return key

    async def refresh(self) -> None:
        """Read again together the users and keys looked up within the last `ttl` whose
        entries expire within half a `ttl`; the others drop out once expired (the cache holds
        what the live numbers use, not everyone ever seen). Called often (every pass's
        bookkeeping): most calls read nothing."""
        now = self._clock()
        soon = now + self._ttl / 2
        users = _in_use(self._users, self._users_used, now - self._ttl, now)
        keys = _in_use(self._keys, self._keys_used, now - self._ttl, now)
        stale_users = _expiring(self._users, users, soon)
        if stale_users:
            read = {user.id: user for user in await self._db.users.get_many(list(stale_users))}
            _store(self._users, stale_users, read, self._clock() + self._ttl)
        stale_keys = _expiring(self._keys, keys, soon)
        if stale_keys:
            got = {key.id: key for key in await self._db.keys.get_many_any(list(stale_keys))}
            _store(self._keys, stale_keys, got, self._clock() + self._ttl)

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


Entry = tuple[float, T | None]


def _in_use(
    cache: dict[int, Entry[T]], used: dict[int, float], since: float, now: float
) -> list[int]:
    """The ids looked up since `since`; the others are forgotten (their entries once expired)."""
    for entry_id in [i for i, at in used.items() if at < since]:
        del used[entry_id]
        entry = cache.get(entry_id)
        if entry is not None and entry[0] <= now:
            del cache[entry_id]
    return list(used)


def _expiring(
    cache: dict[int, Entry[T]], used: list[int], soon: float
) -> dict[int, Entry[T] | None]:
    """The used entries expiring before `soon` or missing, each as cached now."""
    stale: dict[int, Entry[T] | None] = {}
    for entry_id in used:
        entry = cache.get(entry_id)
        if entry is None or entry[0] <= soon:
            stale[entry_id] = entry
    return stale


def _store(
    cache: dict[int, Entry[T]],
    stale: dict[int, Entry[T] | None],
    read: dict[int, T],
    until: float,
) -> None:
    """Cache what the refresh read, but not over an entry that changed while it read (dropped
    by a refused message, or read afresh): that one is newer."""
    for entry_id, before in stale.items():
        if cache.get(entry_id) is before:
            cache[entry_id] = (until, read.get(entry_id))
