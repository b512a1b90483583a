"""LeaseRepo: which tracker worker polls which API key.

A worker holds a key while its lease has not expired; it renews its leases every few seconds
and claims free or expired ones up to its share, so a worker that died loses its keys to the
others once its leases expire. Workers also announce themselves (`tracker_workers`), so each
knows how many share the keys.

Every claim runs in one transaction in the writers' queue (SQLite's BEGIN IMMEDIATE, the
write lock on PostgreSQL), so two workers never claim the same key, and its statement re-checks
each lease's expiry under the row's lock (the one place is `_CLAIM_SQL`). Renewals and
heartbeats are side writes (`Store.side_write`): guarded by the worker's own name, they need no
place in the writers' queue.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.base import Store, id_list, tx_fetchone, tx_write

# The one claim statement: keys with no lease or an expired one, lowest ids first, up to a
# limit, become this worker's. The conflict branch checks the expiry again, so a lease another
# worker claimed or renewed meanwhile is never taken (on PostgreSQL the row is re-read after
# the other transaction commits). Faster there: the SELECT with `FOR UPDATE OF l SKIP LOCKED`.
_CLAIM_SQL = """
INSERT INTO key_leases(key_id, worker, expires_at)
SELECT k.id, ?, ? FROM api_keys k LEFT JOIN key_leases l ON l.key_id = k.id
WHERE l.key_id IS NULL OR l.expires_at <= ?
ORDER BY k.id LIMIT ?
ON CONFLICT(key_id) DO UPDATE SET worker = excluded.worker, expires_at = excluded.expires_at
WHERE key_leases.expires_at <= ?
"""

# The keys a worker holds, in id order (read outside a claim, and again inside one).
_HELD_SQL = "SELECT key_id FROM key_leases WHERE worker = ? ORDER BY key_id"


@dataclass(frozen=True, slots=True)
class Census:
    """How many keys there are, how many workers are alive to share them, and which of them
    is the oldest (the one that runs the work only one worker may do)."""

    keys: int
    workers: int
    eldest: str


class LeaseRepo:
    def __init__(self, store: Store) -> None:
        self._s = store

    async def heartbeat(self, worker: str, now: float, ttl: float) -> Census:
        """Say this worker is alive until `now + ttl`, forget workers that stopped saying so,
        and count keys and live workers. A newcomer is never the eldest while an older worker
        lives, so two workers are never both eldest (but for one that hangs past its ttl).

        Two side writes and a read, outside the writers' queue: a worker's row is written by
        that worker alone, and the census is one statement, so no transaction could make it
        more consistent (another worker's heartbeat may land just before or just after it)."""
        await self._s.side_write(
            "INSERT INTO tracker_workers(worker, since, expires_at) VALUES (?, ?, ?)"
            " ON CONFLICT(worker) DO UPDATE SET expires_at = excluded.expires_at",
            (worker, now, now + ttl),
        )
        await self._s.side_write("DELETE FROM tracker_workers WHERE expires_at <= ?", (now,))
        row = await self._s.fetchone(
            "SELECT (SELECT COUNT(*) FROM api_keys), (SELECT COUNT(*) FROM tracker_workers),"
            " (SELECT worker FROM tracker_workers ORDER BY since, worker LIMIT 1)"
        )
        return Census(keys=int(row[0]), workers=max(1, int(row[1])), eldest=str(row[2]))

    async def renew_and_claim(self, worker: str, now: float, ttl: float, share: int) -> list[int]:
        """Extend this worker's unexpired leases to `now + ttl`, then claim free or expired
        keys until it holds `share` of them; returns every key it holds. A lease that expired
        before the renewal is not extended (another worker may hold it now): claimed again
        only if it is still free.

        The renewal is a side write (`Store.side_write`): a lease's row is changed only by its
        holder's renewal and release (both guarded by the holder's name) and by a claim, whose
        statement re-checks the expiry under the row's lock (`_CLAIM_SQL`), so it lands as if
        just before or just after any claim. At 5,000 keys it rewrites 5,000 rows every few
        seconds: in the writers' queue it held every process's writes up for tens to hundreds
        of milliseconds. Only a claim, when a read sees a key to take, is a transaction."""
        await self._s.side_write(
            "UPDATE key_leases SET expires_at = ? WHERE worker = ? AND expires_at > ?",
            (now + ttl, worker, now),
        )
        await self._s.side_write(
            "DELETE FROM key_leases WHERE worker = ? AND expires_at <= ?", (worker, now)
        )
        held = await self._held(worker)
        if len(held) >= share or not await self._any_free(now):
            return held
        async with self._s.transaction() as conn:
            row = await tx_fetchone(
                conn, "SELECT COUNT(*) FROM key_leases WHERE worker = ?", (worker,)
            )
            missing = share - int(row[0])
            if missing > 0:
                await tx_write(conn, _CLAIM_SQL, (worker, now + ttl, now, missing, now))
            async with conn.execute(_HELD_SQL, (worker,)) as cur:
                return [int(r[0]) for r in await cur.fetchall()]

    async def _held(self, worker: str) -> list[int]:
        return [int(r[0]) for r in await self._s.fetchall(_HELD_SQL, (worker,))]

    async def _any_free(self, now: float) -> bool:
        """Whether some key has no lease or an expired one (what `_CLAIM_SQL` would take)."""
        row = await self._s.fetchone(
            "SELECT 1 FROM api_keys k LEFT JOIN key_leases l ON l.key_id = k.id"
            " WHERE l.key_id IS NULL OR l.expires_at <= ? LIMIT 1",
            (now,),
        )
        return row is not None

    async def release(self, worker: str, key_ids: list[int] | None = None) -> None:
        """Give up these leases (all of this worker's when None): another worker may claim
        them at once."""
        if key_ids is None:
            async with self._s.transaction() as conn:
                await tx_write(conn, "DELETE FROM key_leases WHERE worker = ?", (worker,))
                await tx_write(conn, "DELETE FROM tracker_workers WHERE worker = ?", (worker,))
            return
        await self._s.write(
            "DELETE FROM key_leases WHERE worker = ?"
            " AND key_id IN (SELECT value FROM json_each(?))",
            (worker, id_list(key_ids)),
        )

    async def holders(self, now: float) -> dict[int, str]:
        """key id -> the worker holding an unexpired lease on it (tests, diagnostics)."""
        rows = await self._s.fetchall(
            "SELECT key_id, worker FROM key_leases WHERE expires_at > ?", (now,)
        )
        return {int(r[0]): str(r[1]) for r in rows}
