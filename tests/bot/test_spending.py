"""Spending at a glance: figures of a seeded history, checked by hand.

The week of the main fixture (Monday 2027-01-11 to Sunday 2027-01-17, UTC), all in RUB:
  Mon  tg/Russia   18.00  one code, finished           -> code
  Tue  tg/Russia   18.00  two codes ("another code")   -> code
  Tue  wa/Russia   22.00  no code, cancelled           -> refunded
  Wed  rent tg/Russia 16.00, extended Thu for 16.00     -> rented 32.00
  Wed  rent wa/Ukraine 18.00, cancelled                 -> refunded
  Fri  go/USA(v)    4.80  no code yet, live             -> waiting
charged 112.80, refunded 40.00, spent 72.80 (4.80 of it waiting), 6 numbers, 3 codes,
cost per code (18 + 18) / 3 = 12.00.
"""

from __future__ import annotations

from datetime import UTC, date, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.errors import Stale
from bot.spending import (
    ChartTexts,
    Outcome,
    Period,
    PeriodError,
    PeriodKind,
    SpendingService,
    aggregate,
    parse_period,
    spending_chart,
)
from storage import Database
from storage.spending import SpendingGroups
from tests.spending_seed import at, bought, rented

USER = 111
OTHER = 222
WEEK = Period(PeriodKind.WEEK, date(2027, 1, 11), date(2027, 1, 17))
D = Decimal


async def _key(db: Database, user: int = USER, currency: str = "RUB") -> int:
    key = await db.keys.add(user, label=f"k{currency}", base_url="http://x", api_key="k" * 32)
    await db.keys.update_balance(user, key.id, D("100"), currency)
    return key.id


async def _seed_week(db: Database, clock: Any, key: int) -> None:
    await bought(db, user=USER, key=key, when=at("2027-01-11 10:00"), cost="18.00", codes=1,
                 end="finished")  # fmt: skip
    await bought(db, user=USER, key=key, when=at("2027-01-12 09:00"), cost="18.00", codes=2,
                 end="finished")  # fmt: skip
    await bought(db, user=USER, key=key, when=at("2027-01-12 11:00"), cost="22.00",
                 service="wa", end="cancelled")  # fmt: skip
    await rented(db, user=USER, key=key, when=at("2027-01-13 08:00"), cost="16.00",
                 extensions=((at("2027-01-14 08:00"), "16.00"),), clock=clock)  # fmt: skip
    await rented(db, user=USER, key=key, when=at("2027-01-13 12:00"), cost="18.00",
                 service="wa", country="1", end="cancelled")  # fmt: skip
    await bought(db, user=USER, key=key, when=at("2027-01-15 07:00"), cost="4.80",
                 service="go", country="12")  # fmt: skip


@pytest.fixture
def spending(tdb: Database, clock: Any) -> SpendingService:
    clock.now = at("2027-01-15 08:00")
    return SpendingService(tdb, clock)


async def test_totals_refunds_and_cost_per_code(
    tdb: Database, clock: Any, spending: SpendingService
) -> None:
    await _seed_week(tdb, clock, await _key(tdb))
    report = await spending.report(USER, WEEK, UTC)
    assert report.complete and report.unpriced == 0
    [rub] = report.currencies
    assert rub.currency == "RUB"
    assert rub.charged == D("112.80")
    assert rub.refunded == D("40.00")
    assert rub.spent == D("72.80")
    assert rub.waiting == D("4.80")
    assert (rub.numbers, rub.codes) == (6, 3)
    assert rub.cost_per_code == D("12.00")
    assert [(r.code, r.numbers, r.spent) for r in rub.top_services] == [
        ("tg", 3, D("68.00")),
        ("wa", 2, D("0")),
        ("go", 1, D("4.80")),
    ]
    assert [(r.code, r.numbers, r.spent) for r in rub.top_countries] == [
        ("0", 4, D("68.00")),
        ("12", 1, D("4.80")),
        ("1", 1, D("0")),
    ]
    zero = D(0)
    assert rub.daily == {
        Outcome.CODE: (D("18.00"), D("18.00"), zero, zero, zero, zero, zero),
        Outcome.RENTED: (zero, zero, D("16.00"), D("16.00"), zero, zero, zero),
        Outcome.WAITING: (zero, zero, zero, zero, D("4.80"), zero, zero),
        Outcome.REFUNDED: (zero, D("22.00"), D("18.00"), zero, zero, zero, zero),
    }


async def test_currencies_are_kept_apart(
    tdb: Database, clock: Any, spending: SpendingService
) -> None:
    rub_key, usd_key = await _key(tdb), await _key(tdb, currency="USD")
    await bought(tdb, user=USER, key=rub_key, when=at("2027-01-11 10:00"), cost="18.00",
                 codes=1, end="finished")  # fmt: skip
    await bought(tdb, user=USER, key=usd_key, when=at("2027-01-12 10:00"), cost="0.50",
                 currency="USD", codes=1, end="finished")  # fmt: skip
    # An older row without its own currency takes its key's.
    await bought(tdb, user=USER, key=usd_key, when=at("2027-01-12 11:00"), cost="0.25",
                 currency=None, end="expired")  # fmt: skip
    report = await spending.report(USER, WEEK, UTC)
    by_currency = {c.currency: c for c in report.currencies}
    assert set(by_currency) == {"RUB", "USD"}
    assert (by_currency["RUB"].charged, by_currency["RUB"].codes) == (D("18.00"), 1)
    usd = by_currency["USD"]
    assert (usd.charged, usd.refunded, usd.spent) == (D("0.75"), D("0.25"), D("0.50"))
    assert usd.cost_per_code == D("0.50") and usd.numbers == 2


async def test_a_price_not_known_counts_the_number_not_the_money(
    tdb: Database, spending: SpendingService
) -> None:
    key = await _key(tdb)
    await bought(tdb, user=USER, key=key, when=at("2027-01-11 10:00"), cost=None, codes=1,
                 end="finished")  # fmt: skip
    await bought(tdb, user=USER, key=key, when=at("2027-01-11 11:00"), cost="10.00", codes=1,
                 end="finished")  # fmt: skip
    report = await spending.report(USER, WEEK, UTC)
    [rub] = report.currencies
    assert report.unpriced == 1
    assert (rub.numbers, rub.codes, rub.charged) == (2, 2, D("10.00"))
    assert rub.cost_per_code == D("10.00")  # the priced number's code only


async def test_only_the_users_own_numbers_and_one_key_on_request(
    tdb: Database, clock: Any, spending: SpendingService
) -> None:
    first, second = await _key(tdb), await _key(tdb)
    stranger_key = await _key(tdb, user=OTHER)
    await bought(tdb, user=USER, key=first, when=at("2027-01-11 10:00"), cost="18.00", codes=1,
                 end="finished")  # fmt: skip
    await bought(tdb, user=USER, key=second, when=at("2027-01-11 11:00"), cost="7.00",
                 codes=1, end="finished")  # fmt: skip
    await bought(tdb, user=OTHER, key=stranger_key, when=at("2027-01-11 12:00"), cost="99.00",
                 codes=1, end="finished")  # fmt: skip
    overall = await spending.report(USER, WEEK, UTC)
    assert overall.currencies[0].charged == D("25.00")
    only_second = await spending.report(USER, WEEK, UTC, key_id=second)
    assert only_second.currencies[0].charged == D("7.00")
    assert [k.id for k in await spending.keys(USER)] == [first, second]
    with pytest.raises(Stale):  # another user's key: as if the button were out of date
        await spending.report(USER, WEEK, UTC, key_id=stranger_key)
    bot_wide = await spending.whole_bot(7)
    assert bot_wide.currencies[0].charged == D("124.00")
    assert bot_wide.period.last == date(2027, 1, 15)


async def test_period_edges_are_the_users_midnights(
    tdb: Database, spending: SpendingService
) -> None:
    """UTC+03:00: Sunday 23:30 local is still that week; Monday 00:10 local is the next one,
    though both are Sunday evening in UTC."""
    plus3 = timezone(timedelta(hours=3))
    key = await _key(tdb)
    await bought(tdb, user=USER, key=key, when=at("2027-01-17 23:30", plus3), cost="1.00",
                 codes=1, end="finished")  # fmt: skip
    await bought(tdb, user=USER, key=key, when=at("2027-01-18 00:10", plus3), cost="2.00",
                 codes=1, end="finished")  # fmt: skip
    await bought(tdb, user=USER, key=key, when=at("2027-01-11 00:00", plus3), cost="4.00",
                 codes=1, end="finished")  # fmt: skip
    this_week = await spending.report(USER, WEEK, plus3)
    assert this_week.currencies[0].charged == D("5.00")
    assert this_week.currencies[0].daily[Outcome.CODE][0] == D("4.00")  # Monday 00:00 local
    assert this_week.currencies[0].daily[Outcome.CODE][6] == D("1.00")  # Sunday 23:30 local
    next_week = Period.week(date(2027, 1, 18))
    assert (await spending.report(USER, next_week, plus3)).currencies[0].charged == D("2.00")
    # In UTC both evening purchases fall on Sunday of the first week.
    utc_week = await spending.report(USER, WEEK, UTC)
    assert utc_week.currencies[0].daily[Outcome.CODE][6] == D("3.00")


def test_a_daylight_saving_day_is_a_local_day() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    spring = Period(PeriodKind.CUSTOM, date(2027, 3, 28), date(2027, 3, 28))
    start, end = spring.bounds(berlin)
    assert end - start == 23 * 3600
    assert start == at("2027-03-27 23:00")  # midnight CET is 23:00 UTC the day before


def test_weeks_and_months_step_back_in_the_calendar() -> None:
    today = date(2027, 1, 15)  # a Friday
    assert Period.week(today) == Period(PeriodKind.WEEK, date(2027, 1, 11), date(2027, 1, 17))
    assert Period.week(today, 2).first == date(2026, 12, 28)
    assert Period.month(today) == Period(PeriodKind.MONTH, date(2027, 1, 1), date(2027, 1, 31))
    assert Period.month(today, 1) == Period(PeriodKind.MONTH, date(2026, 12, 1), date(2026, 12, 31))
    assert Period.month(date(2028, 3, 31), 1).last == date(2028, 2, 29)
    assert len(Period.month(today, 11).days()) == 28  # February 2026


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("2027-01-01 2027-01-10", date(2027, 1, 1), date(2027, 1, 10)),
        ("01.01.2027 - 10.01.2027", date(2027, 1, 1), date(2027, 1, 10)),
        ("from 2026-12-31 to 2027-1-2", date(2026, 12, 31), date(2027, 1, 2)),
        ("2027-01-15 2027-01-15", date(2027, 1, 15), date(2027, 1, 15)),
    ],
)
def test_two_dates_make_a_period(text: str, first: date, last: date) -> None:
    period = parse_period(text, today=date(2027, 1, 15))
    assert (period.kind, period.first, period.last) == (PeriodKind.CUSTOM, first, last)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("yesterday", "format"),
        ("2027-01-01", "format"),
        ("2027-01-01 2027-01-02 2027-01-03", "format"),
        ("2027-02-30 2027-03-01", "format"),
        ("2027-01-10 2027-01-01", "order"),
        ("2027-02-01 2027-02-10", "future"),
        ("2025-01-01 2027-01-01", "span"),
        ("1999-12-30 1999-12-31", "early"),
    ],
)
def test_dates_that_make_no_period(text: str, reason: str) -> None:
    with pytest.raises(PeriodError) as caught:
        parse_period(text, today=date(2027, 1, 15))
    assert caught.value.reason == reason


async def test_the_chart_data_stacks_outcomes_per_currency(
    tdb: Database, clock: Any, spending: SpendingService
) -> None:
    await _seed_week(tdb, clock, await _key(tdb))
    report = await spending.report(USER, WEEK, UTC)
    texts = ChartTexts("Title", "Nothing", {o: o.value.upper() for o in Outcome}, "?")
    chart = spending_chart(report, texts)
    assert chart.days == ("01-11", "01-12", "01-13", "01-14", "01-15", "01-16", "01-17")
    [panel] = chart.panels
    assert panel.title == "RUB"
    layers = {series.label: series.values for series in panel.series}
    assert list(layers) == ["CODE", "RENTED", "WAITING", "REFUNDED"]
    assert layers["REFUNDED"] == (0.0, 22.0, 18.0, 0.0, 0.0, 0.0, 0.0)
    empty = spending_chart(aggregate(SpendingGroups((), (), True), WEEK, UTC), texts)
    assert empty.panels == () and empty.empty == "Nothing"
