"""UserDataRepo: what the bot keeps about one user, counted, and erased in one transaction.

The erase deletes rows, never just flags them: the connection runs with secure_delete, so the
deleted bytes are overwritten in the file, and a TRUNCATE checkpoint afterwards moves the last
page images out of the write-ahead log and empties it, so no earlier frame keeps a copy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from storage.base import Store, sql_in, tx_write
from storage.models import ACTIVATION_LIVE, RENTAL_LIVE

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UserDataCounts:
    keys: int  # stored keys, deleted ones whose row (label, maybe ciphertext) is kept included
    activations: int
    codes: int
    rentals: int
    rental_sms: int
    live_activations: int
    live_rentals: int
    open_purchases: int  # purchase intents still being settled
    favourites: int
    recents: int
    has_settings: bool  # the user's row: language, time zone, auto-cancel
    dialogue_states: int


_COUNTS_SQL = f"""
SELECT
    (SELECT COUNT(*) FROM api_keys WHERE user_id = ?1),
    (SELECT COUNT(*) FROM activations WHERE user_id = ?1),
    (SELECT COUNT(*) FROM activation_codes WHERE activation_id IN
        (SELECT id FROM activations WHERE user_id = ?1)),
    (SELECT COUNT(*) FROM rentals WHERE user_id = ?1),
    (SELECT COUNT(*) FROM rental_sms WHERE rental_id IN
        (SELECT id FROM rentals WHERE user_id = ?1)),
    (SELECT COUNT(*) FROM activations WHERE user_id = ?1 AND status IN {sql_in(ACTIVATION_LIVE)}),
    (SELECT COUNT(*) FROM rentals WHERE user_id = ?1 AND status IN {sql_in(RENTAL_LIVE)}),
    (SELECT COUNT(*) FROM pending_purchases WHERE user_id = ?1 AND outcome IS NULL),
    (SELECT COUNT(*) FROM favourites WHERE user_id = ?1),
    (SELECT COUNT(*) FROM recents WHERE user_id = ?1),
    (SELECT COUNT(*) FROM users WHERE id = ?1),
    (SELECT COUNT(*) FROM fsm_states WHERE user_id = ?1)
"""

# Children before parents (foreign keys are enforced); every statement binds the owner once.
_ERASE: tuple[str, ...] = (
    "DELETE FROM activation_codes WHERE activation_id IN"
    " (SELECT id FROM activations WHERE user_id = ?)",
    "DELETE FROM rental_sms WHERE rental_id IN (SELECT id FROM rentals WHERE user_id = ?)",
    "DELETE FROM rental_reminders WHERE rental_id IN (SELECT id FROM rentals WHERE user_id = ?)",
    "DELETE FROM rental_periods WHERE rental_id IN (SELECT id FROM rentals WHERE user_id = ?)",
    "DELETE FROM activations WHERE user_id = ?",
    "DELETE FROM rentals WHERE user_id = ?",
    "DELETE FROM pending_purchases WHERE user_id = ?",
    "DELETE FROM offer_tokens WHERE user_id = ?",
    "DELETE FROM favourites WHERE user_id = ?",
    "DELETE FROM recents WHERE user_id = ?",
    "DELETE FROM fsm_states WHERE user_id = ?",
    "DELETE FROM api_keys WHERE user_id = ?",
    "DELETE FROM users WHERE id = ?",
)


class StillLive(Exception):
    """The erase found a live number or an open purchase: nothing was deleted."""


class UserDataRepo:
    def __init__(self, store: Store) -> None:
        self._s = store

    async def counts(self, user_id: int) -> UserDataCounts:
        row = await self._s.fetchone(_COUNTS_SQL, (user_id,))
        assert row is not None  # a SELECT without FROM always returns its one row
        v = [int(value or 0) for value in row]
        return UserDataCounts(
            keys=v[0],
            activations=v[1],
            codes=v[2],
            rentals=v[3],
            rental_sms=v[4],
            live_activations=v[5],
            live_rentals=v[6],
            open_purchases=v[7],
            favourites=v[8],
            recents=v[9],
            has_settings=v[10] > 0,
            dialogue_states=v[11],
        )

    async def erase(self, user_id: int) -> int:
        """Delete every row of `user_id` in ONE transaction; the rows deleted. Refused
        (StillLive, nothing deleted) while a number is live or a purchase is open: the tracker
        must never lose the key of a number it still watches."""
        deleted = 0
        async with self._s.transaction() as conn:
            async with conn.execute(
                f"SELECT EXISTS (SELECT 1 FROM activations WHERE user_id = ?"
                f" AND status IN {sql_in(ACTIVATION_LIVE)})"
                f" OR EXISTS (SELECT 1 FROM rentals WHERE user_id = ?"
                f" AND status IN {sql_in(RENTAL_LIVE)})"
                " OR EXISTS (SELECT 1 FROM pending_purchases WHERE user_id = ?"
                " AND outcome IS NULL)",
                (user_id, user_id, user_id),
            ) as cur:
                row = await cur.fetchone()
            if row is not None and row[0]:
                raise StillLive()
            for statement in _ERASE:
                deleted += await tx_write(conn, statement, (user_id,))
        if not await self.checkpoint():
            log.warning("the log still holds erased pages: another reader kept it busy")
        return deleted

    async def checkpoint(self) -> bool:
        """Copy the log into the file and empty it: erased bytes leave no older copy behind.
        False when another connection's reader kept it from completing (the frames are then
        overwritten as the log is reused, and the next checkpoint empties it)."""
        async with self._s.lock, self._s.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cur:
            row = await cur.fetchone()
        return row is not None and int(row[0]) == 0
