"""Watches: "tell me when <service> in <country> is in stock (at most <price>)".

`WatchService` is what a user can do (arm, list, remove). `WatchPoller` is the background
work: ONE getPrices per (provider address, service, country) per pass, shared by every user
watching it and made with one of the watchers' keys, at most `polls_per_pass` of them per pass
(the least recently polled first). When stock appears at an acceptable price each watcher's
watch fires once (a conditional update in the database): either the user is told, with a Buy
button under a fresh one-time token (the buy flow's own `b1` path buys it), or, with auto-buy,
one number is bought through `OrderService.buy` (the intent written before the call; a lost
answer stays for the reconciler and is the one purchase) at most the watch's price. Either way
the watch is then done; re-arming is the user's choice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from bot.errors import NoActiveKey, Stale, UseCaseError
from bot.orders import OrderService
from bot.provider.errors import ProviderError
from bot.provider.factory import ProviderFactory
from bot.tracker.notifier import Recipient
from storage import Activation, Database, KeyProfile, Watch

log = logging.getLogger(__name__)

WATCHES_PER_USER = 10  # armed at once; arming the same (service, country) again replaces it
ARMED_READ = 5000  # armed watches read per pass (the oldest first)
EXPIRED_PER_PASS = 500  # expiries told per pass; the rest the next pass
GROUPS_REMEMBERED = 10_000  # last-poll times kept (only of groups that still have watchers)
POLLS_PER_KEY = 5  # getPrices made with one key in one pass (the provider's rate limit is per key)
POLL_TIMEOUT = 20.0  # seconds one getPrices may take: a hung provider never stalls the pass

Group = tuple[str, str, str]  # (provider base URL, service, country)


class WatchLimit(UseCaseError):
    """The user has WATCHES_PER_USER armed watches already."""


@dataclass(frozen=True, slots=True)
class WatchConfig:
    interval: float = 60.0  # seconds between passes
    polls_per_pass: int = 20  # getPrices requests per pass at most
    hours: float = 24.0  # a watch's life unless it fires first


@dataclass(frozen=True, slots=True)
class StockOffer:
    """What one getPrices answer says of the watched (service, country)."""

    cost: Decimal
    count: int


@dataclass(frozen=True, slots=True)
class PassReport:
    polls: int = 0
    fired: int = 0
    expired: int = 0


class WatchNotifier(Protocol):
    """What the poller tells the chat (implemented by the Telegram face)."""

    async def watch_in_stock(
        self, watch: Watch, offer: StockOffer, token: str, to: Recipient
    ) -> None: ...
    async def watch_bought(self, watch: Watch, activation: Activation, to: Recipient) -> None: ...
    async def watch_checking(self, watch: Watch, to: Recipient) -> None: ...
    async def watch_failed(self, watch: Watch, error: Exception, to: Recipient) -> None: ...
    async def watch_expired(self, watch: Watch, to: Recipient) -> None: ...


def group_of(watch: Watch) -> Group:
    return (watch.base_url.rstrip("/"), watch.service, watch.country)


def acceptable(watch: Watch, offer: StockOffer) -> bool:
    """In stock at a price the watch accepts (any price without a maximum)."""
    return offer.count > 0 and (watch.max_price is None or offer.cost <= watch.max_price)


class WatchService:
    """The user's side: arm, list, remove."""

    def __init__(
        self,
        db: Database,
        config: WatchConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._config = config or WatchConfig()
        self._clock = clock

    @property
    def hours(self) -> float:
        return self._config.hours

    async def create(
        self,
        user_id: int,
        *,
        service: str,
        country: str,
        max_price: Decimal | None,
        auto_buy: bool,
        chat_id: int | None,
    ) -> Watch:
        """Arm a watch on the active key. Auto-buy needs a maximum price (its cap): without
        one the watch only tells."""
        key = await self._db.keys.get_active(user_id)
        if key is None:
            raise NoActiveKey()
        watch = await self._db.watches.add(
            user_id=user_id,
            key_id=key.id,
            service=service,
            country=country,
            max_price=max_price,
            auto_buy=auto_buy and max_price is not None,
            chat_id=chat_id,
            expires_at=self._clock() + self._config.hours * 3600,
            limit=WATCHES_PER_USER,
        )
        if watch is None:
            raise WatchLimit()
        return watch

    async def armed(self, user_id: int) -> list[Watch]:
        return await self._db.watches.armed_of(user_id, self._clock())

    async def remove(self, user_id: int, watch_id: int) -> bool:
        return await self._db.watches.remove(user_id, watch_id)


class WatchPoller:
    """The background work. `run_once()` is one pass (tests drive it directly); `start()` runs
    passes every `interval` seconds until `stop()`."""

    def __init__(
        self,
        db: Database,
        providers: ProviderFactory,
        orders: OrderService,
        notifier: WatchNotifier,
        config: WatchConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._providers = providers
        self._orders = orders
        self._notifier = notifier
        self._config = config or WatchConfig()
        self._clock = clock
        self._last_poll: dict[Group, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="watch-poller")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad pass must not end the watching
                log.exception("watch pass failed")
            await asyncio.sleep(self._config.interval)

    async def run_once(self) -> PassReport:
        now = self._clock()
        expired = await self._expire(now)
        groups: dict[Group, list[Watch]] = {}
        for watch in await self._db.watches.armed(now, ARMED_READ):
            groups.setdefault(group_of(watch), []).append(watch)
        self._forget_gone(groups)
        due = sorted(groups, key=lambda group: self._last_poll.get(group, float("-inf")))
        polls = fired = 0
        used: Counter[int] = Counter()  # polls per key this pass
        for group in due:
            if polls >= self._config.polls_per_pass:
                break
            watchers = groups[group]
            key = await self._polling_key(watchers, used)
            if key is None:  # no key of its watchers left this pass: first in line next pass
                continue
            self._last_poll[group] = now
            used[key.id] += 1
            polls += 1
            offer = await self._poll(key, watchers[0])
            if offer is None:
                continue
            for watch in watchers:
                if acceptable(watch, offer) and await self._fire(watch, offer):
                    fired += 1
        return PassReport(polls=polls, fired=fired, expired=expired)

    def _forget_gone(self, groups: dict[Group, list[Watch]]) -> None:
        """Last-poll times only of groups someone still watches (bounded by the watches)."""
        for group in [g for g in self._last_poll if g not in groups]:
            del self._last_poll[group]
        while len(self._last_poll) > GROUPS_REMEMBERED:
            del self._last_poll[next(iter(self._last_poll))]

    async def _expire(self, now: float) -> int:
        expired = await self._db.watches.expire(now, EXPIRED_PER_PASS)
        for watch in expired:
            await self._notifier.watch_expired(watch, await self._recipient(watch))
        return len(expired)

    async def _polling_key(self, watchers: list[Watch], used: Counter[int]) -> KeyProfile | None:
        """One of the watchers' keys, still there and with polls left this pass."""
        for watch in watchers:
            if used[watch.key_id] >= POLLS_PER_KEY:
                continue
            key = await self._db.keys.get_any(watch.key_id)
            if key is not None and not key.deleted:
                return key
        return None

    async def _poll(self, key: KeyProfile, watch: Watch) -> StockOffer | None:
        """One getPrices for the group of `watch`; None when out of stock, or when the answer
        is an error or makes no sense (the next pass asks again)."""
        client = self._providers.client(key.base_url, key.api_key, background=True)
        try:
            async with asyncio.timeout(POLL_TIMEOUT):
                prices = await client.get_prices(service=watch.service, country=watch.country)
            info = prices.get(watch.country, {}).get(watch.service)
        except asyncio.CancelledError:
            raise
        except ProviderError as error:
            log.info("watch poll refused (%s)", error.code)
            return None
        except Exception as error:  # a garbled answer, a hung provider: nothing to fire on
            log.warning("watch poll failed (%s)", type(error).__name__)
            return None
        if info is None or info.count <= 0 or not info.cost.is_finite() or info.cost <= 0:
            return None
        return StockOffer(cost=info.cost, count=info.count)

    async def _fire(self, watch: Watch, offer: StockOffer) -> bool:
        """Fire the watch once: buy (auto-buy on the key it watches with) or tell."""
        if watch.auto_buy and watch.max_price is not None and await self._on_active_key(watch):
            if not await self._db.watches.fire(watch.id, "buying", offer.cost, self._clock()):
                return False
            await self._auto_buy(watch, offer)
            return True
        token = await self._orders.offer_token(
            watch.user_id,
            service=watch.service,
            country=watch.country,
            max_price=watch.max_price,
            price=offer.cost,
        )
        if not await self._db.watches.fire(watch.id, "notified", offer.cost, self._clock()):
            return False
        to = await self._recipient(watch)
        await self._notifier.watch_in_stock(watch, offer, token, to)
        return True

    async def _on_active_key(self, watch: Watch) -> bool:
        """A purchase goes through the active key: auto-buy only while that is still the key
        the watch was armed with (another key may be another provider, other prices)."""
        active = await self._db.keys.get_active(watch.user_id)
        return active is not None and active.id == watch.key_id

    async def _auto_buy(self, watch: Watch, offer: StockOffer) -> None:
        """One purchase, never retried: at most the watch's price (the provider refuses a
        dearer number), the intent written before the call by `OrderService.buy`."""
        assert watch.max_price is not None
        token = await self._orders.offer_token(
            watch.user_id,
            service=watch.service,
            country=watch.country,
            max_price=watch.max_price,
            price=offer.cost,
        )
        try:
            result = await self._orders.buy(
                watch.user_id,
                token=token,
                service=watch.service,
                country=watch.country,
                max_price=watch.max_price,
                chat_id=watch.chat,
                expected_cost=offer.cost,
            )
        except asyncio.CancelledError:
            raise
        except (ProviderError, NoActiveKey) as error:  # a definite refusal: nothing bought
            await self._db.watches.settle(watch.id, "failed")
            await self._notifier.watch_failed(watch, error, await self._recipient(watch))
            return
        except Exception:  # the intent (if written) is reconciled like any lost answer
            log.exception("watch auto-buy failed")
            await self._db.watches.settle(watch.id, "checking")
            await self._notifier.watch_checking(watch, await self._recipient(watch))
            return
        to = await self._recipient(watch)
        if result.activation is not None:
            await self._db.watches.settle(watch.id, "bought")
            await self._notifier.watch_bought(watch, result.activation, to)
        elif result.pending:
            await self._db.watches.settle(watch.id, "checking")
            await self._notifier.watch_checking(watch, to)
        else:  # a token just issued is neither used nor stale: nothing was bought
            await self._db.watches.settle(watch.id, "failed")
            await self._notifier.watch_failed(watch, Stale(), to)

    async def _recipient(self, watch: Watch) -> Recipient:
        user = await self._db.users.get(watch.user_id)
        return Recipient(user=user, key=await self._db.keys.get_any(watch.key_id))
