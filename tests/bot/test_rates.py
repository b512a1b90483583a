"""Success rates from a seeded history: exact figures, the threshold, the 7-day window, the
best-chance order, and the short cache."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.catalog import CountryOffer
from bot.rates import CACHE_SECONDS, RatesService, SuccessRate, best_chance_first
from storage.rates import TALLIES_SQL
from tests.rates_seed import seed_rates


async def test_rates_from_the_seeded_week(services: Any, clock: Any) -> None:
    await seed_rates(services.db, clock())
    rates = await services.rates.for_service("tg")
    assert rates == {
        "15": SuccessRate(9, 12),  # the 2 still waiting are not failures yet
        "16": SuccessRate(8, 10),  # 6.5 days ago is inside the window
        "22": SuccessRate(5, 10),  # the 20 failures 8 days ago are outside it
    }
    assert [rates[c].percent for c in ("15", "16", "22")] == [75, 80, 50]
    assert "1" not in rates  # 9 samples: under the threshold of 10
    assert await services.rates.for_service("wa") == {"15": SuccessRate(0, 10)}
    assert await services.rates.for_service("nothing") == {}


async def test_threshold_and_window_are_configurable(services: Any, clock: Any) -> None:
    await seed_rates(services.db, clock())
    lenient = RatesService(services.db, clock, min_samples=9, window_days=9)
    rates = await lenient.for_service("tg")
    assert rates["1"] == SuccessRate(9, 9)
    assert rates["22"] == SuccessRate(5, 30)


async def test_rates_are_cached_briefly(services: Any, clock: Any) -> None:
    rates = services.rates
    assert await rates.for_service("tg") == {}
    await seed_rates(services.db, clock())
    assert await rates.for_service("tg") == {}  # cached
    clock.advance(CACHE_SECONDS + 1)
    assert len(await rates.for_service("tg")) == 3


def test_percent_rounds_half_up() -> None:
    assert SuccessRate(1, 8).percent == 13  # 12.5
    assert SuccessRate(2, 3).percent == 67
    assert SuccessRate(0, 10).percent == 0 and SuccessRate(10, 10).percent == 100


def test_best_chance_order() -> None:
    def offer(country: str, cost: str) -> CountryOffer:
        return CountryOffer(country, None, Decimal(cost), 5)

    cheapest_first = [offer("a", "1"), offer("b", "2"), offer("c", "3"), offer("d", "4")]
    rates = {"b": SuccessRate(5, 10), "c": SuccessRate(9, 10), "d": SuccessRate(10, 20)}
    ordered = best_chance_first(cheapest_first, rates)
    # c 90 %, then b and d at 50 % (the cheaper first), then a without a rate.
    assert [o.country for o in ordered] == ["c", "b", "d", "a"]


async def test_the_tally_reads_one_service_through_its_index(services: Any) -> None:
    async with services.db.connection.execute(
        f"EXPLAIN QUERY PLAN {TALLIES_SQL}", ("tg", 0.0)
    ) as cur:
        plan = " ".join(str(row[3]) for row in await cur.fetchall())
    assert "COVERING INDEX ix_activations_offer_time (service=? AND created_at>?)" in plan
