"""Catalog handling: parse and index a whole-table getPrices answer, render pages from the cache.

    python -m benchmarks.catalog                 # 200 countries x 500 services
    python -m benchmarks.catalog --quick
    python -m benchmarks.catalog --countries 300 --services 800 --repeat 20

Parse is the project's own path for an HTTP answer: `parsing.screen` (HTML/Cloudflare
sniffing, JSON) then `parsing.parse_prices`. Index is `bot.catalog.index_prices` plus the
per-service ordering a page needs (`PriceIndex.service_rows`), measured for the first service
(what one tap costs) and for every service, each run on a freshly parsed table (parse_prices
converts entries lazily, so an index step pays the Decimal/PriceInfo conversions of the rows it
reads). "filtered answer" is the same pipeline on the ~200-entry answer a provider that honours
the `service` filter sends. Pages are `handlers.activation.views.render_services_page` and
`render_countries_page`, fed from an indexed cache, with the English translator.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks.common import format_table, percentile, say, write_results


def generate_prices(countries: int, services: int, seed: int = 1) -> tuple[str, list[str]]:
    """A getPrices answer as providers send it when they ignore the service filter."""
    rng = random.Random(seed)
    codes = [f"s{i}" for i in range(services)]
    table = {
        str(country): {
            code: {
                "cost": round(rng.uniform(0.5, 60), 2),
                "count": rng.choice((0, rng.randint(1, 5000))),
            }
            for code in codes
        }
        for country in range(countries)
    }
    return json.dumps(table, separators=(",", ":")), codes


def timed(function: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    """Wall seconds of each call (first call included) and the last result."""
    seconds: list[float] = []
    result: Any = None
    for _ in range(repeat):
        result = None  # free the previous result before the clock starts, not inside the run
        started = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - started)
    return seconds, result


def timed_fresh(
    setup: Callable[[], Any], function: Callable[[Any], Any], repeat: int
) -> tuple[list[float], Any]:
    """Like `timed`, but each call gets a fresh, untimed `setup()` (e.g. a new parse, so
    conversions a lazy table memoises are paid inside every timed call, not only the first)."""
    seconds: list[float] = []
    result: Any = None
    for _ in range(repeat):
        result = prepared = None
        prepared = setup()
        started = time.perf_counter()
        result = function(prepared)
        seconds.append(time.perf_counter() - started)
    return seconds, result


def figures(name: str, seconds: list[float], target_ms: float | None) -> dict[str, Any]:
    median = statistics.median(seconds) * 1000
    return {
        "step": name,
        "runs": len(seconds),
        "min_ms": round(min(seconds) * 1000, 3),
        "median_ms": round(median, 3),
        "p95_ms": round((percentile(seconds, 95) or 0) * 1000, 3),
        "target_ms": target_ms,
        "meets_target": None if target_ms is None else median <= target_ms,
    }


def run(countries: int, services: int, repeat: int) -> dict[str, Any]:
    from bot.catalog import CountryOffer, index_prices
    from bot.i18n import Translator
    from bot.provider import parsing
    from bot.provider.models import Country, Service
    from handlers.activation.views import render_countries_page, render_services_page
    from storage.models import KeyProfile

    text, codes = generate_prices(countries, services)
    size = len(text.encode())

    def parse() -> Any:
        body = parsing.screen(parsing.Reply(200, {"Content-Type": "text/html"}, text))
        return parsing.parse_prices(body)

    parse_s, _ = timed(parse, repeat)

    def index_first(prices: Any) -> Any:
        index = index_prices(prices)
        index.service_rows(codes[0])
        return index

    def index_all(prices: Any) -> Any:
        index = index_prices(prices)
        for code in codes:
            index.service_rows(code)
        return index

    def parse_and_index() -> Any:
        index = index_prices(parse())
        index.service_rows(codes[0])
        index.covers_many_services()  # what CatalogService asks of every answer
        return index

    # Index steps start from a fresh parse each run: parse_prices converts entries lazily and
    # memoises them, so re-indexing one parsed table would time only cache hits.
    index_first_s, _ = timed_fresh(parse, index_first, repeat)
    index_all_s, index = timed_fresh(parse, index_all, max(3, repeat // 3))
    both_s, _ = timed(parse_and_index, repeat)

    # What a provider that honours the `service` filter sends (CatalogService always sends it).
    filtered_text = json.dumps(
        {country: {codes[0]: row[codes[0]]} for country, row in json.loads(text).items()},
        separators=(",", ":"),
    )

    def parse_and_index_filtered() -> Any:
        reply = parsing.Reply(200, {"Content-Type": "text/html"}, filtered_text)
        index = index_prices(parsing.parse_prices(parsing.screen(reply)))
        index.service_rows(codes[0])
        return index

    filtered_s, _ = timed(parse_and_index_filtered, repeat * 20)

    names = {
        str(c): Country(str(c), {"eng": f"Country {c}", "rus": f"Страна {c}"})
        for c in range(countries)
    }
    catalog_services = [Service(code, f"Service {code}") for code in codes]
    key = KeyProfile(
        id=1, user_id=1, label="bench", base_url="http://127.0.0.1/stubs/handler_api.php",
        api_key="x", active=True, balance=Decimal("100"), currency="643", created_at=0.0,
    )  # fmt: skip
    t = Translator().bind("en")
    offers: list[CountryOffer] = index.offers(codes[0], names)

    def service_page() -> Any:
        return render_services_page(t, catalog_services, 3)

    def country_page() -> Any:
        # What a tap on a service costs with warm caches: offers from the index, then the page.
        return render_countries_page(
            t, "en", key, codes[0], "Service s0", index.offers(codes[0], names), 1
        )

    render_repeat = repeat * 20
    service_page_s, _ = timed(service_page, render_repeat)
    country_page_s, _ = timed(country_page, render_repeat)
    steps = [
        figures("parse (screen + parse_prices)", parse_s, None),
        figures("index one service", index_first_s, None),
        figures(f"index all {services} services", index_all_s, None),
        figures("parse + index (one service)", both_s, 150.0),
        figures("parse + index, filtered answer", filtered_s, None),
        figures("render services page", service_page_s, 2.0),
        figures("render countries page (offers + page)", country_page_s, 2.0),
    ]
    return {
        "countries": countries,
        "services": services,
        "answer_bytes": size,
        "filtered_answer_bytes": len(filtered_text.encode()),
        "offers_in_stock_first_service": len(offers),
        "steps": steps,
    }


COLUMNS = [
    ("step", "step"),
    ("runs", "runs"),
    ("min_ms", "min ms"),
    ("median_ms", "median ms"),
    ("p95_ms", "p95 ms"),
    ("target_ms", "target ms"),
    ("meets_target", "ok"),
]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.catalog",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small table, few runs")
    parser.add_argument("--countries", type=int, default=None, help="countries (200)")
    parser.add_argument("--services", type=int, default=None, help="services (500)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per step (15)")
    parser.add_argument("--output", type=Path, default=None, help="JSON path")
    args = parser.parse_args(argv)
    countries = args.countries or (20 if args.quick else 200)
    services = args.services or (30 if args.quick else 500)
    repeat = args.repeat or (3 if args.quick else 15)
    data = run(countries, services, repeat)
    say(
        f"getPrices answer: {countries} countries x {services} services, "
        f"{data['answer_bytes'] / 1e6:.2f} MB"
    )
    say(format_table(data["steps"], COLUMNS))
    path = write_results("catalog", {"quick": args.quick, **data}, args.output)
    say(f"\nJSON: {path}")
    return data


if __name__ == "__main__":
    main()
