"""FeedRepo: the change feed, by which one process's use cases tell the tracker in another
which rows they changed (the database relay: no Redis needed). Rows are appended in batches,
read by id, and pruned after a short while (a reader that was away longer resyncs anyway)."""

from __future__ import annotations

from dataclasses import dataclass

from storage.base import Store, tx_write


@dataclass(frozen=True, slots=True)
class FeedEntry:
    id: int
    kind: str
    row_id: int


class FeedRepo:
    def __init__(self, store: Store) -> None:
        self._s = store

    async def append(self, entries: list[tuple[str, int]]) -> None:
        """(kind, row id) pairs, in one transaction."""
        if not entries:
            return
        now = self._s.clock()
        async with self._s.transaction() as conn:
            for kind, row_id in entries:
                await tx_write(
                    conn,
                    "INSERT INTO change_feed(kind, row_id, at) VALUES (?, ?, ?)",
                    (kind, row_id, now),
                )

    async def last_id(self) -> int:
        value = await self._s.scalar("SELECT COALESCE(MAX(id), 0) FROM change_feed")
        return int(value or 0)

    async def after(self, last_id: int, limit: int) -> list[FeedEntry]:
        rows = await self._s.fetchall(
            "SELECT id, kind, row_id FROM change_feed WHERE id > ? ORDER BY id LIMIT ?",
            (last_id, limit),
        )
        return [FeedEntry(int(r[0]), str(r[1]), int(r[2])) for r in rows]

    async def prune(self, before: float) -> int:
        async with self._s.transaction() as conn:
            return await tx_write(conn, "DELETE FROM change_feed WHERE at < ?", (before,))
