"""Success rates: how often a (service, country) delivered a code to this bot's users lately.

From the bot's own history, all users together and anonymous (counts only): of the numbers
bought in the last days whose outcome is known, the share that got a code. A country shows its
rate once it has enough such numbers; "best chance" sorts the country list by it.

One service's tallies are one indexed query, kept for a short while (users flip pages and
toggle the sort) in a cache bounded by the number of services.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from bot.catalog import CountryOffer
from storage import Database

DAY = 24 * 3600.0
CACHE_SECONDS = 60.0
CACHE_SERVICES = 256


@dataclass(frozen=True, slots=True)
class SuccessRate:
    delivered: int
    bought: int

    @property
    def share(self) -> Fraction:
        return Fraction(self.delivered, self.bought)

    @property
    def percent(self) -> int:
        """Rounded half up to a whole percent, as the country list shows it."""
        return int(
            (Decimal(100 * self.delivered) / Decimal(self.bought)).to_integral_value(
                rounding=ROUND_HALF_UP
            )
        )


Rates = dict[str, SuccessRate]  # by country id: only countries with enough samples


def best_chance_first(offers: Sequence[CountryOffer], rates: Rates) -> list[CountryOffer]:
    """Countries with a known rate first, highest first (the cheaper one on a tie); those
    without enough samples after them, in the order they came (cheapest first)."""
    rated = [o for o in offers if o.country in rates]
    rated.sort(key=lambda o: (-rates[o.country].share, o.cost))
    return rated + [o for o in offers if o.country not in rates]


class RatesService:
    def __init__(
        self,
        db: Database,
        clock: Callable[[], float] = time.time,
        *,
        min_samples: int = 10,
        window_days: float = 7.0,
    ) -> None:
        self._db = db
        self._clock = clock
        self._min_samples = min_samples
        self._window = window_days * DAY
        self._cache: OrderedDict[str, tuple[float, Rates]] = OrderedDict()

    async def for_service(self, service: str) -> Rates:
        """The rates of `service` by country, for countries with at least `min_samples`."""
        now = self._clock()
        cached = self._cache.get(service)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            self._cache.move_to_end(service)
            return cached[1]
        tallies = await self._db.rates.tallies(service, now - self._window)
        rates = {
            t.country: SuccessRate(t.delivered, t.bought)
            for t in tallies
            if t.bought >= self._min_samples
        }
        self._cache[service] = (now, rates)
        self._cache.move_to_end(service)
        while len(self._cache) > CACHE_SERVICES:
            self._cache.popitem(last=False)
        return rates
