"""The watch poller against the sandbox on the shared fake clock, one pass at a time: a watch
fires once when stock appears, one getPrices per (provider, service, country) shared by every
watcher, expiry, a garbled answer, and auto-buy that never spends past its cap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from bot.orders import OrderService
from bot.provider.factory import ProviderFactory
from bot.tracker import Recipient
from bot.watches import (
    POLLS_PER_KEY,
    StockOffer,
    WatchConfig,
    WatchLimit,
    WatchPoller,
    WatchService,
)
from storage import Activation, Database, KeyProfile, Watch
from tests.bot.conftest import FAST, LOOPBACK_ALLOWED, USER, RecordingNotifier

OTHER = 222
HOUR = 3600.0
TURKEY, TG = "62", "tg"


@dataclass
class RecordingWatches:
    """Every watch event, in order."""

    events: list[tuple[str, Watch, Any]] = field(default_factory=list)

    def of(self, kind: str) -> list[tuple[Watch, Any]]:
        return [(watch, extra) for name, watch, extra in self.events if name == kind]

    async def watch_in_stock(
        self, watch: Watch, offer: StockOffer, token: str, to: Recipient
    ) -> None:
        self.events.append(("in_stock", watch, (offer, token)))

    async def watch_bought(self, watch: Watch, activation: Activation, to: Recipient) -> None:
        self.events.append(("bought", watch, activation))

    async def watch_checking(self, watch: Watch, to: Recipient) -> None:
        self.events.append(("checking", watch, None))

    async def watch_failed(self, watch: Watch, error: Exception, to: Recipient) -> None:
        self.events.append(("failed", watch, error))

    async def watch_expired(self, watch: Watch, to: Recipient) -> None:
        self.events.append(("expired", watch, to))


@pytest.fixture
def watched() -> RecordingWatches:
    return RecordingWatches()


@pytest.fixture
def orders(tdb: Database, tproviders: ProviderFactory, clock: Any) -> OrderService:
    return OrderService(tdb, tproviders, clock=clock)


@pytest.fixture
def watches(tdb: Database, clock: Any) -> WatchService:
    return WatchService(tdb, WatchConfig(hours=24), clock=clock)


@pytest.fixture
def poller(
    tdb: Database,
    tproviders: ProviderFactory,
    orders: OrderService,
    watched: RecordingWatches,
    clock: Any,
) -> WatchPoller:
    return WatchPoller(tdb, tproviders, orders, watched, WatchConfig(polls_per_pass=5), clock)


@pytest.fixture
def out_of_stock(sandbox: Any) -> None:
    sandbox.state.set_stock(TURKEY, TG, 0)
    sandbox.state.set_price(TURKEY, TG, "12")


def price_polls(sandbox: Any) -> list[dict[str, Any]]:
    return [r for r in sandbox.state.requests if r["action"] == "getPrices"]


async def arm(
    watches: WatchService,
    user_id: int = USER,
    *,
    max_price: str | None = None,
    auto_buy: bool = False,
    country: str = TURKEY,
) -> Watch:
    cap = None if max_price is None else Decimal(max_price)
    return await watches.create(
        user_id, service=TG, country=country, max_price=cap, auto_buy=auto_buy, chat_id=None
    )


async def test_a_watch_fires_once_when_stock_appears(
    poller: WatchPoller,
    watches: WatchService,
    watched: RecordingWatches,
    tdb: Database,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    out_of_stock: None,
) -> None:
    watch = await arm(watches)
    report = await poller.run_once()
    assert (report.polls, report.fired) == (1, 0) and watched.events == []
    # Stock that changes over time: five numbers a minute and a half from now.
    sandbox.state.schedule_stock(TURKEY, TG, 5, at=clock() + 90)
    clock.advance(60)
    assert (await poller.run_once()).fired == 0
    clock.advance(60)
    assert (await poller.run_once()).fired == 1
    [(fired, (offer, token))] = watched.of("in_stock")
    assert fired.id == watch.id and offer == StockOffer(cost=Decimal("12"), count=5)
    assert token  # a fresh one-time token for the Buy button
    for _ in range(3):  # it is done: never fired again, never polled again
        clock.advance(60)
        assert (await poller.run_once()).polls == 0
    assert len(watched.of("in_stock")) == 1
    assert (await tdb.watches.get(USER, watch.id)).state == "notified"
    assert await watches.armed(USER) == []
    assert len(sandbox.state.purchases) == 0  # telling is not buying


async def test_one_poll_per_pass_is_shared_by_every_watcher(
    poller: WatchPoller,
    watches: WatchService,
    watched: RecordingWatches,
    tdb: Database,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    out_of_stock: None,
) -> None:
    other_key = sandbox.state.create_key(balance="100")
    await tdb.users.get_or_create(OTHER, "en")
    await tdb.keys.add(OTHER, label="other", base_url=sandbox.url, api_key=other_key)
    await arm(watches, USER)
    await arm(watches, OTHER)
    await poller.run_once()
    assert len(price_polls(sandbox)) == 1
    assert price_polls(sandbox)[0]["params"] == {
        "action": "getPrices",
        "service": TG,
        "country": TURKEY,
    }
    sandbox.state.set_stock(TURKEY, TG, 3)
    await poller.run_once()
    assert len(price_polls(sandbox)) == 2  # one more request, both watchers told
    assert sorted(w.user_id for w, _ in watched.of("in_stock")) == [USER, OTHER]


async def test_a_pass_polls_a_bounded_number_least_recently_polled_first(
    tdb: Database,
    tproviders: ProviderFactory,
    orders: OrderService,
    watches: WatchService,
    watched: RecordingWatches,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
) -> None:
    poller = WatchPoller(tdb, tproviders, orders, watched, WatchConfig(polls_per_pass=2), clock)
    for country in ("62", "16", "43"):
        sandbox.state.set_stock(country, TG, 0)
        await arm(watches, country=country)
    assert (await poller.run_once()).polls == 2
    assert (await poller.run_once()).polls == 2
    polled = [r["params"]["country"] for r in price_polls(sandbox)]
    assert len(set(polled[:3])) == 3  # the one left out the first pass goes first next


async def test_one_key_makes_a_bounded_number_of_polls_per_pass(
    tdb: Database,
    tproviders: ProviderFactory,
    orders: OrderService,
    watches: WatchService,
    watched: RecordingWatches,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
) -> None:
    poller = WatchPoller(tdb, tproviders, orders, watched, WatchConfig(polls_per_pass=20), clock)
    countries = ["0", "1", "2", "4", "6", "10", "12"]
    for country in countries:
        sandbox.state.set_stock(country, TG, 0)
        await arm(watches, country=country)
    assert (await poller.run_once()).polls == POLLS_PER_KEY
    assert (await poller.run_once()).polls == POLLS_PER_KEY
    polled = [r["params"]["country"] for r in price_polls(sandbox)]
    assert set(polled) == set(countries)  # the ones left out went first the next pass


async def test_a_price_above_the_maximum_does_not_fire_until_it_drops(
    poller: WatchPoller,
    watches: WatchService,
    watched: RecordingWatches,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
) -> None:
    sandbox.state.set_stock(TURKEY, TG, 10)
    sandbox.state.set_price(TURKEY, TG, "30")
    await arm(watches, max_price="20")
    await poller.run_once()
    assert watched.events == []
    sandbox.state.schedule_stock(TURKEY, TG, 10, at=clock() + 30, cost="19.5")
    clock.advance(60)
    await poller.run_once()
    [(_w, (offer, _token))] = watched.of("in_stock")
    assert offer.cost == Decimal("19.5")


async def test_a_watch_expires_once_and_is_not_polled_after(
    poller: WatchPoller,
    watches: WatchService,
    watched: RecordingWatches,
    tdb: Database,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    out_of_stock: None,
) -> None:
    watch = await arm(watches)
    assert watch.expires_at == clock() + 24 * HOUR
    clock.advance(24 * HOUR)
    sandbox.state.set_stock(TURKEY, TG, 5)  # too late
    report = await poller.run_once()
    assert (report.expired, report.polls, report.fired) == (1, 0, 0)
    assert [w.id for w, _ in watched.of("expired")] == [watch.id]
    await poller.run_once()
    assert len(watched.of("expired")) == 1 and watched.of("in_stock") == []
    assert (await tdb.watches.get(USER, watch.id)).state == "expired"


@pytest.mark.parametrize("kind", ["garbled", "html502", "empty", "timeout"])
async def test_a_bad_answer_never_crashes_a_pass_nor_fires(
    tdb: Database,
    orders: OrderService,
    watches: WatchService,
    watched: RecordingWatches,
    impatient: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    kind: str,
) -> None:
    poller = WatchPoller(tdb, impatient, orders, watched, WatchConfig(), clock)
    sandbox.state.set_stock(TURKEY, TG, 5)
    await arm(watches)
    sandbox.state.inject_fault(kind, action="getPrices", seconds=1)
    report = await poller.run_once()
    assert (report.polls, report.fired) == (1, 0) and watched.events == []
    assert (await poller.run_once()).fired == 1  # the next good answer fires it


async def test_a_user_has_a_bounded_number_of_watches(
    watches: WatchService, tkey: KeyProfile, sandbox: Any
) -> None:
    countries = ["0", "1", "2", "4", "6", "10", "12", "15", "16", "22"]
    for country in countries:
        await arm(watches, country=country)
    with pytest.raises(WatchLimit):
        await arm(watches, country="36")
    await arm(watches, country="0", max_price="5")  # the same offer again: replaced
    assert len(await watches.armed(USER)) == len(countries)


# --------------------------------------------------------------------------- auto-buy


@pytest.fixture
async def impatient() -> AsyncIterator[ProviderFactory]:
    """A client that gives up after 50 ms: a lost answer without a real wait."""
    factory = ProviderFactory(
        timeout=0.05, read_retries=0, retry_delay=0.0, address_policy=LOOPBACK_ALLOWED
    )
    yield factory
    await factory.close()


async def test_auto_buy_buys_one_number_at_most_the_cap_once(
    poller: WatchPoller,
    watches: WatchService,
    watched: RecordingWatches,
    tdb: Database,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    out_of_stock: None,
) -> None:
    watch = await arm(watches, max_price="15", auto_buy=True)
    await poller.run_once()
    sandbox.state.set_stock(TURKEY, TG, 5)
    await poller.run_once()
    [(_w, activation)] = watched.of("bought")
    assert activation.cost <= Decimal("15") and activation.user_id == USER
    for _ in range(3):
        clock.advance(60)
        await poller.run_once()
    assert len(sandbox.state.purchases) == 1
    assert [a.id for a in await tdb.activations.list_live(USER)] == [activation.id]
    assert (await tdb.watches.get(USER, watch.id)).state == "bought"


@pytest.mark.parametrize("fault", ["drop_after_charge", "timeout"])
async def test_auto_buy_with_a_lost_answer_spends_at_most_the_cap_and_is_reconciled(
    tdb: Database,
    impatient: ProviderFactory,
    watches: WatchService,
    watched: RecordingWatches,
    make_tracker: Any,
    notes: RecordingNotifier,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    out_of_stock: None,
    fault: str,
) -> None:
    orders = OrderService(tdb, impatient, clock=clock)
    poller = WatchPoller(tdb, impatient, orders, watched, WatchConfig(), clock)
    watch = await arm(watches, max_price="15", auto_buy=True)
    sandbox.state.set_stock(TURKEY, TG, 50)
    balance = sandbox.state.balance(tkey.api_key)
    # Every purchase answer is lost (and charged) from now on.
    sandbox.state.inject_fault(fault, action="getNumberV2", count=10**6, seconds=1)
    for _ in range(5):
        await poller.run_once()
        clock.advance(60)
    assert len(watched.of("checking")) == 1 and watched.of("bought") == []
    assert (await tdb.watches.get(USER, watch.id)).state == "checking"
    # At most one number, at most the cap, whatever the provider did with the answers.
    [purchase] = sandbox.state.purchases
    assert Decimal(str(purchase["cost"])) <= Decimal("15")
    assert balance - sandbox.state.balance(tkey.api_key) <= Decimal("15")
    # The open intent is the tracker's: it finds the number and tracks it (so it is
    # cancelled for a refund if no code comes, like any number).
    sandbox.state.clear_faults()
    tracker = make_tracker()
    for _ in range(40):
        clock.advance(FAST.poll_fast)
        await tracker.tick()
        if notes.of("adopted"):
            break
    [adopted] = notes.of("adopted")
    assert adopted.provider_id == purchase["id"] and adopted.live
    assert len(sandbox.state.purchases) == 1


async def test_auto_buy_refused_buys_nothing_and_says_why(
    poller: WatchPoller,
    watches: WatchService,
    watched: RecordingWatches,
    tdb: Database,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
) -> None:
    sandbox.state.set_stock(TURKEY, TG, 5)
    sandbox.state.set_price(TURKEY, TG, "12")
    sandbox.state.set_balance(tkey.api_key, "1")
    watch = await arm(watches, max_price="15", auto_buy=True)
    await poller.run_once()
    [(_w, error)] = watched.of("failed")
    assert getattr(error, "code", "") == "NO_BALANCE"
    await poller.run_once()
    assert sandbox.state.purchases == [] and len(watched.events) == 1
    assert (await tdb.watches.get(USER, watch.id)).state == "failed"


async def test_auto_buy_tells_instead_when_the_active_key_changed(
    poller: WatchPoller,
    watches: WatchService,
    watched: RecordingWatches,
    tdb: Database,
    tkey: KeyProfile,
    sandbox: Any,
) -> None:
    await arm(watches, max_price="15", auto_buy=True)
    other = await tdb.keys.add(
        USER, label="second", base_url=sandbox.url, api_key=sandbox.state.create_key()
    )
    assert (await tdb.keys.get_active(USER)).id == other.id
    sandbox.state.set_stock(TURKEY, TG, 5)
    sandbox.state.set_price(TURKEY, TG, "12")
    await poller.run_once()
    assert len(watched.of("in_stock")) == 1 and sandbox.state.purchases == []


async def test_auto_buy_needs_a_cap(watches: WatchService, tkey: KeyProfile) -> None:
    watch = await arm(watches, auto_buy=True)
    assert not watch.auto_buy


async def test_two_pollers_racing_buy_one_number(
    tdb: Database,
    tproviders: ProviderFactory,
    orders: OrderService,
    watches: WatchService,
    watched: RecordingWatches,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
) -> None:
    """Two processes (or an overlapping pass) polling the same watch: it fires once."""
    first = WatchPoller(tdb, tproviders, orders, watched, WatchConfig(), clock)
    second = WatchPoller(tdb, tproviders, orders, watched, WatchConfig(), clock)
    sandbox.state.set_stock(TURKEY, TG, 50)
    sandbox.state.set_price(TURKEY, TG, "12")
    await arm(watches, max_price="15", auto_buy=True)
    reports = await asyncio.gather(first.run_once(), second.run_once(), first.run_once())
    assert sum(report.fired for report in reports) == 1
    assert len(sandbox.state.purchases) == 1 and len(watched.events) == 1
