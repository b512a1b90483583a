"""CatalogService: what can be bought where, cached so every screen of the buy flow is instant.

Service names (getServicesList) and country names (getCountries) change rarely: cached for
`names_ttl`. Prices and stock (getPrices) change by the minute: cached for `prices_ttl`.
A getPrices answer is indexed per service on first use and memoised — service → offers in
stock, cheapest first — so a page of countries is a slice, not a scan. Some providers ignore
the `service` filter and send the whole table (≈1 MB, 200 countries × 500 services); the index
serves every service of such an answer, so the next service's page needs no request at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal

from bot.provider.errors import ProviderError
from bot.provider.factory import ProviderFactory
from bot.provider.models import Country, PriceOffer, Prices, Service
from storage.models import KeyProfile

log = logging.getLogger(__name__)

# getServicesList's `lang` values differ from the bot's language codes.
_SERVICE_LANG = {"en": "en", "ru": "ru", "zh": "cn"}

# Cached answers kept at most. Per provider address: names in 3 languages, the countries and the
# prices of the services people look at; a whole-table price answer is one entry.
DEFAULT_MAX_ENTRIES = 256
# Operators of one country kept (a country has a handful; a hostile provider may send more).
MAX_OPERATORS = 32


@dataclass(frozen=True, slots=True)
class CountryOffer:
    country: str
    name_by_lang: Country | None
    cost: Decimal
    count: int

    def name(self, lang: str) -> str:
        return self.name_by_lang.name(lang) if self.name_by_lang else self.country


# (cost, -count, country): sorts cheapest first, then the larger stock, then the id.
_Row = tuple[Decimal, int, str]


@dataclass(slots=True)
class PriceIndex:
    """One getPrices answer, indexed by service on first use: only offers in stock, cheapest
    first. Indexing a service is one pass over the countries (≈200 lookups) and one sort, so a
    whole-table answer costs nothing until a service is asked for, and each one after is
    memoised."""

    prices: Prices
    rows: dict[str, list[_Row]] = field(default_factory=dict)

    def service_rows(self, service: str) -> list[_Row]:
        found = self.rows.get(service)
        if found is None:
            found = []
            for country, services in self.prices.items():
                info = services.get(service)
                if info is not None and info.count > 0:
                    found.append((info.cost, -info.count, country))
            found.sort()
            if found:
                # Only services in stock are memoised: a service code comes from callback
                # data, and made-up codes must not grow the index.
                self.rows[service] = found
        return found

    def covers_many_services(self) -> bool:
        """True when the answer holds more than one service (the filter was ignored)."""
        # Stops at the second distinct code: a lazily converted table stays mostly unconverted.
        first: str | None = None
        for services in self.prices.values():
            for service in services:
                if first is None:
                    first = service
                elif service != first:
                    return True
        return False

    def offers(self, service: str, countries: dict[str, Country]) -> list[CountryOffer]:
        return [
            CountryOffer(country, countries.get(country), cost, -negative_count)
            for cost, negative_count, country in self.service_rows(service)
        ]


def index_prices(prices: Prices) -> PriceIndex:
    """Index a getPrices answer (country → service → PriceInfo); services are sorted lazily."""
    return PriceIndex(prices)


@dataclass(frozen=True, slots=True)
class _Suppliers:
    """A cached getPricesV3 answer for one offer (None: no supplier in stock)."""

    offer: PriceOffer | None


@dataclass(slots=True)
class _Entry:
    value: object
    expires_at: float


@dataclass(slots=True)
class _Fetch:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


@dataclass(slots=True)
class _Cache:
    """A tiny bounded TTL cache with one in-flight fetch per key (a burst of taps makes one
    request).

    Keys carry what callback data names (a service code), so anyone can make up new ones: the
    cache holds at most `max_entries` (the least recently used go first), expired entries are
    dropped whenever one is added, and a key's lock exists only while a fetch uses it."""

    clock: Callable[[], float]
    max_entries: int = DEFAULT_MAX_ENTRIES
    entries: OrderedDict[object, _Entry] = field(default_factory=OrderedDict)
    locks: dict[object, _Fetch] = field(default_factory=dict)

    def fresh(self, key: object) -> object | None:
        entry = self.entries.get(key)
        if entry is not None and entry.expires_at > self.clock():
            self.entries.move_to_end(key)
            return entry.value
        return None

    def put(self, key: object, value: object, ttl: float) -> None:
        now = self.clock()
        self.entries[key] = _Entry(value, now + ttl)
        self.entries.move_to_end(key)
        self._drop_expired(now)
        while len(self.entries) > max(1, self.max_entries):
            self.entries.popitem(last=False)

    def _drop_expired(self, now: float) -> None:
        for stale in [k for k, entry in self.entries.items() if entry.expires_at <= now]:
            del self.entries[stale]

    @contextlib.asynccontextmanager
    async def lock(self, key: object) -> AsyncIterator[None]:
        """Hold the one fetch of `key`; the lock is forgotten when nobody holds or awaits it."""
        fetch = self.locks.get(key)
        if fetch is None:
            fetch = self.locks[key] = _Fetch()
        fetch.users += 1
        try:
            async with fetch.lock:
                yield
        finally:
            fetch.users -= 1
            if fetch.users == 0:
                del self.locks[key]


class CatalogService:
    def __init__(
        self,
        providers: ProviderFactory,
        clock: Callable[[], float] = time.time,
        names_ttl: float = 3600,
        prices_ttl: float = 60,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        self._providers = providers
        self._clock = clock
        self._names_ttl = names_ttl
        self._prices_ttl = prices_ttl
        self._cache = _Cache(clock, max_entries)

    @staticmethod
    def _base(key: KeyProfile) -> str:
        return key.base_url.rstrip("/")

    async def services(self, key: KeyProfile, lang: str) -> list[Service]:
        """Service names in `lang` where the provider has them; cached per base_url + lang."""
        cache_key = ("services", self._base(key), lang)
        cached = self._cache.fresh(cache_key)
        if isinstance(cached, list):  # what this method put there
            return cached
        async with self._cache.lock(cache_key):
            cached = self._cache.fresh(cache_key)
            if isinstance(cached, list):
                return cached
            client = self._providers.client(key.base_url, key.api_key)
            found = await client.get_services_list(lang=_SERVICE_LANG.get(lang, "en"))
            self._cache.put(cache_key, found, self._names_ttl)
            return found

    async def service_names(self, key: KeyProfile, lang: str) -> dict[str, str]:
        """code → name (the first name a provider gives for a code wins)."""
        names: dict[str, str] = {}
        for service in await self.services(key, lang):
            names.setdefault(service.code, service.name)
        return names

    async def countries(self, key: KeyProfile) -> dict[str, Country]:
        """Country id → Country (names in every language the provider has); cached per base_url."""
        cache_key = ("countries", self._base(key))
        cached = self._cache.fresh(cache_key)
        if isinstance(cached, dict):  # what this method put there
            return cached
        async with self._cache.lock(cache_key):
            cached = self._cache.fresh(cache_key)
            if isinstance(cached, dict):
                return cached
            client = self._providers.client(key.base_url, key.api_key)
            found = {country.id: country for country in await client.get_countries()}
            self._cache.put(cache_key, found, self._names_ttl)
            return found

    async def offers(self, key: KeyProfile, service: str) -> list[CountryOffer]:
        """Countries where `service` is in stock, cheapest first (prices cached `prices_ttl`)."""
        index = await self._price_index(key, service)
        countries = await self.countries(key)
        return index.offers(service, countries)

    async def offer(self, key: KeyProfile, service: str, country: str) -> CountryOffer | None:
        """The current offer of one service in one country, or None when out of stock."""
        for found in await self.offers(key, service):
            if found.country == country:
                return found
        return None

    async def suppliers(self, key: KeyProfile, service: str, country: str) -> PriceOffer | None:
        """The offer's suppliers and their price tiers (getPricesV3), cached `prices_ttl`.

        None where the provider does not list them: it answered BAD_ACTION (remembered by the
        client, so it is asked once), or the read failed (tiers are an extra: the confirm
        screen works without them), or the offer has no supplier in stock."""
        client = self._providers.client(key.base_url, key.api_key)
        if not client.supports("getPricesV3"):
            return None
        cache_key = ("suppliers", self._base(key), service, country)
        cached = self._cache.fresh(cache_key)
        if isinstance(cached, _Suppliers):
            return cached.offer
        async with self._cache.lock(cache_key):
            cached = self._cache.fresh(cache_key)
            if isinstance(cached, _Suppliers):
                return cached.offer
            try:
                offers = await client.get_prices_v3(service=service, country=country)
            except ProviderError as error:
                log.info("suppliers unavailable (%s)", error.code)
                return None
            found = next((o for o in offers if (o.country, o.service) == (country, service)), None)
            if found is not None and not any(t.count > 0 for t in found.providers.values()):
                found = None
            self._cache.put(cache_key, _Suppliers(found), self._prices_ttl)
            return found

    async def operators(self, key: KeyProfile, country: str) -> tuple[str, ...]:
        """The country's mobile operators a purchase may ask for (getOperators, sms-activate
        and hero), cached `names_ttl`; () where the provider has none or lacks the action
        (BAD_ACTION, remembered), or the read failed: the choice is an extra."""
        client = self._providers.client(key.base_url, key.api_key)
        if not client.supports("getOperators"):
            return ()
        cache_key = ("operators", self._base(key), country)
        cached = self._cache.fresh(cache_key)
        if isinstance(cached, tuple):
            return cached
        async with self._cache.lock(cache_key):
            cached = self._cache.fresh(cache_key)
            if isinstance(cached, tuple):
                return cached
            try:
                found = tuple((await client.get_operators(country))[:MAX_OPERATORS])
            except ProviderError as error:
                log.info("operators unavailable (%s)", error.code)
                return ()
            self._cache.put(cache_key, found, self._names_ttl)
            return found

    def forget_prices(self, key: KeyProfile, service: str) -> None:
        """Drop cached prices (e.g. after NO_NUMBERS showed the stock was stale)."""
        self._cache.entries.pop(("prices", self._base(key), service), None)
        self._cache.entries.pop(("prices-all", self._base(key)), None)

    async def _price_index(self, key: KeyProfile, service: str) -> PriceIndex:
        base = self._base(key)
        whole = self._cache.fresh(("prices-all", base))
        if isinstance(whole, PriceIndex):
            return whole
        cache_key = ("prices", base, service)
        cached = self._cache.fresh(cache_key)
        if isinstance(cached, PriceIndex):
            return cached
        async with self._cache.lock(cache_key):
            cached = self._cache.fresh(cache_key)
            if isinstance(cached, PriceIndex):
                return cached
            client = self._providers.client(key.base_url, key.api_key)
            index = index_prices(await client.get_prices(service=service))
            self._cache.put(cache_key, index, self._prices_ttl)
            if index.covers_many_services():
                # The provider ignored the filter: this answer serves every service.
                self._cache.put(("prices-all", base), index, self._prices_ttl)
            return index
