"""CatalogService: cached names and prices from the sandbox, the price index, flags, speed."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from bot.catalog import CatalogService, CountryOffer, index_prices
from bot.flags import FALLBACK_FLAG, country_flag, flag_from_iso, iso_for_name
from bot.i18n import Translator
from bot.provider.models import Country, PriceInfo
from storage import Database, KeyProfile


def requests_of(sandbox: Any, action: str) -> int:
    return sum(1 for r in sandbox.state.requests if r["action"] == action)


@pytest.fixture
def catalog(tproviders: Any, clock: Any) -> CatalogService:
    return CatalogService(tproviders, clock=clock, names_ttl=3600, prices_ttl=60)


async def test_offers_in_stock_cheapest_first_with_names(
    catalog: CatalogService, tkey: KeyProfile, sandbox: Any
) -> None:
    sandbox.state.set_stock("0", "tg", 0)
    offers = await catalog.offers(tkey, "tg")
    assert offers, "the seed has Telegram numbers"
    costs = [o.cost for o in offers]
    assert costs == sorted(costs)
    assert "0" not in {o.country for o in offers}  # out of stock: not offered
    assert all(o.count > 0 for o in offers)
    poland = next(o for o in offers if o.country == "15")
    assert (poland.cost, poland.name("en"), poland.name("ru")) == (
        Decimal("28.8"),
        "Poland",
        "Польша",
    )
    assert poland.name("zh") == "波兰"


async def test_caches_names_per_lang_and_prices_for_their_ttl(
    catalog: CatalogService, tkey: KeyProfile, sandbox: Any, clock: Any
) -> None:
    en = await catalog.services(tkey, "en")
    ru = await catalog.services(tkey, "ru")
    assert {s.code for s in en} == {s.code for s in ru}
    assert next(s.name for s in ru if s.code == "tg") == "Телеграм"
    await catalog.services(tkey, "en")
    assert requests_of(sandbox, "getServicesList") == 2  # one per language

    await catalog.offers(tkey, "tg")
    await catalog.offers(tkey, "tg")
    await catalog.countries(tkey)
    assert requests_of(sandbox, "getPrices") == 1
    assert requests_of(sandbox, "getCountries") == 1

    sandbox.state.set_price("15", "tg", "1.00")
    clock.advance(61)  # prices expire, names do not
    offers = await catalog.offers(tkey, "tg")
    assert offers[0].country == "15" and offers[0].cost == Decimal("1")
    assert requests_of(sandbox, "getPrices") == 2
    assert requests_of(sandbox, "getCountries") == 1

    catalog.forget_prices(tkey, "tg")
    await catalog.offer(tkey, "tg", "15")
    assert requests_of(sandbox, "getPrices") == 3


async def test_whole_table_answer_serves_every_service(
    tdb: Database, tkey: KeyProfile, clock: Any
) -> None:
    """A provider that ignores the service filter: one request serves all services."""

    class WholeTable:
        calls = 0

        async def get_prices(self, service: str | None = None, country: str | None = None) -> Any:
            WholeTable.calls += 1
            return {
                "1": {"tg": PriceInfo(Decimal("3"), 5), "wa": PriceInfo(Decimal("9"), 1)},
                "2": {"tg": PriceInfo(Decimal("2"), 0), "wa": PriceInfo(Decimal("4"), 7)},
            }

        async def get_countries(self) -> list[Country]:
            return [Country("1", {"eng": "Ukraine"}), Country("2", {"eng": "Kazakhstan"})]

    class Factory:
        def client(self, base_url: str, api_key: str) -> WholeTable:
            return WholeTable()

    catalog = CatalogService(Factory(), clock=clock)  # type: ignore[arg-type]
    tg = await catalog.offers(tkey, "tg")
    wa = await catalog.offers(tkey, "wa")
    assert [(o.country, o.cost) for o in tg] == [("1", Decimal("3"))]
    assert [(o.country, o.cost) for o in wa] == [("2", Decimal("4")), ("1", Decimal("9"))]
    assert WholeTable.calls == 1


async def test_prices_are_asked_with_the_service_filter(
    catalog: CatalogService, tkey: KeyProfile, sandbox: Any
) -> None:
    """A provider that honours the filter answers ~2 KB instead of the whole table."""
    await catalog.offers(tkey, "tg")
    [sent] = [r for r in sandbox.state.requests if r["action"] == "getPrices"]
    assert sent["params"].get("service") == "tg"


def _lazy_catalog(answer: str, clock: Any) -> tuple[CatalogService, list[str | None]]:
    """A catalog over a client that parses `answer` the way the real client does."""
    from bot.provider.parsing import Reply, parse_prices, screen

    asked: list[str | None] = []

    class Client:
        async def get_prices(self, service: str | None = None, country: str | None = None) -> Any:
            asked.append(service)
            return parse_prices(screen(Reply(200, {}, answer)))

        async def get_countries(self) -> list[Country]:
            return [Country("1", {"eng": "Ukraine"}), Country("2", {"eng": "Kazakhstan"})]

    class Factory:
        def client(self, base_url: str, api_key: str) -> Client:
            return Client()

    return CatalogService(Factory(), clock=clock), asked  # type: ignore[arg-type]


async def test_lazily_parsed_whole_table_serves_every_service(tkey: KeyProfile, clock: Any) -> None:
    answer = json.dumps(
        {
            "1": {"tg": {"cost": "3.10", "count": 5}, "wa": {"cost": 9, "count": "1"}},
            "2": {"tg": {"cost": 2, "count": 0}, "wa": {"cost": 4.25, "count": 7}, "x": ""},
        }
    )
    catalog, asked = _lazy_catalog(answer, clock)
    tg = await catalog.offers(tkey, "tg")
    wa = await catalog.offers(tkey, "wa")
    assert [(o.country, o.cost, o.count) for o in tg] == [("1", Decimal("3.10"), 5)]
    assert [(o.country, o.cost) for o in wa] == [("2", Decimal("4.25")), ("1", Decimal("9"))]
    assert await catalog.offers(tkey, "x") == []
    assert asked == ["tg"]


async def test_blank_entries_do_not_make_an_answer_whole_table(
    tkey: KeyProfile, clock: Any
) -> None:
    """Only usable entries count: {"tg": ok, "wa": ""} answers for tg alone."""
    answer = '{"1": {"tg": {"cost": 3, "count": 5}, "wa": ""}, "2": {"wa": null}}'
    catalog, asked = _lazy_catalog(answer, clock)
    assert [o.country for o in await catalog.offers(tkey, "tg")] == ["1"]
    await catalog.offers(tkey, "wa")
    assert asked == ["tg", "wa"]  # wa was asked for: the tg answer did not cover it


def test_index_sorts_by_price_then_stock_and_drops_empty() -> None:
    index = index_prices(
        {
            "5": {"tg": PriceInfo(Decimal("10"), 3)},
            "6": {"tg": PriceInfo(Decimal("10"), 30)},
            "7": {"tg": PriceInfo(Decimal("1"), 0)},
            "8": {"tg": PriceInfo(Decimal("0.5"), 1)},
        }
    )
    offers = index.offers("tg", {"6": Country("6", {"eng": "Indonesia"})})
    assert [(o.country, o.count) for o in offers] == [("8", 1), ("6", 30), ("5", 3)]
    assert offers[1].name("en") == "Indonesia" and offers[0].name("en") == "8"
    assert index.offers("nope", {}) == []


def _big_table() -> str:
    """≈1 MB getPrices answer: 200 countries × 500 services."""
    table = {
        str(c): {
            f"s{s:03d}": {
                "cost": round(0.5 + ((c * 31 + s * 17) % 997) / 10, 2),
                "count": (c + s) % 50,
            }
            for s in range(500)
        }
        for c in range(200)
    }
    return json.dumps(table)


def test_big_price_table_indexes_every_service_and_renders_a_page() -> None:
    """200 countries × 500 services: every service's rows come out sorted by price (cheapest
    first, more stock first on a tie). How fast is a figure of `python -m benchmarks.catalog`."""
    from handlers.activation.views import render_countries_page

    raw = _big_table()
    assert len(raw) > 900_000
    prices = {
        country: {s: PriceInfo(Decimal(str(e["cost"])), int(e["count"])) for s, e in row.items()}
        for country, row in json.loads(raw).items()
    }
    countries = {str(c): Country(str(c), {"eng": f"Country {c}"}) for c in range(200)}

    index = index_prices(prices)
    for s in (0, 1, 123, 499):
        service = f"s{s:03d}"
        expected = sorted(
            (row[service].cost, -row[service].count, country)
            for country, row in prices.items()
            if row[service].count > 0
        )
        assert index.service_rows(service) == expected
    offers = index.offers("s123", countries)
    assert len(offers) > 150 and [o.cost for o in offers] == sorted(o.cost for o in offers)

    t = Translator().bind("en")
    key = KeyProfile(1, 1, "k", "http://x", "secret", True, Decimal("5"), "RUB", 0.0)
    text, markup = render_countries_page(t, "en", key, "s123", "Svc", offers, 7)
    assert len(markup.inline_keyboard) > 8 and "Svc" in text


def test_country_offer_without_names_shows_the_id() -> None:
    offer = CountryOffer("77", None, Decimal("1"), 1)
    assert offer.name("ru") == "77"


@pytest.mark.parametrize(
    ("name", "iso"),
    [
        ("Russia", "RU"),
        ("USA (virtual)", "US"),
        ("USA", "US"),
        ("United Kingdom", "GB"),
        ("  ivory coast ", "CI"),
        ("Kazakhstan", "KZ"),
        ("Hong Kong", "HK"),
        ("DR Congo", "CD"),
    ],
)
def test_flags_by_english_name(name: str, iso: str) -> None:
    assert iso_for_name(name) == iso
    assert country_flag(name) == flag_from_iso(iso)


def test_flag_fallbacks() -> None:
    assert country_flag("Atlantis") == FALLBACK_FLAG
    assert country_flag(None) == FALLBACK_FLAG
    assert flag_from_iso("ZZZ") == FALLBACK_FLAG
    assert flag_from_iso("pl") == "🇵🇱"


def _per_service_catalog(clock: Any, **options: Any) -> tuple[CatalogService, list[str | None]]:
    """A catalog over a provider that honours the service filter (and refuses `bad*` codes)."""
    from bot.provider.errors import ProviderError

    asked: list[str | None] = []

    class Client:
        async def get_prices(self, service: str | None = None, country: str | None = None) -> Any:
            asked.append(service)
            if service is None or service.startswith("bad"):
                raise ProviderError("BAD_SERVICE")
            return {"1": {service: PriceInfo(Decimal("1"), 3)}}

        async def get_countries(self) -> list[Country]:
            return [Country("1", {"eng": "Ukraine"})]

    class Factory:
        def client(self, base_url: str, api_key: str) -> Client:
            return Client()

    return CatalogService(Factory(), clock=clock, **options), asked  # type: ignore[arg-type]


async def test_the_cache_holds_a_bounded_number_of_entries_least_recent_out(
    tkey: KeyProfile, clock: Any
) -> None:
    catalog, asked = _per_service_catalog(clock, max_entries=8)
    for n in range(100):  # service codes come from callback data: anyone can make up more
        await catalog.offers(tkey, f"s{n}")
        await catalog.offers(tkey, "s0")  # used all along: never the least recent
    assert len(catalog._cache.entries) <= 8
    assert len(catalog._cache.locks) == 0  # a lock lives only while its fetch runs
    asked.clear()
    await catalog.offers(tkey, "s0")
    await catalog.offers(tkey, "s99")
    assert asked == []  # the most recently used are the ones kept
    await catalog.offers(tkey, "s1")
    assert asked == ["s1"]  # evicted long ago: asked again


async def test_failed_fetches_leave_no_lock_behind(tkey: KeyProfile, clock: Any) -> None:
    from bot.provider.errors import ProviderError

    catalog, _ = _per_service_catalog(clock)
    for n in range(200):
        with pytest.raises(ProviderError):
            await catalog.offers(tkey, f"bad{n}")
    assert catalog._cache.locks == {} and catalog._cache.entries == {}


async def test_expired_entries_are_dropped(tkey: KeyProfile, clock: Any) -> None:
    catalog, _ = _per_service_catalog(clock, prices_ttl=60, names_ttl=3600)
    for n in range(50):
        await catalog.offers(tkey, f"s{n}")
    clock.advance(61)  # every price expired, the country names did not
    await catalog.offers(tkey, "fresh")
    base = tkey.base_url.rstrip("/")
    assert set(catalog._cache.entries) == {("countries", base), ("prices", base, "fresh")}


def test_an_unknown_service_adds_nothing_to_the_price_index() -> None:
    index = index_prices({"1": {"tg": PriceInfo(Decimal("3"), 5)}})
    for n in range(100):
        assert index.service_rows(f"forged{n}") == []
    assert index.service_rows("tg") == [(Decimal("3"), -5, "1")]
    assert set(index.rows) == {"tg"}
