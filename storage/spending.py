"""SpendingRepo: what was paid in a period, grouped, for spending at a glance and /stats.

It reads the stored facts only (status, codes, rental period kind, price, currency); what
counts as spent, refunded or still waiting is decided from them by `bot.spending` (its
docstring states the rule), as the tracker stored them.

Reads only. Money is summed by the caller, exactly, with Decimal: SQLite's SUM would turn the
TEXT prices into floats, so rows are grouped by their price text instead (one group per
distinct price), and the caller multiplies. Everything else a summary needs (the number's
state, its codes, its key, service and country) is a group column, so the groups are at most
as many as the rows, and far fewer over a long period.

Time: each group carries its `slot`, the quarter of an hour since the period's start in which
the money was paid (a one-time number when it was bought, a rental period when it was paid).
Every time zone's offset and every daylight-saving jump is a multiple of 15 minutes, so one
slot never spans two days of any zone: the caller maps slots to the user's local days.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from storage.base import Store, money_out

SLOT_SECONDS = 900
# Groups read at most per kind and period: a summary of a whole bot's month stays bounded.
MAX_GROUPS = 20_000
# Keys offered in the per-key picker at most (a user has a handful).
MAX_KEYS = 20


@dataclass(frozen=True, slots=True)
class ActivationGroup:
    """One-time numbers bought in one slot with the same state, codes, key, place and price."""

    slot: int
    status: str
    codes: int  # codes each of these numbers received
    key_id: int
    service: str
    country: str
    cost: Decimal | None  # None: the price was not known when it was bought
    currency: str | None
    numbers: int


@dataclass(frozen=True, slots=True)
class RentalPeriodGroup:
    """Rental periods (a first rent or an extension) paid in one slot, grouped the same way."""

    slot: int
    status: str  # the rental's status
    kind: str  # rent | extend
    key_id: int
    service: str
    country: str
    cost: Decimal | None
    currency: str | None
    periods: int


@dataclass(frozen=True, slots=True)
class SpendingGroups:
    activations: tuple[ActivationGroup, ...]
    rentals: tuple[RentalPeriodGroup, ...]
    complete: bool  # False: more than MAX_GROUPS groups of a kind, the rest were not read


@dataclass(frozen=True, slots=True)
class SpendingKey:
    """A key the user bought with: offered in the per-key picker, deleted ones too."""

    id: int
    label: str
    deleted: bool


# The price's currency: the one stored with the purchase, else the key's (older rows).
_ACTIVATIONS_SQL = """
SELECT CAST((a.created_at - ?) / ? AS INTEGER) AS slot, a.status,
       (SELECT COUNT(*) FROM activation_codes c WHERE c.activation_id = a.id) AS codes,
       a.key_id, a.service, a.country, a.cost, COALESCE(a.currency, k.currency) AS paid_in,
       COUNT(*)
FROM activations a LEFT JOIN api_keys k ON k.id = a.key_id
WHERE a.created_at >= ? AND a.created_at < ? {scope}
GROUP BY slot, a.status, codes, a.key_id, a.service, a.country, a.cost, paid_in
ORDER BY slot
LIMIT ?
"""

_RENTALS_SQL = """
SELECT CAST((p.paid_at - ?) / ? AS INTEGER) AS slot, r.status, p.kind,
       r.key_id, r.service, r.country, p.cost, COALESCE(p.currency, k.currency) AS paid_in,
       COUNT(*)
FROM rental_periods p JOIN rentals r ON r.id = p.rental_id
LEFT JOIN api_keys k ON k.id = r.key_id
WHERE p.paid_at >= ? AND p.paid_at < ? {scope}
GROUP BY slot, r.status, p.kind, r.key_id, r.service, r.country, p.cost, paid_in
ORDER BY slot
LIMIT ?
"""


def _scope(table: str, user_id: int | None, key_id: int | None) -> tuple[str, tuple[int, ...]]:
    """The owner filter and its parameters: a user's rows (optionally one key's), or the
    whole bot's."""
    scope = ""
    params: tuple[int, ...] = ()
    if user_id is not None:
        scope, params = f" AND {table}.user_id = ?", (user_id,)
    if key_id is not None:
        scope, params = f"{scope} AND {table}.key_id = ?", (*params, key_id)
    return scope, params


class SpendingRepo:
    def __init__(self, store: Store) -> None:
        self._s = store

    async def groups(
        self,
        start: float,
        end: float,
        *,
        user_id: int | None,
        key_id: int | None = None,
    ) -> SpendingGroups:
        """What was paid in [start, end): one user's (and one key's), or, with user_id None,
        the whole bot's (the operator's view; no user id leaves this method)."""
        activation_rows = await self._read(_ACTIVATIONS_SQL, "a", start, end, user_id, key_id)
        rental_rows = await self._read(_RENTALS_SQL, "r", start, end, user_id, key_id)
        activations = tuple(
            ActivationGroup(
                int(row[0]),
                row[1],
                int(row[2]),
                int(row[3]),
                row[4],
                row[5],
                money_out(row[6]),
                row[7],
                int(row[8]),
            )
            for row in activation_rows[:MAX_GROUPS]
        )
        rentals = tuple(
            RentalPeriodGroup(
                int(row[0]),
                row[1],
                row[2],
                int(row[3]),
                row[4],
                row[5],
                money_out(row[6]),
                row[7],
                int(row[8]),
            )
            for row in rental_rows[:MAX_GROUPS]
        )
        complete = len(activation_rows) <= MAX_GROUPS and len(rental_rows) <= MAX_GROUPS
        return SpendingGroups(activations, rentals, complete)

    async def _read(
        self,
        sql: str,
        table: str,
        start: float,
        end: float,
        user_id: int | None,
        key_id: int | None,
    ) -> list[Any]:
        scope, owner = _scope(table, user_id, key_id)
        params = (start, SLOT_SECONDS, start, end, *owner, MAX_GROUPS + 1)
        return await self._s.fetchall(sql.format(scope=scope), params)

    async def keys(self, user_id: int) -> list[SpendingKey]:
        """The user's keys that bought something, oldest first (deleted ones keep their label)."""
        rows = await self._s.fetchall(
            "SELECT k.id, k.label, k.deleted_at IS NOT NULL FROM api_keys k"
            " WHERE k.user_id = ? AND (EXISTS (SELECT 1 FROM activations a WHERE a.key_id = k.id)"
            " OR EXISTS (SELECT 1 FROM rentals r WHERE r.key_id = k.id))"
            " ORDER BY k.id LIMIT ?",
            (user_id, MAX_KEYS),
        )
        return [SpendingKey(int(row[0]), row[1], bool(row[2])) for row in rows]
