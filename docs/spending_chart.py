"""Draw docs/spending-chart.png: the spending chart of a seeded month, as a user sees it.

    python -m docs.spending_chart                     # writes docs/spending-chart.png
    python -m docs.spending_chart --output /tmp/x.png --days 14
    python -m docs.spending_chart --lang zh --output docs/spending-chart-zh.png

The history is written into a fresh database through the real repositories, with the
sandbox's services, countries and prices (sandbox/catalog.py): one-time numbers that got a code
(some a second one), numbers cancelled or expired without one (refunded), a few still waiting
on the last day, rentals with extensions and one cancelled rental; two keys, one in roubles and
one in dollars, so the chart shows its currencies apart. The summary and the chart then come
from the same service the bot uses (bot.spending), rendered by bot.charts.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from cryptography.fernet import Fernet

from bot.charts import png_size
from bot.i18n import Translator
from bot.spending import Period, PeriodKind, SpendingService, chart_texts
from sandbox.catalog import COUNTRIES, SERVICES, seed_price, seed_rent_hour
from storage import Database, KeyCipher

OUTPUT = Path(__file__).resolve().parent / "spending-chart.png"
TODAY = date(2026, 11, 30)
USER = 1
USD_PER_RUB = Decimal("0.011")


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def _seed(db: Database, clock: _Clock, days: int, rng: random.Random) -> None:
    rub = await db.keys.add(
        USER, label="Grizzly", base_url="https://grizzlysms.com", api_key="r" * 32
    )
    usd = await db.keys.add(USER, label="Other", base_url="https://example.org", api_key="u" * 32)
    popular = SERVICES[:6]
    places = COUNTRIES[:8]
    serial = 0
    first = TODAY - timedelta(days=days - 1)
    for offset in range(days):
        day = first + timedelta(days=offset)
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        last_day = offset == days - 1
        for _ in range(rng.randint(1, 6)):
            serial += 1
            service, country = rng.choice(popular), rng.choice(places)
            in_dollars = rng.random() < 0.2
            price = seed_price(country, service)
            cost = (price * USD_PER_RUB).quantize(Decimal("0.01")) if in_dollars else price
            when = midnight + rng.randint(8 * 3600, 23 * 3600)
            activation = await db.activations.add(
                user_id=USER,
                key_id=(usd if in_dollars else rub).id,
                provider_id=f"a{serial}",
                service=service.code,
                country=country.id,
                phone=f"{country.dial}9000{serial:05d}",
                cost=cost,
                currency="USD" if in_dollars else "RUB",
                created_at=when,
                ends_at=when + 1200,
                cancel_allowed_at=when + 120,
            )
            roll = rng.random()
            if last_day and roll < 0.4:
                continue  # still waiting for its code
            if roll < 0.7:
                await db.activations.store_code(activation.id, 0, "12345", None, when + 60)
                if rng.random() < 0.15:
                    await db.activations.start_retry(activation.id, expected_round=0)
                    await db.activations.store_code(activation.id, 1, "67890", None, when + 300)
                await db.activations.set_status(activation.id, "finished", ended_at=when + 400)
            else:
                ended = "cancelled" if rng.random() < 0.6 else "expired"
                await db.activations.set_status(activation.id, ended, ended_at=when + 1200)
        if offset % 4 == 1:
            serial += 1
            service, country = rng.choice(popular), rng.choice(places[:3])
            hours = 24
            when = midnight + 10 * 3600
            rental = await db.rentals.add(
                user_id=USER,
                key_id=rub.id,
                provider_id=f"r{serial}",
                service=service.code,
                country=country.id,
                phone=f"{country.dial}8000{serial:05d}",
                hours=hours,
                cost=seed_rent_hour(country, service) * hours,
                currency="RUB",
                created_at=when,
                ends_at=when + hours * 3600,
            )
            if offset == 5:
                await db.rentals.set_status(rental.id, "cancelled", ended_at=when + 600)
            elif offset + 1 < days:
                clock.now = when + 20 * 3600  # the extension is paid the next morning
                price = seed_rent_hour(country, service) * hours
                await db.rentals.extend(rental.id, rental.ends_at + hours * 3600, hours,
                                        cost=price, currency="RUB")  # fmt: skip


async def draw(days: int, seed: int = 17, lang: str = "en") -> bytes:
    """Seed a history of `days` days ending on TODAY; its chart as PNG bytes."""
    end_of_today = datetime(TODAY.year, TODAY.month, TODAY.day, 22, tzinfo=UTC).timestamp()
    clock = _Clock(end_of_today)
    with tempfile.TemporaryDirectory() as tmp:
        cipher = KeyCipher([Fernet.generate_key().decode()])
        db = await Database.open(Path(tmp) / "history.db", cipher, clock=clock)
        try:
            await _seed(db, clock, days, random.Random(seed))
            clock.now = end_of_today
            spending = SpendingService(db, clock)
            period = Period(PeriodKind.CUSTOM, TODAY - timedelta(days=days - 1), TODAY)
            report = await spending.report(USER, period, UTC)
            t = Translator().bind(lang)
            span = t("spending-span", first=period.first.isoformat(), last=period.last.isoformat())
            texts = chart_texts(t, t("spending-chart-title", span=span))
            png = await spending.chart(report, texts)
        finally:
            await db.close()
    for currency in report.currencies:
        print(
            f"{currency.currency}: charged {currency.charged}, refunded {currency.refunded},"
            f" spent {currency.spent}, {currency.numbers} numbers, {currency.codes} codes,"
            f" per code {currency.cost_per_code and round(currency.cost_per_code, 2)}"
        )
    return png


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--lang", choices=("en", "ru", "zh"), default="en")
    args = parser.parse_args(argv)
    png = asyncio.run(draw(args.days, lang=args.lang))
    args.output.write_bytes(png)
    width, height = png_size(png)
    print(f"wrote {args.output} ({width}×{height})")


if __name__ == "__main__":
    main()
