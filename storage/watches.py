"""WatchRepo: "tell me when <service> in <country> is in stock (at most <price>)".

A watch is armed until it fires once, expires or is removed. Firing is one conditional update
(armed → notified / buying), so a watch fires at most once whoever polls (two passes, two
processes): the one whose update changed the row tells the user, or buys.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Literal

from storage.base import Store, money_in, money_out, tx_fetchone, tx_write
from storage.users import ensure_user

ARMED: Final = "armed"
# What a watch became when it fired or ended: told (with a Buy button); an auto-buy under way,
# done, whose answer was lost (the purchase intent is reconciled like any other), or refused;
# expired unfired.
WatchState = Literal["armed", "notified", "buying", "bought", "checking", "failed", "expired"]
FIRED_STATES: Final = ("notified", "buying")
SETTLED_STATES: Final = ("bought", "checking", "failed")

_COLUMNS = (
    "w.id, w.user_id, w.key_id, w.service, w.country, w.max_price, w.auto_buy, w.chat_id,"
    " w.created_at, w.expires_at, w.state, w.fired_at, w.price, COALESCE(k.base_url, '')"
)
_FROM = "watches w LEFT JOIN api_keys k ON k.id = w.key_id"


@dataclass(frozen=True, slots=True)
class Watch:
    id: int
    user_id: int
    key_id: int
    service: str
    country: str
    max_price: Decimal | None  # None: any price
    auto_buy: bool  # buy one number at most max_price, once
    chat_id: int | None
    created_at: float
    expires_at: float
    state: str
    fired_at: float | None
    price: Decimal | None  # what it fired at
    base_url: str  # the watched key's provider: one poll per (base_url, service, country)

    @property
    def chat(self) -> int:
        return self.chat_id if self.chat_id is not None else self.user_id


def _watch(row: Any) -> Watch:
    return Watch(
        id=row[0],
        user_id=row[1],
        key_id=row[2],
        service=row[3],
        country=row[4],
        max_price=money_out(row[5]),
        auto_buy=bool(row[6]),
        chat_id=row[7],
        created_at=row[8],
        expires_at=row[9],
        state=row[10],
        fired_at=row[11],
        price=money_out(row[12]),
        base_url=row[13],
    )


class WatchRepo:
    def __init__(self, store: Store) -> None:
        self._s = store

    async def add(
        self,
        *,
        user_id: int,
        key_id: int,
        service: str,
        country: str,
        max_price: Decimal | None,
        auto_buy: bool,
        chat_id: int | None,
        expires_at: float,
        limit: int,
    ) -> Watch | None:
        """Arm a watch; a user's armed watch of the same (service, country) is replaced rather
        than doubled. None when the user already has `limit` armed watches."""
        now = self._s.clock()
        async with self._s.transaction() as conn:
            await ensure_user(conn, user_id, now)
            same = await tx_fetchone(
                conn,
                "SELECT id FROM watches WHERE user_id = ? AND service = ? AND country = ?"
                " AND state = 'armed' AND expires_at > ?",
                (user_id, service, country, now),
            )
            values = (key_id, money_in(max_price), int(auto_buy), chat_id, now, expires_at)
            if same is not None:
                await tx_write(
                    conn,
                    "UPDATE watches SET key_id = ?, max_price = ?, auto_buy = ?, chat_id = ?,"
                    " created_at = ?, expires_at = ? WHERE id = ?",
                    (*values, same[0]),
                )
                watch_id = int(same[0])
            else:
                armed = await tx_fetchone(
                    conn,
                    "SELECT COUNT(*) FROM watches WHERE user_id = ? AND state = 'armed'"
                    " AND expires_at > ?",
                    (user_id, now),
                )
                if armed is not None and int(armed[0]) >= limit:
                    return None
                async with conn.execute(
                    "INSERT INTO watches(key_id, max_price, auto_buy, chat_id, created_at,"
                    " expires_at, user_id, service, country) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*values, user_id, service, country),
                ) as cur:
                    assert cur.lastrowid is not None
                    watch_id = cur.lastrowid
            row = await tx_fetchone(
                conn, f"SELECT {_COLUMNS} FROM {_FROM} WHERE w.id = ?", (watch_id,)
            )
        return _watch(row)

    async def get(self, user_id: int, watch_id: int) -> Watch | None:
        """The user's own watch; None for anyone else's id."""
        row = await self._s.fetchone(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE w.id = ? AND w.user_id = ?",
            (watch_id, user_id),
        )
        return None if row is None else _watch(row)

    async def armed_of(self, user_id: int, now: float) -> list[Watch]:
        """The user's armed watches, the soonest to expire first."""
        rows = await self._s.fetchall(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE w.user_id = ? AND w.state = 'armed'"
            " AND w.expires_at > ? ORDER BY w.expires_at, w.id",
            (user_id, now),
        )
        return [_watch(row) for row in rows]

    async def remove(self, user_id: int, watch_id: int) -> bool:
        """Forget the user's own armed watch; False when there was none by that id."""
        changed = await self._s.write(
            "DELETE FROM watches WHERE id = ? AND user_id = ? AND state = 'armed'",
            (watch_id, user_id),
        )
        return changed == 1

    async def armed(self, now: float, limit: int) -> list[Watch]:
        """System: armed watches on keys still there, oldest first, at most `limit` (the
        poller's bound on one pass)."""
        rows = await self._s.fetchall(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE w.state = 'armed' AND w.expires_at > ?"
            " AND k.deleted_at IS NULL ORDER BY w.id LIMIT ?",
            (now, limit),
        )
        return [_watch(row) for row in rows]

    async def expire(self, now: float, limit: int) -> list[Watch]:
        """System: armed watches whose time is up become expired; returns those this call
        expired (at most `limit`), so each is told once."""
        async with self._s.transaction() as conn:
            async with conn.execute(
                f"SELECT {_COLUMNS} FROM {_FROM} WHERE w.state = 'armed' AND w.expires_at <= ?"
                " ORDER BY w.expires_at LIMIT ?",
                (now, limit),
            ) as cur:
                rows = list(await cur.fetchall())
            expired: list[Watch] = []
            for row in rows:
                if await tx_write(
                    conn,
                    "UPDATE watches SET state = 'expired', fired_at = ?"
                    " WHERE id = ? AND state = 'armed'",
                    (now, row[0]),
                ):
                    expired.append(_watch(row))
        return expired

    async def fire(self, watch_id: int, state: str, price: Decimal, now: float) -> bool:
        """System: armed → `state` ("notified" or "buying") at `price`; True for the one call
        that changed it (a watch fires once)."""
        if state not in FIRED_STATES:
            raise ValueError(f"not a firing state {state!r}")
        changed = await self._s.write(
            "UPDATE watches SET state = ?, fired_at = ?, price = ?"
            " WHERE id = ? AND state = 'armed' AND expires_at > ?",
            (state, now, money_in(price), watch_id, now),
        )
        return changed == 1

    async def settle(self, watch_id: int, state: str) -> None:
        """System: an auto-buy's result (bought, checking, failed)."""
        if state not in SETTLED_STATES:
            raise ValueError(f"not a settled state {state!r}")
        await self._s.write(
            "UPDATE watches SET state = ? WHERE id = ? AND state = 'buying'", (state, watch_id)
        )
