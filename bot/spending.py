"""Spending at a glance: what a period cost, per currency, and its chart.

What counts (read from the stored statuses; the same rules the tracker stores them by, see
`bot.activation_status`):
- A one-time number is charged when it is bought, on the day it was bought. With a code it was
  paid for ("code"). Ended without a code (cancelled or expired) its money came back
  ("refunded", `bot.activation_status.refunded`). Still live without a code, the money is held
  and may yet come back ("waiting").
- A rental is paid per period: the first rent and each extension, each on the day it was paid
  ("rented"). A cancelled rental got its rent back (the provider allows a cancel only in its
  first minutes, before any SMS): its first period counts as "refunded"; an extension is paid
  time and is never refunded.
- charged = everything paid in the period; refunded = what came back of it; spent = charged −
  refunded. A price that was not known when paid counts the number, not the money (`unpriced`).
- codes = the codes one-time numbers received (an "another code" round counts again);
  cost per code = what the numbers with a code cost ÷ their codes (priced ones only).
- Currencies are kept apart: every figure is per currency, never added across them.

Days are the user's: a period runs from local midnight to local midnight in their time zone.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum

from bot.charts import Panel, Series, StackedBars, can_draw, render_stacked_bars
from bot.errors import Stale
from bot.i18n import Translate
from storage import Database
from storage.models import ACTIVATION_ENDED
from storage.spending import (
    SLOT_SECONDS,
    SpendingGroups,
    SpendingKey,
)

__all__ = [
    "EARLIEST",
    "MAX_BACK",
    "MAX_DAYS",
    "OUTCOMES",
    "CurrencySpending",
    "Outcome",
    "Period",
    "PeriodError",
    "PeriodKind",
    "Ranked",
    "SpendingKey",
    "SpendingReport",
    "SpendingService",
    "activation_outcome",
    "aggregate",
    "chart_texts",
    "drawable",
    "parse_period",
    "rental_outcome",
    "spending_chart",
]

# A custom period spans a year at most; weeks and months go back this many steps at most.
MAX_DAYS = 366
MAX_BACK = 520
# No period starts before this day (nothing was bought then; it bounds crafted buttons too).
EARLIEST = date(2000, 1, 1)
# Top services and countries shown per currency.
TOP = 3
# Charts drawn at once (each takes a worker thread and ~1 s of CPU); more taps wait their turn.
MAX_RENDERS = 2


class Outcome(StrEnum):
    """What became of money paid; the chart stacks the bars in this order."""

    CODE = "code"
    RENTED = "rented"
    WAITING = "waiting"
    REFUNDED = "refunded"


OUTCOMES: tuple[Outcome, ...] = tuple(Outcome)
_COLORS = {
    Outcome.CODE: "#2e7d32",
    Outcome.RENTED: "#1565c0",
    Outcome.WAITING: "#f9a825",
    Outcome.REFUNDED: "#bdbdbd",
}


def activation_outcome(status: str, codes: int) -> Outcome:
    """A one-time number: a code means paid; ended without one, refunded; else waiting."""
    if codes > 0:
        return Outcome.CODE
    return Outcome.REFUNDED if status in ACTIVATION_ENDED else Outcome.WAITING


def rental_outcome(status: str, kind: str) -> Outcome:
    """A rental period: the first rent of a cancelled rental came back; the rest is paid."""
    return Outcome.REFUNDED if status == "cancelled" and kind == "rent" else Outcome.RENTED


# ------------------------------------------------------------------ periods


class PeriodKind(StrEnum):
    """The values travel in callback data."""

    WEEK = "w"
    MONTH = "m"
    CUSTOM = "c"


class PeriodError(ValueError):
    """Dates a user typed that make no period; `reason`: format | order | future | span |
    early."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Period:
    kind: PeriodKind
    first: date
    last: date  # inclusive

    @classmethod
    def week(cls, today: date, back: int = 0) -> Period:
        """The week (Monday to Sunday) `back` weeks before the one of `today`."""
        monday = today - timedelta(days=today.weekday()) - timedelta(weeks=_back(back))
        return cls(PeriodKind.WEEK, monday, monday + timedelta(days=6))

    @classmethod
    def month(cls, today: date, back: int = 0) -> Period:
        """The calendar month `back` months before the one of `today`."""
        index = today.year * 12 + today.month - 1 - _back(back)
        first = date(index // 12, index % 12 + 1, 1)
        following = date((index + 1) // 12, (index + 1) % 12 + 1, 1)
        return cls(PeriodKind.MONTH, first, following - timedelta(days=1))

    @classmethod
    def custom(cls, first: date, last: date, today: date) -> Period:
        """Two dates a user chose (or a button carries): checked, PeriodError when wrong."""
        if last < first:
            raise PeriodError("order")
        if first > today:
            raise PeriodError("future")
        if first < EARLIEST:
            raise PeriodError("early")
        if (last - first).days + 1 > MAX_DAYS:
            raise PeriodError("span")
        return cls(PeriodKind.CUSTOM, first, last)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def bounds(self, tz: tzinfo) -> tuple[float, float]:
        """[start, end) in epoch seconds: local midnight of the first day to the one after the
        last, in `tz` (a daylight-saving day is 23 or 25 hours long)."""
        return _midnight(self.first, tz), _midnight(self.last + timedelta(days=1), tz)


def _back(back: int) -> int:
    return min(max(back, 0), MAX_BACK)


def _midnight(day: date, tz: tzinfo) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})|(\d{1,2})\.(\d{1,2})\.(\d{4})")


def parse_period(text: str, today: date) -> Period:
    """Two dates in one message: `2026-11-01 2026-11-15` (or `01.11.2026 - 15.11.2026`), both
    days included. PeriodError: not exactly two real dates, the second before the first, a
    start in the future or before EARLIEST, or more than MAX_DAYS days."""
    found = _DATE.findall(text[:200])
    if len(found) != 2:
        raise PeriodError("format")
    days: list[date] = []
    for iso_y, iso_m, iso_d, dot_d, dot_m, dot_y in found:
        try:
            if iso_y:
                days.append(date(int(iso_y), int(iso_m), int(iso_d)))
            else:
                days.append(date(int(dot_y), int(dot_m), int(dot_d)))
        except ValueError:
            raise PeriodError("format") from None
    return Period.custom(days[0], days[1], today)


# ------------------------------------------------------------------ the summary


@dataclass(frozen=True, slots=True)
class Ranked:
    """A service or a country of the top list: how many numbers, and what they cost."""

    code: str
    numbers: int
    spent: Decimal


@dataclass(frozen=True, slots=True)
class CurrencySpending:
    currency: str | None  # None: neither the purchase nor its key said
    charged: Decimal
    refunded: Decimal
    waiting: Decimal  # part of `spent` that may still come back (numbers without a code yet)
    numbers: int  # numbers bought: one-time numbers and rentals (an extension is no number)
    codes: int
    cost_per_code: Decimal | None  # None: no priced number got a code
    top_services: tuple[Ranked, ...]
    top_countries: tuple[Ranked, ...]
    daily: Mapping[Outcome, tuple[Decimal, ...]]  # per outcome, what was paid each day

    @property
    def spent(self) -> Decimal:
        return self.charged - self.refunded


@dataclass(frozen=True, slots=True)
class SpendingReport:
    period: Period
    currencies: tuple[CurrencySpending, ...]  # the largest spend first
    unpriced: int  # numbers and periods whose price was not known: counted, not summed
    complete: bool  # False: a whole bot's period too large to read in full

    @property
    def empty(self) -> bool:
        return not self.currencies and not self.unpriced


@dataclass(slots=True)
class _Tally:
    """Sums of one currency while the groups are read."""

    days: int
    charged: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)
    waiting: Decimal = Decimal(0)
    numbers: int = 0
    codes: int = 0
    coded_cost: Decimal = Decimal(0)
    coded_codes: int = 0
    services: Counter[str] = field(default_factory=Counter)
    countries: Counter[str] = field(default_factory=Counter)
    service_spent: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    country_spent: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    daily: dict[Outcome, list[Decimal]] = field(default_factory=dict)

    def pay(self, outcome: Outcome, amount: Decimal, day: int, service: str, country: str) -> None:
        self.charged += amount
        kept = Decimal(0) if outcome == Outcome.REFUNDED else amount
        if outcome == Outcome.REFUNDED:
            self.refunded += amount
        if outcome == Outcome.WAITING:
            self.waiting += amount
        self.service_spent[service] += kept
        self.country_spent[country] += kept
        if 0 <= day < self.days:
            self.daily.setdefault(outcome, [Decimal(0)] * self.days)[day] += amount

    def count(self, service: str, country: str, numbers: int) -> None:
        self.numbers += numbers
        self.services[service] += numbers
        self.countries[country] += numbers

    def result(self, currency: str | None) -> CurrencySpending:
        per_code = self.coded_cost / self.coded_codes if self.coded_codes else None
        return CurrencySpending(
            currency=currency,
            charged=self.charged,
            refunded=self.refunded,
            waiting=self.waiting,
            numbers=self.numbers,
            codes=self.codes,
            cost_per_code=per_code,
            top_services=_top(self.services, self.service_spent),
            top_countries=_top(self.countries, self.country_spent),
            daily={o: tuple(self.daily[o]) for o in OUTCOMES if o in self.daily},
        )


def _top(counts: Counter[str], spent: Mapping[str, Decimal]) -> tuple[Ranked, ...]:
    ranked = sorted(counts, key=lambda code: (-counts[code], -spent.get(code, 0), code))
    return tuple(Ranked(code, counts[code], spent.get(code, Decimal(0))) for code in ranked[:TOP])


def _day_of_slot(period: Period, tz: tzinfo, start: float) -> Callable[[int], int]:
    """slot → index of the local day it falls in (cached: a period has few distinct slots)."""
    cache: dict[int, int] = {}

    def day(slot: int) -> int:
        if slot not in cache:
            moment = datetime.fromtimestamp(start + slot * SLOT_SECONDS, tz)
            cache[slot] = (moment.date() - period.first).days
        return cache[slot]

    return day


def aggregate(groups: SpendingGroups, period: Period, tz: tzinfo) -> SpendingReport:
    """The summary of what the repository read for `period` in `tz` (pure)."""
    start, _ = period.bounds(tz)
    day_of = _day_of_slot(period, tz, start)
    days = len(period.days())
    tallies: dict[str | None, _Tally] = {}
    unpriced = 0
    for a in groups.activations:
        tally = tallies.setdefault(a.currency, _Tally(days))
        tally.count(a.service, a.country, a.numbers)
        tally.codes += a.codes * a.numbers
        if a.cost is None:
            unpriced += a.numbers
            continue
        outcome = activation_outcome(a.status, a.codes)
        tally.pay(outcome, a.cost * a.numbers, day_of(a.slot), a.service, a.country)
        if outcome == Outcome.CODE:
            tally.coded_cost += a.cost * a.numbers
            tally.coded_codes += a.codes * a.numbers
    for r in groups.rentals:
        tally = tallies.setdefault(r.currency, _Tally(days))
        if r.kind == "rent":
            tally.count(r.service, r.country, r.periods)
        if r.cost is None:
            unpriced += r.periods
            continue
        outcome = rental_outcome(r.status, r.kind)
        tally.pay(outcome, r.cost * r.periods, day_of(r.slot), r.service, r.country)
    results = [tally.result(currency) for currency, tally in tallies.items()]
    results.sort(key=lambda c: (-c.charged, -c.numbers, c.currency or ""))
    return SpendingReport(period, tuple(results), unpriced, groups.complete)


# ------------------------------------------------------------------ the chart


@dataclass(frozen=True, slots=True)
class ChartTexts:
    """The chart's words, translated by the caller."""

    title: str
    empty: str
    outcomes: Mapping[Outcome, str]
    unknown_currency: str

    def all(self) -> Iterable[str]:
        yield self.title
        yield self.empty
        yield self.unknown_currency
        yield from self.outcomes.values()


def chart_texts(t: Translate, title: str) -> ChartTexts:
    """The chart's words in the language of `t` (spending.ftl)."""
    return ChartTexts(
        title=title,
        empty=t("spending-chart-empty"),
        outcomes={outcome: t(f"spending-outcome-{outcome}") for outcome in OUTCOMES},
        unknown_currency=t("spending-unknown-currency"),
    )


def drawable(texts: ChartTexts, fallback: ChartTexts | None) -> ChartTexts:
    """`texts` when the chart's font can draw every word of them, else `fallback` (reads the
    font: call it where the chart is drawn, off the event loop)."""
    if fallback is None or can_draw(*texts.all()):
        return texts
    return fallback


def spending_chart(report: SpendingReport, texts: ChartTexts) -> StackedBars:
    """Spend per day, one panel per currency, stacked by outcome (pure)."""
    days = tuple(day.strftime("%m-%d") for day in report.period.days())
    panels = tuple(
        Panel(
            title=currency.currency or texts.unknown_currency,
            unit=currency.currency or "",
            series=tuple(
                Series(
                    texts.outcomes[outcome], _COLORS[outcome], tuple(map(float, values))
                )  # floats for drawing only: every figure shown in text stays a Decimal
                for outcome, values in currency.daily.items()
            ),
        )
        for currency in report.currencies
        if currency.daily
    )
    return StackedBars(texts.title, days, panels, texts.empty)


# ------------------------------------------------------------------ the service


class SpendingService:
    """A user's spending (theirs only: every read is scoped by their id) and the whole bot's
    for the operator; charts drawn in worker threads, MAX_RENDERS at once."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], float] = time.time,
        *,
        render: Callable[[StackedBars], bytes] = render_stacked_bars,
        max_renders: int = MAX_RENDERS,
    ) -> None:
        self._db = db
        self._clock = clock
        self.render = render
        self._renders = asyncio.Semaphore(max_renders)

    def today(self, tz: tzinfo) -> date:
        return datetime.fromtimestamp(self._clock(), tz).date()

    async def keys(self, user_id: int) -> list[SpendingKey]:
        return await self._db.spending.keys(user_id)

    async def report(
        self, user_id: int, period: Period, tz: tzinfo, key_id: int | None = None
    ) -> SpendingReport:
        """The user's spending in `period` (their local days), overall or of one of their keys.
        Stale when `key_id` names no key this user bought with."""
        if key_id is not None and key_id not in {k.id for k in await self.keys(user_id)}:
            raise Stale()
        start, end = period.bounds(tz)
        groups = await self._db.spending.groups(start, end, user_id=user_id, key_id=key_id)
        return aggregate(groups, period, tz)

    async def whole_bot(self, days: int, tz: tzinfo = UTC) -> SpendingReport:
        """Every user's spending of the last `days` days (today included), anonymous."""
        today = self.today(tz)
        period = Period(PeriodKind.CUSTOM, today - timedelta(days=max(1, days) - 1), today)
        start, end = period.bounds(tz)
        return aggregate(await self._db.spending.groups(start, end, user_id=None), period, tz)

    async def chart(
        self, report: SpendingReport, texts: ChartTexts, fallback: ChartTexts | None = None
    ) -> bytes:
        """The report's chart as PNG bytes, drawn in a worker thread (off the event loop), in
        `texts` where the chart's font has their glyphs, else in `fallback` (English)."""
        async with self._renders:
            return await asyncio.to_thread(self._draw, report, texts, fallback)

    def _draw(
        self, report: SpendingReport, texts: ChartTexts, fallback: ChartTexts | None
    ) -> bytes:
        return self.render(spending_chart(report, drawable(texts, fallback)))
