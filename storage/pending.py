"""PendingRepo: purchase intents.

An intent is written, and its token claimed, in ONE transaction before the provider is called:
a crash or a lost answer after that leaves an open intent (outcome NULL) that the tracker
reconciles until it resolves. A successful purchase stores its number and resolves the intent
in one transaction too (`resolve_in`, called by the activation and rental repositories).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from storage.base import Connection, Store, money_in, money_out, tx_write
from storage.models import INTENT_OUTCOMES, PENDING_KINDS, PendingPurchase
from storage.tokens import Claim, claim_priced_in
from storage.users import ensure_user

_COLUMNS = (
    "id, user_id, key_id, service, country, chat_id, created_at, kind, max_price,"
    " expected_cost, hours, rental_id, message_id, balance_before, unknown_at, outcome,"
    " provider_id, rent_snapshot"
)


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
        max_price=money_out(row[8]),
        expected_cost=money_out(row[9]),
        hours=row[10],
        rental_id=row[11],
        message_id=row[12],
        balance_before=money_out(row[13]),
        unknown_at=row[14],
        outcome=row[15],
        provider_id=row[16],
        rent_snapshot=_snapshot_out(row[17]),
    )


def _snapshot_out(raw: str | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    try:
        ids = json.loads(raw)
    except ValueError:
        return None  # unreadable: as if there were none (the balance alone decides)
    return tuple(str(i) for i in ids) if isinstance(ids, list) else None


async def resolve_in(
    conn: Connection, intent_id: int, outcome: str, provider_id: str | None, now: float
) -> bool:
    """Resolve an open intent inside an open transaction; False when it was resolved already."""
    if outcome not in INTENT_OUTCOMES:
        raise ValueError(f"unknown intent outcome {outcome!r}")
    changed = await tx_write(
        conn,
        "UPDATE pending_purchases SET outcome = ?, provider_id = ?, resolved_at = ?"
        " WHERE id = ? AND outcome IS NULL",
        (outcome, provider_id, now, intent_id),
    )
    return changed == 1


class PendingRepo:
    def __init__(self, store: Store) -> None:
        self._s = store

    async def open(
        self,
        *,
        token: str,
        offer: str,
        user_id: int,
        key_id: int,
        kind: str,
        service: str,
        country: str,
        chat_id: int | None,
        message_id: int | None = None,
        max_price: Decimal | None = None,
        expected_cost: Decimal | None = None,
        hours: int | None = None,
        rental_id: int | None = None,
    ) -> tuple[Claim, PendingPurchase | None]:
        """Claim the token and write the intent, in one transaction: ("ok", intent), or the
        reason nothing may be bought ("used" / "stale", None)."""
        if kind not in PENDING_KINDS:
            raise ValueError(f"unknown pending purchase kind {kind!r}")
        now = self._s.clock()
        async with self._s.transaction() as conn:
            claim, shown_price = await claim_priced_in(conn, token, user_id, offer, now)
            if claim != "ok":
                return claim, None
            if expected_cost is None:
                expected_cost = shown_price
            await ensure_user(conn, user_id, now)
            async with conn.execute(
                "INSERT INTO pending_purchases(user_id, key_id, service, country, chat_id, kind,"
                " created_at, token, max_price, expected_cost, hours, rental_id, message_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    user_id,
                    key_id,
                    service,
                    country,
                    chat_id,
                    kind,
                    now,
                    token,
                    money_in(max_price),
                    money_in(expected_cost),
                    hours,
                    rental_id,
                    message_id,
                ),
            ) as cur:
                intent_id = int(cur.lastrowid or 0)
        return "ok", PendingPurchase(
            id=intent_id,
            user_id=user_id,
            key_id=key_id,
            service=service,
            country=country,
            chat_id=chat_id,
            created_at=now,
            kind=kind,
            max_price=max_price,
            expected_cost=expected_cost,
            hours=hours,
            rental_id=rental_id,
            message_id=message_id,
        )

    async def add(
        self,
        *,
        user_id: int,
        key_id: int,
        service: str,
        country: str,
        chat_id: int | None = None,
        kind: str = "activation",
        message_id: int | None = None,
        balance_before: Decimal | None = None,
        created_at: float | None = None,
        unknown_at: float | None = None,
    ) -> PendingPurchase:
        """An intent without a token (tests, and operators repairing by hand); its outcome is
        taken as unknown from the moment it is written unless `unknown_at` says otherwise."""
        if kind not in PENDING_KINDS:
            raise ValueError(f"unknown pending purchase kind {kind!r}")
        now = self._s.clock() if created_at is None else created_at
        unknown = now if unknown_at is None else unknown_at
        async with self._s.transaction() as conn:
            await ensure_user(conn, user_id, now)
            async with conn.execute(
                "INSERT INTO pending_purchases(user_id, key_id, service, country, chat_id, kind,"
                " created_at, message_id, balance_before, unknown_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    user_id,
                    key_id,
                    service,
                    country,
                    chat_id,
                    kind,
                    now,
                    message_id,
                    money_in(balance_before),
                    unknown,
                ),
            ) as cur:
                pending_id = cur.lastrowid
        found = await self.get(int(pending_id or 0))
        assert found is not None
        return found

    async def get(self, intent_id: int) -> PendingPurchase | None:
        row = await self._s.fetchone(
            f"SELECT {_COLUMNS} FROM pending_purchases WHERE id = ?", (intent_id,)
        )
        return None if row is None else _pending(row)

    async def of_token(self, user_id: int, token: str) -> PendingPurchase | None:
        """This user's intent written under `token` (a repeated confirm tap asks how the first
        one is doing); None when no intent carries it."""
        row = await self._s.fetchone(
            f"SELECT {_COLUMNS} FROM pending_purchases WHERE token = ? AND user_id = ?"
            " ORDER BY id DESC LIMIT 1",
            (token, user_id),
        )
        return None if row is None else _pending(row)

    async def list_all(self) -> list[PendingPurchase]:
        """System: every open intent (no outcome yet), oldest first."""
        rows = await self._s.fetchall(
            f"SELECT {_COLUMNS} FROM pending_purchases WHERE outcome IS NULL ORDER BY id"
        )
        return [_pending(row) for row in rows]

    async def open_on_key(self, key_id: int, kind: str = "activation") -> int:
        """How many intents of `kind` on this key have no outcome yet."""
        count = await self._s.scalar(
            "SELECT COUNT(*) FROM pending_purchases WHERE key_id = ? AND kind = ?"
            " AND outcome IS NULL",
            (key_id, kind),
        )
        return int(count or 0)

    async def set_balance_before(self, intent_id: int, balance: Decimal) -> None:
        await self._s.side_write(
            "UPDATE pending_purchases SET balance_before = ? WHERE id = ?",
            (money_in(balance), intent_id),
        )

    async def set_rent_snapshot(self, intent_id: int, rent_ids: Iterable[str]) -> None:
        """The key's rental ids just before a rent (getRentList): reconciliation of a lost
        answer looks for the one id that is new since."""
        await self._s.write(
            "UPDATE pending_purchases SET rent_snapshot = ? WHERE id = ?",
            (json.dumps([str(i) for i in rent_ids]), intent_id),
        )

    async def mark_unknown(self, intent_id: int) -> None:
        """The provider call ended without a clear answer: reconciliation takes over now."""
        await self._s.write(
            "UPDATE pending_purchases SET unknown_at = ? WHERE id = ? AND outcome IS NULL",
            (self._s.clock(), intent_id),
        )

    async def resolve(
        self, pending_id: int, outcome: str = "unknown", provider_id: str | None = None
    ) -> bool:
        """Close an open intent with its outcome; False when it was closed already."""
        async with self._s.transaction() as conn:
            return await resolve_in(conn, pending_id, outcome, provider_id, self._s.clock())
