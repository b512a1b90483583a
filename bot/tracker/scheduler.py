"""The key scheduler: every provider request of the tracker goes through it.

Its contract is "run this request for key K": through K's token bucket and the global request
budget (sized from the live keys and the measured latency; fresh keys first when it is full),
timed and counted; a provider fault or rate limit backs K off alone (a
slow or broken provider never delays the other keys), a key the provider refuses (BAD_KEY) is
marked revoked, its owner told once, and only probed now and then until it works again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from bot.metrics import Metrics, error_label
from bot.provider.client import ProviderClient
from bot.provider.errors import ProviderError, ProviderUnavailable, RateLimited
from bot.provider.models import ActiveActivation
from bot.tracker.config import TrackerConfig
from bot.tracker.directory import Directory
from bot.tracker.outbox import Outbox
from storage.keys import KeyRepo
from storage.models import KeyProfile

log = logging.getLogger(__name__)

T = TypeVar("T")

# Answers meaning "the provider no longer accepts this key" (changed or revoked by its owner).
KEY_REFUSED = frozenset({"BAD_KEY"})
# The provider's latency that sizes the budget: a low percentile of the last requests. A mean
# feeds back: a saturated provider answers later, a larger budget sends more at once, which
# only makes it later still. Its quick answers tell how long a request takes when not queued.
_LATENCY_SAMPLES = 256
_LATENCY_PERCENTILE = 0.2


def service_latency(samples: Sequence[float], guess: float) -> float:
    """How long a provider request takes when it does not queue: the 20th percentile of the
    recent ones, or the configured guess before any was measured."""
    if not samples:
        return guess
    ordered = sorted(samples)
    return ordered[int(len(ordered) * _LATENCY_PERCENTILE)]


def count_error(metrics: Metrics, error: ProviderError) -> None:
    """Count a provider error under a bounded label: a provider may invent a new code on every
    answer, and each would otherwise become a series for the life of the process."""
    metrics.tracker_provider_errors.labels(code=error_label(error.code)).inc()
    log.info("tracker: provider answered %s", error)


class TokenBucket:
    """At most `rate` requests per second (bursts up to `burst`), in real time: it paces real
    requests, whatever clock the rest of the tracker runs on."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = max(rate, 1e-6)
        self.capacity = max(1.0, burst if burst is not None else rate)
        self._tokens = self.capacity
        self._monotonic = monotonic
        self._stamp = monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self) -> None:
        async with self._lock:
            self._refill()
            while self._tokens < 1.0:
                await asyncio.sleep((1.0 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1.0


def request_budget(fresh_keys: int, slow_keys: int, latency: float, config: TrackerConfig) -> int:
    """Provider requests in flight that poll every key on time: one request per key per
    interval (a key's numbers share one listing, or it has one number), times the latency a
    request takes (Little's law), with headroom for the tail; within the configured bounds."""
    per_second = fresh_keys / config.poll_fast + slow_keys / config.poll_slow
    needed = math.ceil(per_second * max(latency, 0.0) * config.budget_headroom)
    return max(config.min_concurrency, min(config.max_concurrency, needed))


class RequestBudget:
    """At most `limit` provider requests in flight, all keys together. When it is full, a key
    with a number in its fast window goes before the others: demand beyond the budget
    stretches the slow keys' intervals first and never starves a fresh number."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.in_flight = 0
        # Waiters, first come first served within each: urgent (fast window), then the rest.
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._later: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._urgent) + len(self._later)

    def resize(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._grant()

    async def acquire(self, *, urgent: bool) -> None:
        ahead = bool(self._urgent) if urgent else self.waiting > 0
        if self.in_flight < self.limit and not ahead:
            self.in_flight += 1
            return
        queue = self._urgent if urgent else self._later
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # granted just as it was cancelled: hand the slot on
            else:
                # A release between the cancel and this step passed over it already.
                with contextlib.suppress(ValueError):
                    queue.remove(waiter)
            raise

    def release(self) -> None:
        self.in_flight -= 1
        self._grant()

    def _grant(self) -> None:
        while self.in_flight < self.limit:
            queue = self._urgent if self._urgent else self._later
            if not queue:
                return
            waiter = queue.popleft()
            if waiter.done():
                continue
            self.in_flight += 1
            waiter.set_result(None)


@dataclass
class KeyState:
    """One key as the scheduler knows it (memory only: a restart starts afresh)."""

    bucket: TokenBucket
    key_id: int = 0
    backoff_until: float = 0.0
    failures: int = 0
    task: asyncio.Task[None] | None = None  # the key's job of this pass
    # A number of the key is in its fast window: its requests go first when the budget is full.
    urgent: bool = False
    # The listing alone failing (the rest of the key answers): the key's numbers are asked one
    # by one with getStatus, and the listing is tried again at listing_retry_at.
    listing_failures: int = 0
    listing_retry_at: float = float("-inf")
    # The provider refuses the key (BAD_KEY): its numbers are not polled. None until this
    # process has looked at the stored mark. While revoked the key's job only runs at
    # recheck_at (the user may have entered the key again) and asks getBalance at probe_at.
    revoked: bool | None = None
    recheck_at: float = float("-inf")
    probe_at: float = float("-inf")

    @property
    def busy(self) -> bool:
        return self.task is not None and not self.task.done()


class KeyDown(Exception):
    """The key's provider is unavailable or rate-limited: stop this key's job for this pass."""


class KeyScheduler:
    def __init__(
        self,
        keys: KeyRepo,
        directory: Directory,
        outbox: Outbox,
        config: TrackerConfig,
        clock: Callable[[], float],
        metrics: Metrics,
    ) -> None:
        self._keys = keys
        self._directory = directory
        self._outbox = outbox
        self._config = config
        self._clock = clock
        self._metrics = metrics
        self._states: dict[int, KeyState] = {}
        self.budget = RequestBudget(config.min_concurrency)
        # The last provider latencies, for sizing the budget (see service_latency).
        self._latencies: deque[float] = deque(maxlen=_LATENCY_SAMPLES)

    @property
    def latency(self) -> float:
        return service_latency(self._latencies, self._config.latency_guess)

    def size_budget(self, fresh_keys: int, slow_keys: int) -> int:
        """Size the budget for the keys live now and the latency measured lately, but never
        below what the keys are seen to need: the estimate counts one request per key per
        interval at a quick answer's latency, and a key may need more (a getStatus for each
        number its listing dropped, a cancel), the provider's answers a longer tail. A budget
        full with requests waiting grows by half; one that the estimate finds too large gives
        back an eighth per sizing (a burst does not leave it short at once)."""
        budget = self.budget
        limit = request_budget(fresh_keys, slow_keys, self.latency, self._config)
        if budget.waiting and budget.in_flight >= budget.limit:
            limit = max(limit, budget.limit + math.ceil(budget.limit / 2))
        elif limit < budget.limit:
            limit = max(limit, budget.limit - math.ceil(budget.limit / 8))
        limit = min(limit, self._config.max_concurrency)
        budget.resize(limit)
        return budget.limit

    def state(self, key_id: int) -> KeyState:
        state = self._states.get(key_id)
        if state is None:
            state = KeyState(TokenBucket(self._config.rps_per_key), key_id=key_id)
            self._states[key_id] = state
        return state

    def running_jobs(self) -> list[asyncio.Task[None]]:
        return [state.task for state in self._states.values() if state.task and state.busy]

    def may_start(self, state: KeyState, now: float) -> bool:
        """A new job for the key now? Not while one runs, nor while it backs off, nor (before
        its recheck) while the provider refuses the key: there is nothing to ask it yet."""
        if state.busy or now < state.backoff_until:
            return False
        return not (state.revoked and now < state.recheck_at)

    def free_at(self, state: KeyState, now: float) -> float:
        """When the key may start a job again: after its back-off or (refused) its recheck;
        else now (the next pass looks again)."""
        at = now
        if now < state.backoff_until:
            at = max(at, state.backoff_until)
        if state.revoked and now < state.recheck_at:
            at = max(at, state.recheck_at)
        return at

    # ------------------------------------------------------------------ requests

    async def call(
        self, state: KeyState, make: Callable[[], Awaitable[T]], *, fault_stops_key: bool = True
    ) -> T:
        """One request of a key's job. A refused key (BAD_KEY) or, with fault_stops_key, a
        provider fault stops the job (KeyDown) once the revocation or back-off is noted; a
        rate limit always does. However many reads the client tried inside, one failed call
        is one failure."""
        try:
            result = await self._request(state, make)
        except ProviderUnavailable as error:
            rate_limited = isinstance(error, RateLimited)
            if not fault_stops_key and not rate_limited:
                raise
            self.back_off(state, error.retry_after if rate_limited else None)
            raise KeyDown from None
        except ProviderError as error:
            if error.code in KEY_REFUSED:
                await self._revoke(state)
                raise KeyDown from None
            raise
        state.failures = 0
        return result

    async def _request(self, state: KeyState, make: Callable[[], Awaitable[T]]) -> T:
        """One request through the key's token bucket and the global budget, counted."""
        await state.bucket.acquire()
        await self.budget.acquire(urgent=state.urgent)
        started = time.monotonic()
        self._metrics.tracker_provider_requests.inc()
        try:
            return await make()
        except ProviderError as error:
            count_error(self._metrics, error)
            raise
        finally:
            self.budget.release()
            took = time.monotonic() - started
            self._metrics.tracker_provider_latency.observe(took)
            self._latencies.append(took)

    def back_off(self, state: KeyState, retry_after: float | None) -> None:
        """The key's provider failed: leave the key alone for a while. Never longer than one
        slow interval (a Retry-After: as asked, up to backoff_max), so a code waits at most
        about that long once the provider is back."""
        state.failures += 1
        if retry_after is not None and retry_after > 0:
            delay = min(retry_after, self._config.backoff_max)
        else:
            doubled = self._config.backoff_min * 2 ** min(state.failures - 1, 30)
            delay = min(doubled, self._config.backoff_max, self._config.poll_slow)
        state.backoff_until = self._clock() + delay
        # The whole provider failed, not the listing alone: try the listing first when back.
        state.listing_failures = 0
        state.listing_retry_at = float("-inf")

    # ------------------------------------------------------------------ the listing

    async def list_active(
        self, state: KeyState, client: ProviderClient
    ) -> list[ActiveActivation] | None:
        """The key's live activations in one request; None when the provider has no such
        action, answers it with a definite error or a fault, or the listing keeps failing
        lately: then each id is asked on its own (a fault of the whole provider shows there)."""
        if not client.supports("getActiveActivations"):
            return None
        now = self._clock()
        if now < state.listing_retry_at:
            return None
        try:
            listing = await self.call(state, client.get_active_activations, fault_stops_key=False)
        except ProviderError as error:  # a fault, or a definite error of the listing alone
            self._listing_failed(state, error, now)
            return None
        state.listing_failures = 0
        return listing

    def _listing_failed(self, state: KeyState, error: ProviderError, now: float) -> None:
        """A garbled listing, or several failed ones in a row (whatever they answered): poll
        the key's numbers one by one for listing_retry seconds, then try the listing again."""
        state.listing_failures += 1
        if error.code == "GARBLED" or state.listing_failures >= self._config.listing_failures:
            state.listing_retry_at = now + self._config.listing_retry
            log.info(
                "tracker: key %s listing failed (%s); polling its numbers one by one",
                state.key_id,
                error.code,
            )

    # ------------------------------------------------------------------ refused keys

    async def _revoke(self, state: KeyState) -> None:
        """The provider refused the key (BAD_KEY): stop polling it, and tell its owner once
        (the stored mark keeps "told" across restarts until the key works again)."""
        now = self._clock()
        state.revoked = True
        state.recheck_at = now + self._config.poll_slow
        if state.probe_at <= now:
            state.probe_at = now + self._config.revoked_probe
        if not await self._keys.mark_revoked(state.key_id, now):
            return
        log.warning("tracker: key %s is refused by its provider; polling it stops", state.key_id)
        key = await self._directory.key(state.key_id)
        if key is not None:
            revoked = key
            await self._outbox.tell(
                key.user_id, key.id, lambda to: self._outbox.notifier.key_revoked(revoked, to)
            )

    async def key_accepted(
        self, key: KeyProfile, client: ProviderClient, state: KeyState, now: float
    ) -> bool:
        """May the key's numbers be polled? Not while the provider refuses the key: then only
        the stored mark is looked at (cleared when the user enters the key again) and, every
        revoked_probe seconds, getBalance asked (BAD_KEY again raises KeyDown)."""
        if state.revoked is False:
            return True
        if await self._keys.revoked_at(key.id) is None:
            if state.revoked:
                log.info("tracker: key %s was entered again; polling it resumes", key.id)
            state.revoked = False
            return True
        if state.revoked is None:  # marked before this process started: look now
            state.revoked = True
            state.probe_at = now
        if now < state.probe_at:
            state.recheck_at = now + self._config.poll_slow
            return False
        with contextlib.suppress(ProviderError):  # any other definite answer knows the key
            await self.call(state, client.get_balance)
        await self._keys.clear_revoked(key.id)
        state.revoked = False
        log.info("tracker: key %s is accepted again; polling it resumes", key.id)
        return True
