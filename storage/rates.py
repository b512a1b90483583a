"""RatesRepo: how often the numbers this bot bought got a code, per country of one service.

Counts only, over every user: nothing here names a user, a key or a number.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.base import Store, sql_in
from storage.models import ACTIVATION_LIVE

_LIVE = sql_in(ACTIVATION_LIVE)
# The (service, created_at, country, status) index of schema version 9 covers the scan: one
# service's numbers of the window, and a primary-key probe of the codes for each.
TALLIES_SQL = (
    "SELECT country, COUNT(*), SUM(got_code) FROM ("
    " SELECT country, CASE WHEN EXISTS (SELECT 1 FROM activation_codes c"
    "  WHERE c.activation_id = activations.id) THEN 1 ELSE 0 END AS got_code, status"
    " FROM activations WHERE service = ? AND created_at >= ?"
    f") AS numbers WHERE got_code = 1 OR status NOT IN {_LIVE} GROUP BY country"
)


@dataclass(frozen=True, slots=True)
class OfferTally:
    """Numbers of one (service, country) bought since a moment, and how many got a code."""

    country: str
    bought: int
    delivered: int


class RatesRepo:
    def __init__(self, store: Store) -> None:
        self._s = store

    async def tallies(self, service: str, since: float) -> list[OfferTally]:
        """Per country of `service`, the numbers bought since `since` whose outcome is known:
        those that got a code, and those that ended without one. A number still waiting has
        not failed yet, so it is not counted (it would lower every fresh country's rate)."""
        rows = await self._s.fetchall(TALLIES_SQL, (service, since))
        return [OfferTally(str(row[0]), int(row[1]), int(row[2] or 0)) for row in rows]
