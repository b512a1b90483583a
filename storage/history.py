"""HistoryRepo: every activation and rental of one user as one list, newest first, filtered.

One row per number, whatever its kind, with its outcome decided in SQL (so that a filter, a
count and a page agree): a live number is "live"; an ended one that got a code (an activation's
code, a rental's SMS) is "code"; a cancelled one without is "refunded"; any other end without
a code is "expired". Every query is scoped by the owner's id.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from storage.base import Params, Store, id_list, money_out, sql_in
from storage.models import ACTIVATION_LIVE, RENTAL_LIVE

# The closed set of outcomes (values travel in callback data and exports).
HISTORY_OUTCOMES = ("live", "code", "refunded", "expired")
HISTORY_KINDS = ("activation", "rental")

_ACTIVATION_OUTCOME = (
    f"CASE WHEN a.status IN {sql_in(ACTIVATION_LIVE)} THEN 'live'"
    " WHEN EXISTS (SELECT 1 FROM activation_codes c WHERE c.activation_id = a.id) THEN 'code'"
    " WHEN a.status = 'cancelled' THEN 'refunded' ELSE 'expired' END"
)
_RENTAL_OUTCOME = (
    f"CASE WHEN a.status IN {sql_in(RENTAL_LIVE)} THEN 'live'"
    " WHEN EXISTS (SELECT 1 FROM rental_sms s WHERE s.rental_id = a.id) THEN 'code'"
    " WHEN a.status = 'cancelled' THEN 'refunded' ELSE 'expired' END"
)


@dataclass(frozen=True, slots=True)
class _Arm:
    """One kind's table as a branch of the history; both give the same columns (`a` is the
    alias of the number's table in either)."""

    kind: str
    table: str
    outcome: str  # SQL of the outcome
    currency: str  # SQL of the currency: the number's own, else its key's
    hours: str


_ARMS = (
    _Arm("activation", "activations", _ACTIVATION_OUTCOME, "COALESCE(a.currency, k.currency)", "0"),
    _Arm(
        "rental",
        "rentals",
        _RENTAL_OUTCOME,
        "COALESCE((SELECT p.currency FROM rental_periods p WHERE p.rental_id = a.id"
        " AND p.currency IS NOT NULL ORDER BY p.id LIMIT 1), k.currency)",
        "a.hours",
    ),
)
_COLUMNS = (
    "kind, id, service, country, phone, status, cost, currency, key_label, created_at,"
    " ended_at, hours, outcome"
)
# Distinct services / countries offered as filters: the most used first, bounded.
CHOICES_LIMIT = 12


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    """What the history shows: None = any. `since`/`until` bound `created_at` (epoch seconds)."""

    service: str | None = None
    country: str | None = None
    outcome: str | None = None
    since: float | None = None
    until: float | None = None

    def __post_init__(self) -> None:
        if self.outcome is not None and self.outcome not in HISTORY_OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}")


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One number of the history, either kind. `cost` is what it cost in all (a rental's
    periods together); `codes` the activation's codes, oldest first, or the rental's SMS count
    in `sms`."""

    kind: str  # activation | rental
    id: int
    service: str
    country: str
    phone: str
    status: str
    outcome: str  # live | code | refunded | expired
    cost: Decimal | None
    currency: str | None
    key_label: str | None
    created_at: float
    ended_at: float | None
    hours: int  # a rental's paid hours; 0 for an activation
    codes: tuple[str, ...] = ()
    sms: int = 0


def _arm_where(arm: _Arm, user_id: int, f: HistoryFilter) -> tuple[str, list[Any]]:
    """The WHERE of one branch: the owner first (the (user_id, created_at) index), then the
    filter; the outcome is computed only when it is filtered on."""
    terms: list[str] = ["a.user_id = ?"]
    params: list[Any] = [user_id]
    for column, value in (("a.service", f.service), ("a.country", f.country)):
        if value is not None:
            terms.append(f"{column} = ?")
            params.append(value)
    if f.outcome is not None:
        terms.append(f"({arm.outcome}) = ?")
        params.append(f.outcome)
    if f.since is not None:
        terms.append("a.created_at >= ?")
        params.append(f.since)
    if f.until is not None:
        terms.append("a.created_at < ?")
        params.append(f.until)
    return " WHERE " + " AND ".join(terms), params


def _arm_select(arm: _Arm, user_id: int, f: HistoryFilter, newest: int) -> tuple[str, list[Any]]:
    """The `newest` entries of one kind the filter selects, newest first: walked in index
    order and stopped there, so page one of a long history reads a handful of rows."""
    where, params = _arm_where(arm, user_id, f)
    sql = (
        f"SELECT * FROM (SELECT '{arm.kind}' AS kind, a.id AS id, a.service AS service,"
        " a.country AS country, a.phone AS phone, a.status AS status, a.cost AS cost,"
        f" {arm.currency} AS currency, k.label AS key_label, a.created_at AS created_at,"
        f" a.ended_at AS ended_at, {arm.hours} AS hours, {arm.outcome} AS outcome"
        f" FROM {arm.table} a LEFT JOIN api_keys k ON k.id = a.key_id{where}"
        " ORDER BY a.created_at DESC, a.id DESC LIMIT ?)"
    )
    return sql, [*params, newest]


class HistoryRepo:
    def __init__(self, store: Store) -> None:
        self._s = store

    async def count(self, user_id: int, f: HistoryFilter) -> int:
        parts: list[str] = []
        params: list[Any] = []
        for arm in _ARMS:
            where, arm_params = _arm_where(arm, user_id, f)
            parts.append(f"(SELECT COUNT(*) FROM {arm.table} a{where})")
            params += arm_params
        total = await self._s.scalar("SELECT " + " + ".join(parts), params)
        return int(total or 0)

    async def page(
        self, user_id: int, f: HistoryFilter, *, offset: int, limit: int
    ) -> list[HistoryEntry]:
        """`limit` entries from `offset`, newest first (ties: by kind, then the later row)."""
        newest = offset + limit  # neither kind can contribute more than this many
        arms = [_arm_select(arm, user_id, f, newest) for arm in _ARMS]
        rows = await self._s.fetchall(
            f"SELECT {_COLUMNS} FROM ({' UNION ALL '.join(sql for sql, _ in arms)})"
            " ORDER BY created_at DESC, kind, id DESC LIMIT ? OFFSET ?",
            [*(p for _, params in arms for p in params), limit, offset],
        )
        return await self._complete(rows)

    async def choices(self, user_id: int, column: str) -> list[str]:
        """The user's distinct services or countries, the most used first (CHOICES_LIMIT)."""
        if column not in ("service", "country"):
            raise ValueError(f"not a filter column: {column!r}")
        branches = " UNION ALL ".join(
            f"SELECT {column} AS value, COUNT(*) AS uses FROM {arm.table}"
            f" WHERE user_id = ? GROUP BY {column}"
            for arm in _ARMS
        )
        rows = await self._s.fetchall(
            f"SELECT value, SUM(uses) AS total FROM ({branches})"
            " GROUP BY value ORDER BY total DESC, value LIMIT ?",
            [user_id] * len(_ARMS) + [CHOICES_LIMIT],
        )
        return [str(row[0]) for row in rows]

    async def _complete(self, rows: list[Any]) -> list[HistoryEntry]:
        """Rows plus their codes, SMS counts and rental periods: one query each per batch."""
        activation_ids = [row[1] for row in rows if row[0] == "activation"]
        rental_ids = [row[1] for row in rows if row[0] == "rental"]
        codes: dict[int, list[str]] = defaultdict(list)
        sms: dict[int, int] = {}
        paid: dict[int, list[Decimal | None]] = defaultdict(list)
        if activation_ids:
            for activation_id, code in await self._fetch(
                "SELECT activation_id, code FROM activation_codes"
                " WHERE activation_id IN (SELECT value FROM json_each(?))"
                " ORDER BY activation_id, round",
                (id_list(activation_ids),),
            ):
                codes[activation_id].append(code)
        if rental_ids:
            ids = id_list(rental_ids)
            for rental_id, count in await self._fetch(
                "SELECT rental_id, COUNT(*) FROM rental_sms"
                " WHERE rental_id IN (SELECT value FROM json_each(?)) GROUP BY rental_id",
                (ids,),
            ):
                sms[rental_id] = int(count)
            for rental_id, cost in await self._fetch(
                "SELECT rental_id, cost FROM rental_periods"
                " WHERE rental_id IN (SELECT value FROM json_each(?)) ORDER BY rental_id, id",
                (ids,),
            ):
                paid[rental_id].append(money_out(cost))
        return [_entry(row, codes, sms, paid) for row in rows]

    async def _fetch(self, sql: str, params: Params) -> list[Any]:
        return list(await self._s.fetchall(sql, params))


def _rental_cost(own: Decimal | None, periods: list[Decimal | None]) -> Decimal | None:
    """What a rental cost in all: its periods' known prices together (as `Rental.paid_total`);
    its own price when no period was recorded."""
    if not periods:
        return own
    known = [cost for cost in periods if cost is not None]
    return sum(known, Decimal(0)) if known else None


def _entry(
    row: Any,
    codes: dict[int, list[str]],
    sms: dict[int, int],
    paid: dict[int, list[Decimal | None]],
) -> HistoryEntry:
    kind, number = str(row[0]), int(row[1])
    cost = money_out(row[6])
    if kind == "rental":
        cost = _rental_cost(cost, paid.get(number, []))
    return HistoryEntry(
        kind=kind,
        id=number,
        service=str(row[2]),
        country=str(row[3]),
        phone=str(row[4]),
        status=str(row[5]),
        outcome=str(row[12]),
        cost=cost,
        currency=row[7],
        key_label=row[8],
        created_at=float(row[9]),
        ended_at=None if row[10] is None else float(row[10]),
        hours=int(row[11] or 0),
        codes=tuple(codes.get(number, ())) if kind == "activation" else (),
        sms=sms.get(number, 0) if kind == "rental" else 0,
    )
