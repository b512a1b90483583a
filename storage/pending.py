"""PendingRepo: purchases whose outcome was unknown; reconciliation resolves them."""

from __future__ import annotations

from typing import Any

from storage.base import Store
from storage.models import PENDING_KINDS, PendingPurchase
from storage.users import ensure_user

_COLUMNS = "id, user_id, key_id, service, country, chat_id, created_at, kind"


def _pending(row: Any) -> PendingPurchase:
    return PendingPurchase(
        id=row[0],
        user_id=row[1],
        key_id=row[2],
        service=row[3],
        country=row[4],
        chat_id=row[5],
        created_at=row[6],
        kind=row[7],
    )


class PendingRepo:
    def __init__(self, store: Store) -> None:
        self._s = store

    async def add(
        self,
        *,
        user_id: int,
        key_id: int,
        service: str,
        country: str,
        chat_id: int | None = None,
        kind: str = "activation",
    ) -> PendingPurchase:
        if kind not in PENDING_KINDS:
            raise ValueError(f"unknown pending purchase kind {kind!r}")
        now = self._s.clock()
        async with self._s.transaction() as conn:
            await ensure_user(conn, user_id, now)
            async with conn.execute(
                "INSERT INTO pending_purchases(user_id, key_id, service, country, chat_id, kind,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (user_id, key_id, service, country, chat_id, kind, now),
            ) as cur:
                pending_id = cur.lastrowid
        return PendingPurchase(
            id=int(pending_id or 0),
            user_id=user_id,
            key_id=key_id,
            service=service,
            country=country,
            chat_id=chat_id,
            created_at=now,
            kind=kind,
        )

    async def list_all(self) -> list[PendingPurchase]:
        """System: every unresolved pending purchase, oldest first."""
        rows = await self._s.fetchall(
            f"SELECT {_COLUMNS} FROM pending_purchases WHERE resolved_at IS NULL ORDER BY id"
        )
        return [_pending(row) for row in rows]

    async def resolve(self, pending_id: int) -> None:
        await self._s.write(
            "UPDATE pending_purchases SET resolved_at = ? WHERE id = ? AND resolved_at IS NULL",
            (self._s.clock(), pending_id),
        )
