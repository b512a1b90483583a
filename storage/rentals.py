"""RentalRepo: rented numbers, their SMS, reminders and polling schedule."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from storage.base import Store, id_list, money_in, money_out, sql_in, tx_write
from storage.models import (
    RENTAL_ENDED,
    RENTAL_LIVE,
    RENTAL_STATUSES,
    Rental,
    RentalPeriod,
    RentalSms,
)
from storage.pending import resolve_in
from storage.users import ensure_user

_COLUMNS = (
    "id, user_id, key_id, provider_id, service, country, phone, hours, cost, status,"
    " created_at, ends_at, chat_id, message_id, next_poll_at, ended_at"
)
_PERIOD_COLUMNS = "rental_id, kind, hours, cost, currency, paid_at, ends_at"
_SMS_COLUMNS = "id, rental_id, dedup_key, phone_from, text, date, received_at, delivered"
_LIVE = sql_in(RENTAL_LIVE)
_ENDED = sql_in(RENTAL_ENDED)


def _rental(row: Any, reminders: frozenset[str], periods: tuple[RentalPeriod, ...] = ()) -> Rental:
    return Rental(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        None if row[8] is None else Decimal(row[8]),
        row[9],
        row[10],
        row[11],
        row[12],
        row[13],
        reminders,
        row[14],
        row[15],
        periods,
    )


def _period(row: Any) -> RentalPeriod:
    return RentalPeriod(row[1], int(row[2]), money_out(row[3]), row[4], row[5], row[6])


def _sms(row: Any) -> RentalSms:
    return RentalSms(row[0], row[1], row[2], row[3], row[4], row[5], row[6], bool(row[7]))


class RentalRepo:
    def __init__(self, store: Store) -> None:
        self._s = store

    # ---- loading -------------------------------------------------------------------------

    async def _with_reminders(self, rows: list[Any]) -> list[Rental]:
        """Attach reminder marks and paid periods to a batch of rows, ONE query each."""
        if not rows:
            return []
        ids = id_list(row[0] for row in rows)
        marks: dict[int, set[str]] = defaultdict(set)
        mark_rows = await self._s.fetchall(
            "SELECT rental_id, mark FROM rental_reminders"
            " WHERE rental_id IN (SELECT value FROM json_each(?))",
            (ids,),
        )
        for rental_id, mark in mark_rows:
            marks[rental_id].add(mark)
        periods: dict[int, list[RentalPeriod]] = defaultdict(list)
        period_rows = await self._s.fetchall(
            f"SELECT {_PERIOD_COLUMNS} FROM rental_periods"
            " WHERE rental_id IN (SELECT value FROM json_each(?)) ORDER BY rental_id, id",
            (ids,),
        )
        for period_row in period_rows:
            periods[period_row[0]].append(_period(period_row))
        return [
            _rental(row, frozenset(marks.get(row[0], ())), tuple(periods.get(row[0], ())))
            for row in rows
        ]

    async def _select(self, where: str, params: tuple[Any, ...] = ()) -> list[Rental]:
        rows = await self._s.fetchall(f"SELECT {_COLUMNS} FROM rentals {where}", params)
        return await self._with_reminders(rows)

    async def _one(self, where: str, params: tuple[Any, ...]) -> Rental | None:
        found = await self._select(where, params)
        return found[0] if found else None

    # ---- user-facing (scoped by owner) ---------------------------------------------------

    async def add(
        self,
        *,
        user_id: int,
        key_id: int,
        provider_id: str,
        service: str,
        country: str,
        phone: str,
        hours: int,
        cost: Decimal | None,
        created_at: float,
        ends_at: float,
        chat_id: int | None = None,
        next_poll_at: float | None = None,
        currency: str | None = None,
        intent_id: int | None = None,
    ) -> Rental:
        """Store a rented number with its first paid period (`cost` in `currency`); the same
        (key_id, provider_id) again returns the stored row and records nothing new.
        `intent_id`: the purchase intent it resolves, in the same transaction."""
        async with self._s.transaction() as conn:
            await ensure_user(conn, user_id, created_at)
            cur = await conn.execute(
                "INSERT OR IGNORE INTO rentals(user_id, key_id, provider_id, service, country,"
                " phone, hours, cost, status, created_at, ends_at, chat_id, next_poll_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?)",
                (
                    user_id,
                    key_id,
                    str(provider_id),
                    service,
                    country,
                    phone,
                    int(hours),
                    money_in(cost),
                    created_at,
                    ends_at,
                    chat_id,
                    created_at if next_poll_at is None else next_poll_at,
                ),
            )
            if cur.rowcount == 1:
                await tx_write(
                    conn,
                    "INSERT INTO rental_periods(rental_id, kind, hours, cost, currency, paid_at,"
                    " ends_at) VALUES (?, 'rent', ?, ?, ?, ?, ?)",
                    (cur.lastrowid, int(hours), money_in(cost), currency, created_at, ends_at),
                )
            await cur.close()
            if intent_id is not None:
                await resolve_in(conn, intent_id, "bought", str(provider_id), created_at)
        stored = await self.get_by_provider_id(key_id, str(provider_id))
        assert stored is not None
        return stored

    async def get(self, user_id: int, rental_id: int) -> Rental | None:
        return await self._one("WHERE id = ? AND user_id = ?", (rental_id, user_id))

    async def list_live(self, user_id: int) -> list[Rental]:
        return await self._select(
            f"WHERE user_id = ? AND status IN {_LIVE} ORDER BY created_at DESC, id DESC",
            (user_id,),
        )

    async def list_ended(
        self, user_id: int, offset: int = 0, limit: int = 10
    ) -> tuple[list[Rental], int]:
        total = await self._s.scalar(
            f"SELECT COUNT(*) FROM rentals WHERE user_id = ? AND status IN {_ENDED}", (user_id,)
        )
        page = await self._select(
            f"WHERE user_id = ? AND status IN {_ENDED} ORDER BY created_at DESC, id DESC"
            " LIMIT ? OFFSET ?",
            (user_id, limit, offset),
        )
        return page, int(total or 0)

    async def list_sms(
        self, user_id: int, rental_id: int, offset: int = 0, limit: int = 5
    ) -> tuple[list[RentalSms], int]:
        """One page of a rental's SMS, newest first, and the total; empty for another user."""
        owner_filter = "rental_id = (SELECT id FROM rentals WHERE id = ? AND user_id = ?)"
        total = await self._s.scalar(
            f"SELECT COUNT(*) FROM rental_sms WHERE {owner_filter}", (rental_id, user_id)
        )
        rows = await self._s.fetchall(
            f"SELECT {_SMS_COLUMNS} FROM rental_sms WHERE {owner_filter}"
            " ORDER BY id DESC LIMIT ? OFFSET ?",
            (rental_id, user_id, limit, offset),
        )
        return [_sms(row) for row in rows], int(total or 0)

    # ---- system (tracker, use cases after an ownership check) ----------------------------

    async def get_by_provider_id(self, key_id: int, provider_id: str) -> Rental | None:
        return await self._one("WHERE key_id = ? AND provider_id = ?", (key_id, str(provider_id)))

    async def get_any(self, rental_id: int) -> Rental | None:
        return await self._one("WHERE id = ?", (rental_id,))

    async def set_card(self, rental_id: int, chat_id: int, message_id: int) -> None:
        await self._s.write(
            "UPDATE rentals SET chat_id = ?, message_id = ? WHERE id = ?",
            (chat_id, message_id, rental_id),
        )

    async def set_status(
        self, rental_id: int, status: str, *, ended_at: float | None = None
    ) -> bool:
        """Move an active rental to `status`; False if it had already ended."""
        if status not in RENTAL_STATUSES:
            raise ValueError(f"unknown rental status {status!r}")
        if status in RENTAL_ENDED and ended_at is None:
            ended_at = self._s.clock()
        changed = await self._s.write(
            f"UPDATE rentals SET status = ?, ended_at = ? WHERE id = ? AND status IN {_LIVE}",
            (status, ended_at if status in RENTAL_ENDED else None, rental_id),
        )
        return changed == 1

    async def extend(
        self,
        rental_id: int,
        ends_at: float,
        hours_added: int,
        *,
        cost: Decimal | None = None,
        currency: str | None = None,
        intent_id: int | None = None,
    ) -> None:
        """Record a paid extension and what it cost (None: not known). Reminders are cleared
        because the end moved: the "1 hour left" reminder is due again before the new end.
        `intent_id`: the purchase intent it resolves, in the same transaction."""
        async with self._s.transaction() as conn:
            if intent_id is not None:
                await resolve_in(conn, intent_id, "bought", None, self._s.clock())
            await conn.execute(
                "UPDATE rentals SET ends_at = ?, hours = hours + ? WHERE id = ?",
                (ends_at, int(hours_added), rental_id),
            )
            await conn.execute(
                "INSERT INTO rental_periods(rental_id, kind, hours, cost, currency, paid_at,"
                " ends_at) VALUES (?, 'extend', ?, ?, ?, ?, ?)",
                (rental_id, int(hours_added), money_in(cost), currency, self._s.clock(), ends_at),
            )
            await conn.execute("DELETE FROM rental_reminders WHERE rental_id = ?", (rental_id,))

    async def add_reminder(self, rental_id: int, mark: str) -> bool:
        """Record that reminder `mark` was sent; False if it already had been."""
        changed = await self._s.write(
            "INSERT OR IGNORE INTO rental_reminders(rental_id, mark) VALUES (?, ?)",
            (rental_id, mark),
        )
        return changed == 1

    async def add_sms(
        self,
        rental_id: int,
        *,
        dedup_key: str,
        phone_from: str,
        text: str,
        date: str | None,
        received_at: float,
    ) -> RentalSms | None:
        """Store one SMS; None when this dedup_key is already stored for the rental."""
        async with (
            self._s.lock,
            self._s.conn.execute(
                "INSERT OR IGNORE INTO rental_sms(rental_id, dedup_key, phone_from, text, date,"
                " received_at) VALUES (?, ?, ?, ?, ?, ?)",
                (rental_id, dedup_key, phone_from, text, date, received_at),
            ) as cur,
        ):
            if cur.rowcount != 1:
                return None
            sms_id = int(cur.lastrowid or 0)
        return RentalSms(sms_id, rental_id, dedup_key, phone_from, text, date, received_at, False)

    async def mark_sms_delivered(self, sms_id: int) -> None:
        await self._s.side_write("UPDATE rental_sms SET delivered = 1 WHERE id = ?", (sms_id,))

    async def undelivered_sms(self, rental_id: int) -> list[RentalSms]:
        rows = await self._s.fetchall(
            f"SELECT {_SMS_COLUMNS} FROM rental_sms WHERE rental_id = ? AND delivered = 0"
            " ORDER BY id",
            (rental_id,),
        )
        return [_sms(row) for row in rows]

    async def set_next_poll(self, rental_id: int, at: float) -> None:
        await self._s.side_write(
            "UPDATE rentals SET next_poll_at = ? WHERE id = ?", (at, rental_id)
        )

    async def due_for_poll(self, now: float, limit: int = 10000) -> list[Rental]:
        """System: active rentals whose next poll is due, most overdue first."""
        return await self._select(
            f"WHERE status IN {_LIVE} AND next_poll_at <= ? ORDER BY next_poll_at LIMIT ?",
            (now, limit),
        )

    async def live_for_key(self, key_id: int) -> list[Rental]:
        return await self._select(f"WHERE key_id = ? AND status IN {_LIVE} ORDER BY id", (key_id,))

    async def count_live(self) -> int:
        total = await self._s.scalar(f"SELECT COUNT(*) FROM rentals WHERE status IN {_LIVE}")
        return int(total or 0)
