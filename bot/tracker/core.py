"""The background tracker: watches every live activation and rental and emits events.

Its work list is the database (`due_for_poll`), never memory alone, so a restart resumes every
number. Memory only holds hints that make it faster (fast-poll windows, back-off per key, cached
users and keys, next polls decided but not yet written); losing them costs at most a few early
or slower polls.

Cost per poll, which decides how many numbers one small machine tracks: a key is scheduled as a
whole. After its listing every live number it covered gets the same next poll (the earliest any
of them wants), so a key settles on one getActiveActivations per interval, fast while any of its
numbers is. A number the listing reports unchanged is decided from the row `due_for_poll` already
loaded, with no database call; only a change (a code, an end, a cancel due) takes the full path.
Next polls are written once per pass, in one transaction.

One pass (`tick`) groups the due activations and rentals by API key and runs one job per key,
concurrently: a key whose provider is slow, rate-limited or broken backs off alone and never
delays the others. Within a key: one batched getActiveActivations covering all its live
activations (where the provider has it), getStatus per id otherwise or when the batch says
nothing of an id; getRentStatus per rental. Every request goes through the key's token bucket
and a global concurrency limit.

Money first: codes are stored before they are sent and marked delivered after; a codeless
number is cancelled before it expires (the early-cancel lock is waited out); a user who blocked
the bot is still tracked and auto-cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any, Protocol, TypeVar

from bot.activation_status import (
    CODE_ARRIVED,
    GONE,
    StatusDecision,
    answer_from_error,
    decide,
    ended_status,
    is_previous_code,
    store_decision,
)
from bot.changes import Changes
from bot.metrics import Metrics, error_label
from bot.provider.client import ProviderClient
from bot.provider.errors import (
    ActionNotSupported,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from bot.provider.models import ActivationStatus, ActiveActivation, RentListItem, RentSms
from storage.models import (
    Activation,
    ActivationCode,
    KeyProfile,
    PendingPurchase,
    Rental,
    RentalSms,
    User,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
_MISSING = object()  # "not in the cache", where None means "no such user"

_RENT_GONE = frozenset({"NO_ID_RENT", "INVALID_PHONE", "RENT_DIE"})
# activationStatus values of list endpoints that mean "ended" (confirm with getStatus).
_LIST_ENDED = frozenset({"6", "8", "10"})
# Answers meaning "the provider no longer accepts this key" (changed or revoked by its owner).
_KEY_REFUSED = frozenset({"BAD_KEY"})


class Notifier(Protocol):
    async def code_received(self, activation: Activation, code: ActivationCode) -> bool: ...
    async def activation_changed(self, activation: Activation) -> None: ...
    async def activation_ended(self, activation: Activation, refunded: bool) -> None: ...
    async def activation_adopted(self, activation: Activation) -> None: ...
    async def rental_sms(self, rental: Rental, sms: RentalSms) -> bool: ...
    async def rental_changed(self, rental: Rental) -> None: ...
    async def rental_reminder(self, rental: Rental, seconds_left: int) -> None: ...
    async def rental_ended(self, rental: Rental) -> None: ...
    async def pending_unresolved(self, pending: PendingPurchase) -> None: ...
    async def key_revoked(self, key: KeyProfile) -> None: ...


@dataclass(slots=True)
class TrackerConfig:
    tick: float = 0.5  # seconds between passes of the loop (wake() shortens the wait)
    poll_fast: float = 2.5  # interval while a code is awaited right after a purchase or a button
    poll_slow: float = 10.0  # interval otherwise
    fast_window: float = 120.0  # how long "right after" lasts
    poll_rental: float = 20.0
    rps_per_key: float = 5.0
    max_concurrency: int = 50  # provider requests in flight, all keys together
    cancel_margin_default: int = 60  # seconds before expiry, when the user has no setting
    reminders: tuple[int, ...] = (3600, 600)  # seconds before a rental ends
    batch: bool = True  # use getActiveActivations where the provider has it
    # --- beyond the contract ---
    key_timeout: float = 60.0  # one key's job in one pass, at most
    # A key whose provider fails waits backoff_min, doubling, at most poll_slow: a code must
    # not wait much longer than one slow interval once the provider is back. A Retry-After is
    # the provider's own word and is honoured up to backoff_max.
    backoff_min: float = 2.0
    backoff_max: float = 60.0
    cancel_retry: float = 5.0  # after EARLY_CANCEL_DENIED or an unclear cancel answer
    expiry_grace: float = 30.0  # a late SMS may still arrive this long after ends_at
    adopt_lifetime: float = 1200.0  # assumed lifetime of an adopted number
    adopt_cancel_lock: float = 120.0  # assumed early-cancel lock of an adopted number
    # An open purchase intent is reconciled until it resolves; after this long with neither
    # proof the user is told the outcome could not be confirmed (and the intent is closed).
    pending_timeout: float = 3600.0
    reconcile_every: float = 3.0  # first back-off step between reconciliations of one intent
    reconcile_max: float = 60.0  # ... doubling up to this
    # An intent whose provider call has not ended (no "unknown" mark) is a purchase in flight;
    # only after this long is it a crash's leftover that reconciliation takes over.
    intent_in_flight: float = 90.0
    # An intent is reconciled from this long after its outcome became unknown: the handler
    # has shown "checking" by then (the result edits that message), and "not bought" needs a
    # listing and balance read this late (a provider may still be processing the request).
    intent_settle: float = 10.0
    clock_slack: float = 120.0  # tolerated skew between the provider's clock and ours
    cache_ttl: float = 30.0  # users and keys are re-read at least this often
    listing_failures: int = 3  # failed listings in a row before the key is polled per id
    listing_retry: float = 60.0  # meanwhile the listing is tried again this often
    revoked_probe: float = 300.0  # a key answering BAD_KEY is checked (getBalance) this often


def new_stats() -> dict[str, Any]:
    """Counters /metrics reads (plain dict: cheap, and readable without knowing this module)."""
    return {
        "ticks": 0,
        "polls": 0,
        "provider_requests": 0,
        "codes_delivered": 0,
        "rental_sms_delivered": 0,
        "auto_cancels": 0,
        "adopted": 0,
        "provider_errors": defaultdict(int),  # error code -> count
        "provider_latency_sum": 0.0,
        "provider_latency_count": 0,
    }


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


@dataclass
class _KeyState:
    bucket: TokenBucket
    key_id: int = 0
    backoff_until: float = 0.0
    failures: int = 0
    task: asyncio.Task[None] | None = None
    # Provider ids the listing showed that match no intent, with the time first seen: a
    # number listed before an intent was written cannot be that intent's purchase.
    unknown_seen: dict[str, float] = field(default_factory=dict)
    # Provider ids the listing shows that the database has no live row for (ended here, still
    # listed there): they need no live_for_key look-up at every listing.
    foreign: frozenset[str] = frozenset()
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
    # The provider answered getRentList with BAD_ACTION: a lost rent is settled by the balance.
    rent_list_missing: bool = False

    @property
    def busy(self) -> bool:
        return self.task is not None and not self.task.done()


class _KeyDown(Exception):
    """The key's provider is unavailable or rate-limited: stop this key's job for this pass."""


@dataclass(slots=True)
class _Observation:
    """What the provider says of one activation, whichever action said it."""

    state: str  # wait_code | wait_retry | wait_resend | ok | cancel
    code: str | None = None
    text: str | None = None
    batched: bool = False


@dataclass
class _KeyWork:
    activations: list[Activation] = field(default_factory=list)
    rentals: list[Rental] = field(default_factory=list)
    pending: list[PendingPurchase] = field(default_factory=list)


def rental_sms_keys(messages: list[RentSms]) -> list[tuple[str, RentSms]]:
    """A stable dedup key per SMS: its content, plus an occurrence number for identical ones
    (two equal texts at the same second are two SMS, and both must be shown once)."""
    seen: dict[str, int] = defaultdict(int)
    keyed: list[tuple[str, RentSms]] = []
    for sms in messages:
        digest = hashlib.sha256(
            "\x1f".join((sms.date or "", sms.phone_from, sms.text)).encode()
        ).hexdigest()[:32]
        keyed.append((f"{digest}#{seen[digest]}", sms))
        seen[digest] += 1
    return keyed


class Tracker:
    def __init__(
        self,
        db: Any,
        providers: Any,
        notifier: Notifier,
        config: TrackerConfig | None = None,
        clock: Callable[[], float] = time.time,
        *,
        changes: Changes | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self.metrics = metrics or Metrics()
        self.providers = providers
        self.notifier = notifier
        self.config = config or TrackerConfig()
        self.clock = clock
        self.stats: dict[str, Any] = new_stats()
        self._keys: dict[int, _KeyState] = {}
        self._semaphore = asyncio.Semaphore(max(1, self.config.max_concurrency))
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Hints only (a restart loses them harmlessly):
        self._scheduled: dict[int, float] = {}  # activation id -> next_poll_at we wrote
        self._fast_until: dict[int, float] = {}  # activation id -> fast polling until
        self._cancel_not_before: dict[int, float] = {}  # after EARLY_CANCEL_DENIED
        # What each number looked like when last scheduled: a woken pass polls early only the
        # numbers a handler changed since ("SMS sent", "Another code", a cancel asked), not
        # every number of every key (a wake follows each purchase).
        self._seen: dict[int, tuple[str, int, bool, bool, str | None]] = {}
        # Caches (re-read after cache_ttl; a blocked flag and a cancel are always read fresh):
        self._users: dict[int, tuple[float, User | None]] = {}
        self._key_profiles: dict[int, tuple[float, KeyProfile | None]] = {}
        # next_poll_at values decided but not yet written: flushed in ONE transaction per pass
        # (losing them in a crash only makes those numbers due early).
        self._next_polls: dict[int, float] = {}
        self._woken = False
        # Open purchase intents: (checks so far, next check not before) — back-off per intent.
        self._intent_next: dict[int, tuple[int, float]] = {}
        if changes is not None:
            changes.listen(self.wake)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Reconcile every key with its provider, then start the loop (owned by the caller's
        startup hook; stop() ends it)."""
        if self._task is not None and not self._task.done():
            return
        # Each key's reconciliation runs as that key's job: the loop polls the other keys
        # meanwhile, so a slow provider delays neither the startup nor anybody else's codes.
        for key in await self.db.keys.list_all():
            state = self._key_state(key.id)
            if not state.busy:
                state.task = asyncio.create_task(self._reconcile_safely(key))
        self._task = asyncio.create_task(self._loop(), name="tracker")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        jobs = [state.task for state in self._keys.values() if state.busy]
        for job in jobs:
            assert job is not None
            job.cancel()
        for job in jobs:
            assert job is not None
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await job
        with contextlib.suppress(Exception):
            await self._flush_next_polls()

    def wake(self) -> None:
        """Poll soon: a purchase or a button changed what is due. The next pass also polls,
        early, every number awaiting a code that changed since its last poll ("SMS sent",
        "Another code" just tapped, a cancel asked) or that this tracker has not seen yet."""
        self._woken = True
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        while True:
            try:
                await self._pass(wait=False)
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must survive anything one pass does
                log.exception("tracker pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.config.tick)
            self._wake.clear()

    async def tick(self) -> None:
        """One whole pass, awaited to the end (tests call it directly)."""
        await self.idle()
        await self._pass(wait=True)
        await self._flush_next_polls()

    async def idle(self) -> None:
        """Wait for the key jobs still running from the loop."""
        jobs = [state.task for state in self._keys.values() if state.busy]
        if jobs:
            await asyncio.gather(*jobs, return_exceptions=True)

    # ------------------------------------------------------------------ one pass

    def _key_state(self, key_id: int) -> _KeyState:
        state = self._keys.get(key_id)
        if state is None:
            state = _KeyState(TokenBucket(self.config.rps_per_key), key_id=key_id)
            self._keys[key_id] = state
        return state

    async def _pass(self, *, wait: bool) -> None:
        await self._flush_next_polls()
        now = self.clock()
        self.stats["ticks"] += 1
        self.metrics.tracker_ticks.inc()
        work: dict[int, _KeyWork] = defaultdict(_KeyWork)
        woken, self._woken = self._woken, False
        horizon = now + self.config.poll_slow if woken else now
        for activation in await self.db.activations.due_for_poll(horizon):
            # A job still running may have decided this number's next poll since the flush.
            decided = self._next_polls.get(activation.id)
            if decided is not None and decided > now and not woken:
                continue
            if activation.next_poll_at <= now or (
                _awaiting_code(activation) and self._seen.get(activation.id) != _looks(activation)
            ):
                work[activation.key_id].activations.append(activation)
        for rental in await self.db.rentals.due_for_poll(now):
            work[rental.key_id].rentals.append(rental)
        for pending in await self.db.pending.list_all():
            work[pending.key_id].pending.append(pending)
        jobs: list[asyncio.Task[None]] = []
        for key_id, key_work in work.items():
            state = self._key_state(key_id)
            if state.busy or now < state.backoff_until:
                continue
            if state.revoked and now < state.recheck_at:
                continue  # the provider refuses the key: nothing to ask it yet
            state.task = asyncio.create_task(self._run_key(key_id, key_work, now))
            jobs.append(state.task)
        if wait and jobs:
            await asyncio.gather(*jobs, return_exceptions=True)

    async def _run_key(self, key_id: int, work: _KeyWork, now: float) -> None:
        state = self._key_state(key_id)
        try:
            async with asyncio.timeout(self.config.key_timeout):
                key = await self._key_profile(key_id)
                if key is None:
                    log.warning("tracker: key %s is gone; its numbers cannot be polled", key_id)
                    return
                client = self.providers.client(key.base_url, key.api_key, background=True)
                if state.revoked is not False and not await self._key_accepted(
                    key, client, state, now
                ):
                    return
                await self._key_job(key, client, state, work, now)
        except _KeyDown:
            pass
        except TimeoutError:
            log.warning("tracker: key %s took longer than %.0fs", key_id, self.config.key_timeout)
            self._back_off(state, None)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("tracker: key %s job failed", key_id)

    async def _key_job(
        self,
        key: KeyProfile,
        client: ProviderClient,
        state: _KeyState,
        work: _KeyWork,
        now: float,
    ) -> None:
        intents = [p for p in work.pending if self._intent_due(p, now)]
        want_list = any(p.kind == "activation" for p in intents) or (
            bool(work.activations) and self.config.batch
        )
        listing: list[ActiveActivation] | None = None
        if want_list:
            listing = await self._list_active(state, client)
        if intents:
            await self._reconcile_intents(key, client, state, intents, listing, now)
        if work.activations:
            await self._poll_activations(key, client, state, work.activations, listing, now)
        for rental in work.rentals:
            await self._poll_rental(client, state, rental, now)

    # ------------------------------------------------------------------ provider calls

    async def _call(
        self, state: _KeyState, make: Callable[[], Awaitable[T]], *, fault_stops_key: bool = True
    ) -> T:
        """One request of a key's job. A refused key (BAD_KEY) or, with fault_stops_key, a
        provider fault stops the job (_KeyDown) once the revocation or back-off is noted; a
        rate limit always does. However many reads the client tried inside, one failed call
        is one failure."""
        try:
            result = await self._request(state, make)
        except ProviderUnavailable as error:
            rate_limited = isinstance(error, RateLimited)
            if not fault_stops_key and not rate_limited:
                raise
            self._back_off(state, error.retry_after if rate_limited else None)
            raise _KeyDown from None
        except ProviderError as error:
            if error.code in _KEY_REFUSED:
                await self._revoke(state)
                raise _KeyDown from None
            raise
        state.failures = 0
        return result

    async def _request(self, state: _KeyState, make: Callable[[], Awaitable[T]]) -> T:
        """One request through the key's token bucket and the global limit, counted."""
        await state.bucket.acquire()
        async with self._semaphore:
            started = time.monotonic()
            self.stats["provider_requests"] += 1
            try:
                return await make()
            except ProviderError as error:
                self._count_error(error)
                raise
            finally:
                self.stats["provider_latency_sum"] += time.monotonic() - started
                self.stats["provider_latency_count"] += 1

    def _count_error(self, error: ProviderError) -> None:
        # Counted under a bounded label: a provider may invent a new code on every answer.
        self.stats["provider_errors"][error_label(error.code)] += 1
        log.info("tracker: provider answered %s", error)

    def _back_off(self, state: _KeyState, retry_after: float | None) -> None:
        """The key's provider failed: leave the key alone for a while. Never longer than one
        slow interval (a Retry-After: as asked, up to backoff_max), so a code waits at most
        about that long once the provider is back."""
        state.failures += 1
        if retry_after is not None and retry_after > 0:
            delay = min(retry_after, self.config.backoff_max)
        else:
            doubled = self.config.backoff_min * 2 ** min(state.failures - 1, 30)
            delay = min(doubled, self.config.backoff_max, self.config.poll_slow)
        state.backoff_until = self.clock() + delay
        # The whole provider failed, not the listing alone: try the listing first when back.
        state.listing_failures = 0
        state.listing_retry_at = float("-inf")

    async def _list_active(
        self, state: _KeyState, client: ProviderClient
    ) -> list[ActiveActivation] | None:
        """The key's live activations in one request; None when the provider has no such
        action, answers it with a definite error or a fault, or the listing keeps failing
        lately: then each id is asked on its own (a fault of the whole provider shows there)."""
        if not client.supports("getActiveActivations"):
            return None
        now = self.clock()
        if now < state.listing_retry_at:
            return None
        try:
            listing = await self._call(state, client.get_active_activations, fault_stops_key=False)
        except ProviderError as error:  # a fault, or a definite error of the listing alone
            self._listing_failed(state, error, now)
            return None
        state.listing_failures = 0
        return listing

    def _listing_failed(self, state: _KeyState, error: ProviderError, now: float) -> None:
        """A garbled listing, or several failed ones in a row (whatever they answered): poll
        the key's numbers one by one for listing_retry seconds, then try the listing again."""
        state.listing_failures += 1
        if error.code == "GARBLED" or state.listing_failures >= self.config.listing_failures:
            state.listing_retry_at = now + self.config.listing_retry
            log.info(
                "tracker: key %s listing failed (%s); polling its numbers one by one",
                state.key_id,
                error.code,
            )

    # ------------------------------------------------------------------ refused keys

    async def _revoke(self, state: _KeyState) -> None:
        """The provider refused the key (BAD_KEY): stop polling it, and tell its owner once
        (the stored mark keeps "told" across restarts until the key works again)."""
        now = self.clock()
        state.revoked = True
        state.recheck_at = now + self.config.poll_slow
        if state.probe_at <= now:
            state.probe_at = now + self.config.revoked_probe
        if not await self.db.keys.mark_revoked(state.key_id, now):
            return
        log.warning("tracker: key %s is refused by its provider; polling it stops", state.key_id)
        key = await self._key_profile(state.key_id)
        if key is not None:
            await self._notify(key.user_id, partial(self.notifier.key_revoked, key))

    async def _key_accepted(
        self, key: KeyProfile, client: ProviderClient, state: _KeyState, now: float
    ) -> bool:
        """May the key's numbers be polled? Not while the provider refuses the key: then only
        the stored mark is looked at (cleared when the user enters the key again) and, every
        revoked_probe seconds, getBalance asked (BAD_KEY again raises _KeyDown)."""
        if await self.db.keys.revoked_at(key.id) is None:
            if state.revoked:
                log.info("tracker: key %s was entered again; polling it resumes", key.id)
            state.revoked = False
            return True
        if state.revoked is None:  # marked before this process started: look now
            state.revoked = True
            state.probe_at = now
        if now < state.probe_at:
            state.recheck_at = now + self.config.poll_slow
            return False
        with contextlib.suppress(ProviderError):  # any other definite answer knows the key
            await self._call(state, client.get_balance)
        await self.db.keys.clear_revoked(key.id)
        state.revoked = False
        log.info("tracker: key %s is accepted again; polling it resumes", key.id)
        return True

    async def _get_status(
        self, state: _KeyState, client: ProviderClient, activation: Activation
    ) -> _Observation | None:
        """getStatus of one id; None when the provider gave no usable answer."""
        self.stats["polls"] += 1
        try:
            status: ActivationStatus = await self._call(
                state, lambda: client.get_status(activation.provider_id)
            )
        except ProviderError as error:
            gone = answer_from_error(error.code)
            return None if gone is None else _Observation(gone.state, gone.code)
        return _Observation(status.state, status.code)

    # ------------------------------------------------------------------ activations

    async def _poll_activations(
        self,
        key: KeyProfile,
        client: ProviderClient,
        state: _KeyState,
        due: list[Activation],
        listing: list[ActiveActivation] | None,
        now: float,
    ) -> None:
        if listing is None:
            # getStatus per id: each number keeps a schedule of its own.
            for activation in due:
                observation = await self._get_status(state, client, activation)
                await self._observe(client, state, activation, observation, now)
            return
        self.stats["polls"] += 1
        listed = {item.activation_id: item for item in listing}
        covered = list(due)
        # The batch covers every live activation of the key: one not due yet (a code may have
        # arrived for it) is handled now and joins the key's schedule.
        due_ids = {a.provider_id for a in due}
        unknown = [pid for pid in listed if pid not in due_ids and pid not in state.foreign]
        if unknown:
            live = await self.db.activations.live_for_key(key.id)
            live_ids = {a.provider_id for a in live}
            covered.extend(
                a for a in live if a.provider_id not in due_ids and a.provider_id in listed
            )
            state.foreign = frozenset(pid for pid in listed if pid not in live_ids)
        # Every covered number that stays live is rescheduled to the same moment (the earliest
        # any of them wants), so the key settles on one listing per interval.
        keep: list[int] = []
        key_at = float("inf")
        for activation in covered:
            observation: _Observation | None = None
            if activation.provider_id in listed:
                observation = _from_list(listed[activation.provider_id])
                if observation is not None and self._ambiguous(activation, observation):
                    observation = None  # an old code the list does not mark as old: ask
            if observation is None:
                observation = await self._get_status(state, client, activation)
            at = await self._observe(client, state, activation, observation, now)
            if at is not None:
                keep.append(activation.id)
                key_at = min(key_at, at)
        for activation_id in keep:
            self._next_polls[activation_id] = key_at
            self._scheduled[activation_id] = key_at

    async def _observe(
        self,
        client: ProviderClient,
        state: _KeyState,
        activation: Activation,
        observation: _Observation | None,
        now: float,
    ) -> float | None:
        """Apply one observation; the next poll when the number stays live, else None.

        Most polls change nothing ("still waiting"): that is decided from the row already
        loaded, with no database call. Anything else takes the full path."""
        user = self._cached_user(activation.user_id)
        if user is _MISSING:
            user = await self._user(activation.user_id)
        if self._quiet(activation, observation, now, user):
            self._note_poke(activation, now)
            return self._schedule_with(activation, now, user)
        return await self._process(client, state, activation, observation, now)

    def _quiet(
        self,
        activation: Activation,
        observation: _Observation | None,
        now: float,
        user: User | None,
    ) -> bool:
        if observation is None or observation.state == "cancel":
            return False
        if activation.pending_change is not None:
            return False  # a change being checked: this answer settles it
        if observation.state == "ok" and not any(
            c.round == activation.round for c in activation.codes
        ):
            return False  # a new code
        if not activation.live or any(not c.delivered for c in activation.codes):
            return False
        if now >= activation.ends_at + self.config.expiry_grace:
            return False
        cancel_at = self._cancel_time(activation, user)
        return cancel_at is None or now < cancel_at

    @staticmethod
    def _ambiguous(activation: Activation, observation: _Observation) -> bool:
        if observation.state != "ok" or activation.round == 0:
            return False
        return is_previous_code(activation, observation.code)

    async def _process(
        self,
        client: ProviderClient,
        state: _KeyState,
        activation: Activation,
        observation: _Observation | None,
        now: float,
    ) -> float | None:
        """Apply what the provider said, deliver, expire, cancel, and schedule the next poll
        (returned; None when the number ended or its schedule is already set)."""
        self._note_poke(activation, now)
        # The row loaded for this pass stands for the number unless the answer changes it (a
        # re-read per poll is what made the tracker CPU-bound). What a handler changed
        # meanwhile is seen next poll; a cancel re-reads before it acts.
        fresh: Activation | None = activation
        stored: ActivationCode | None = None
        decision = decide(activation, observation, now)
        if not decision.changes_nothing:
            fresh, stored = await self._apply(activation, decision, observation, now)
        if fresh is None or not fresh.live:
            return None
        fresh = await self._deliver_codes(fresh, stored)
        if now >= fresh.ends_at + self.config.expiry_grace:
            await self._end(fresh, now)
            return None
        if await self._maybe_cancel(client, state, fresh, now):
            return None
        return await self._schedule(fresh, now)

    def _note_poke(self, activation: Activation, now: float) -> None:
        """A handler pulled next_poll_at earlier than we set it ("SMS sent", "Another code",
        a purchase): poll fast for a while."""
        scheduled = self._scheduled.get(activation.id)
        if scheduled is not None and activation.next_poll_at < scheduled - 1e-6:
            self._fast_until[activation.id] = now + self.config.fast_window

    async def _apply(
        self,
        activation: Activation,
        decision: StatusDecision,
        observation: _Observation | None,
        now: float,
    ) -> tuple[Activation | None, ActivationCode | None]:
        """Store what the one status rule decided (the same writer a card's Refresh uses).
        Returns the activation as it now stands (None: ended or gone) and the code this call
        stored (None: nothing new)."""
        text = observation.text if observation is not None else None
        result = await store_decision(self.db.activations, activation, decision, text=text, now=now)
        if decision.end_as is not None:
            if result.ended:
                await self._announce_end(activation.id)
            return None, None
        started = activation.round + 1 if decision.start_round else activation.round
        if result.round != started or (decision.new_code is not None and not result.code):
            # A card's tap or Refresh changed it meanwhile, or it ended: the database knows.
            return await self.db.activations.get_any(activation.id), None
        # What was just written, applied to the loaded row (no re-read on the common path).
        fresh = activation
        if decision.start_round:
            fresh = replace(fresh, round=started, status="retry")
        if decision.settled:
            fresh = replace(fresh, pending_change=None)
        if result.code and decision.new_code is not None:
            stored = ActivationCode(started, decision.new_code, text, now, False)
            codes = [*fresh.codes, stored]
            fresh = replace(fresh, status="received", codes=codes, cancel_requested=False)
            return fresh, stored  # the code message redraws the card too
        # "Checking…" is over (or a new round began): the card shows what is known now.
        await self._notify(fresh.user_id, partial(self.notifier.activation_changed, fresh))
        return fresh, None

    async def _deliver_codes(
        self, activation: Activation, stored: ActivationCode | None = None
    ) -> Activation:
        """Send every stored, undelivered code; mark each after it is sent (a crash in between
        repeats at most that one message). `stored` is a code this pass has just inserted:
        surely undelivered. Any other the row calls undelivered is checked in the database
        (a card may have shown it since). Returns the activation with the marks applied."""
        pending = [c for c in activation.codes if not c.delivered]
        if not pending:
            return activation
        if len(pending) != 1 or pending[0] is not stored:
            still = {c.round for c in await self.db.activations.undelivered_codes(activation.id)}
            activation = _with_delivered(activation, {c.round for c in pending} - still)
            pending = [c for c in activation.codes if not c.delivered]
            if not pending:
                return activation
        if await self._blocked_cached(activation.user_id):
            return activation  # kept undelivered: shown if the user comes back
        delivered: set[int] = set()
        for code in pending:
            if await self._notify_bool(self.notifier.code_received(activation, code)):
                await self.db.activations.mark_code_delivered(activation.id, code.round)
                self.stats["codes_delivered"] += 1
                delivered.add(code.round)
            else:
                self._users.pop(activation.user_id, None)  # blocked now? read it next time
        return _with_delivered(activation, delivered)

    async def _end(self, activation: Activation, now: float, *, status: str | None = None) -> None:
        status = status or ended_status(activation, now)
        if await self.db.activations.set_status(activation.id, status, ended_at=now):
            await self._announce_end(activation.id)

    async def _announce_end(self, activation_id: int) -> None:
        self._forget(activation_id)
        ended = await self.db.activations.get_any(activation_id)
        if ended is not None:
            refunded = not ended.codes
            await self._notify(
                ended.user_id, partial(self.notifier.activation_ended, ended, refunded)
            )

    def _forget(self, activation_id: int) -> None:
        self._scheduled.pop(activation_id, None)
        self._fast_until.pop(activation_id, None)
        self._cancel_not_before.pop(activation_id, None)
        self._seen.pop(activation_id, None)

    def _margin(self, user: User | None) -> tuple[bool, int]:
        """(auto-cancel on, margin seconds) of the owner."""
        if user is None:
            return True, self.config.cancel_margin_default
        margin = user.auto_cancel_margin
        if margin is None or margin < 0:
            margin = self.config.cancel_margin_default
        return user.auto_cancel, int(margin)

    async def _cancel_at(self, activation: Activation) -> float | None:
        """When the tracker should cancel this codeless number, or None (never)."""
        if activation.codes or activation.status != "waiting":
            return None
        return self._cancel_time(activation, await self._user(activation.user_id))

    def _cancel_time(self, activation: Activation, user: User | None) -> float | None:
        if activation.codes or activation.status != "waiting":
            return None
        auto, margin = self._margin(user)
        wanted: float | None = None
        if activation.cancel_requested:
            wanted = activation.cancel_allowed_at
        elif auto:
            wanted = activation.ends_at - margin
        if wanted is None:
            return None
        not_before = self._cancel_not_before.get(activation.id, float("-inf"))
        return max(wanted, activation.cancel_allowed_at, not_before)

    async def _maybe_cancel(
        self, client: ProviderClient, state: _KeyState, activation: Activation, now: float
    ) -> bool:
        """setStatus 8 when it is time; True when this pass is done with the activation."""
        cancel_at = await self._cancel_at(activation)
        if cancel_at is None or now < cancel_at:
            return False
        # Money: the cached row and settings said "cancel"; the current ones decide.
        self._users.pop(activation.user_id, None)
        fresh = await self.db.activations.get_any(activation.id)
        if fresh is None or not fresh.live:
            return True
        activation = fresh
        cancel_at = await self._cancel_at(activation)
        if cancel_at is None or now < cancel_at:
            return False
        try:
            await self._call(state, lambda: client.set_status(activation.provider_id, 8))
        except ProviderError as error:
            return await self._cancel_refused(client, state, activation, error, now)
        self.stats["auto_cancels"] += 1
        await self._end(activation, now, status="cancelled")
        return True

    async def _cancel_refused(
        self,
        client: ProviderClient,
        state: _KeyState,
        activation: Activation,
        error: ProviderError,
        now: float,
    ) -> bool:
        if error.code in CODE_ARRIVED or error.code in GONE:
            # A code came in, or the number already ended: getStatus tells which, and the one
            # status rule says what that means.
            observation = await self._get_status(state, client, activation)
            decision = decide(activation, observation, now)
            if not decision.changes_nothing:
                current, stored = await self._apply(activation, decision, observation, now)
                if current is None or not current.live:
                    return True
                if stored is not None:
                    await self._deliver_codes(current, stored)
        # EARLY_CANCEL_DENIED (the lock is longer than we thought) or an unclear answer:
        # try again shortly. Never shown to the user as a failure.
        self._cancel_not_before[activation.id] = now + self.config.cancel_retry
        fresh = await self.db.activations.get_any(activation.id)
        if fresh is not None and fresh.live:
            await self._schedule(fresh, now)
        return True

    async def _schedule(self, activation: Activation, now: float) -> float:
        return self._schedule_with(activation, now, await self._user(activation.user_id))

    def _schedule_with(self, activation: Activation, now: float, user: User | None) -> float:
        # Fast while a code is awaited right after the purchase, after "SMS sent", after
        # "Another code" (status retry) or after a handler pulled the poll earlier.
        fast = _awaiting_code(activation) and (
            now < activation.created_at + self.config.fast_window
            or now < self._fast_until.get(activation.id, float("-inf"))
            or activation.status == "retry"
            or activation.sms_sent
        )
        if any(not c.delivered for c in activation.codes):
            # A code Telegram did not take yet: try again soon (not for a blocked user).
            fast = fast or user is None or not user.blocked
        at = now + (self.config.poll_fast if fast else self.config.poll_slow)
        cancel_at = self._cancel_time(activation, user)
        if cancel_at is not None:
            at = min(at, max(cancel_at, now))
        # Look again right at the end (the provider says whether it expired), and once more
        # when the grace for a late SMS is over.
        if now < activation.ends_at:
            at = min(at, activation.ends_at)
        else:
            at = min(at, activation.ends_at + self.config.expiry_grace)
        at = max(at, now + 1e-3)
        self._next_polls[activation.id] = at
        self._scheduled[activation.id] = at
        self._seen[activation.id] = _looks(activation)
        return at

    async def _flush_next_polls(self) -> None:
        """Write every next poll decided since the last flush, in one transaction."""
        if not self._next_polls:
            return
        decided, self._next_polls = self._next_polls, {}
        await self.db.activations.set_next_poll_each(decided)

    # ------------------------------------------------------------------ rentals

    async def _poll_rental(
        self, client: ProviderClient, state: _KeyState, rental: Rental, now: float
    ) -> None:
        messages: list[RentSms] = []
        ended_as: str | None = None
        self.stats["polls"] += 1
        try:
            status = await self._call(state, lambda: client.get_rent_status(rental.provider_id))
            messages = list(status.messages)
        except ProviderError as error:
            if error.code == "STATUS_FINISH":
                ended_as = "finished"
            elif error.code == "STATUS_CANCEL":
                ended_as = "cancelled"
            elif (
                error.code in ("NO_ID_RENT", "INVALID_PHONE", "RENT_DIE") and now >= rental.ends_at
            ):
                ended_as = "expired"
        # Oldest first, so the chat shows them in order (the sort is stable for equal dates).
        messages.sort(key=lambda sms: sms.date or "")
        new = 0
        for dedup_key, sms in rental_sms_keys(messages):
            stored = await self.db.rentals.add_sms(
                rental.id,
                dedup_key=dedup_key,
                phone_from=sms.phone_from,
                text=sms.text,
                date=sms.date,
                received_at=now,
            )
            new += stored is not None
        delivered = await self._deliver_rental_sms(rental)
        if new or delivered:
            fresh = await self.db.rentals.get_any(rental.id)
            if fresh is not None:
                await self._notify(fresh.user_id, partial(self.notifier.rental_changed, fresh))
        if ended_as is None and now >= rental.ends_at:
            ended_as = "expired"
        if ended_as is not None:
            if await self.db.rentals.set_status(rental.id, ended_as, ended_at=now):
                ended = await self.db.rentals.get_any(rental.id)
                if ended is not None:
                    await self._notify(ended.user_id, partial(self.notifier.rental_ended, ended))
            return
        await self._remind(rental, now)
        await self.db.rentals.set_next_poll(rental.id, self._next_rental_poll(rental, now))

    async def _deliver_rental_sms(self, rental: Rental) -> int:
        pending = await self.db.rentals.undelivered_sms(rental.id)
        if not pending or await self._blocked(rental.user_id):
            return 0
        delivered = 0
        for sms in pending:
            if await self._notify_bool(self.notifier.rental_sms(rental, sms)):
                await self.db.rentals.mark_sms_delivered(sms.id)
                self.stats["rental_sms_delivered"] += 1
                delivered += 1
        return delivered

    def _reminder_marks(self, rental: Rental) -> list[int]:
        """Reminders that make sense for this rental: only those shorter than its whole span."""
        span = rental.ends_at - rental.created_at
        return sorted(mark for mark in self.config.reminders if 0 < mark < span)

    async def _remind(self, rental: Rental, now: float) -> None:
        left = rental.ends_at - now
        due = [
            mark
            for mark in self._reminder_marks(rental)
            if left <= mark and str(mark) not in rental.reminders_sent
        ]
        if not due:
            return
        # After a pause several may be due at once: record all, say only the nearest one.
        sent = False
        for mark in due:
            sent = await self.db.rentals.add_reminder(rental.id, str(mark)) or sent
        if sent:
            await self._notify(
                rental.user_id, partial(self.notifier.rental_reminder, rental, max(0, int(left)))
            )

    def _next_rental_poll(self, rental: Rental, now: float) -> float:
        at = min(now + self.config.poll_rental, rental.ends_at)
        for mark in self._reminder_marks(rental):
            remind_at = rental.ends_at - mark
            if str(mark) not in rental.reminders_sent and remind_at > now:
                at = min(at, remind_at)
        return max(at, now + 1e-3)

    # ------------------------------------------------------------------ reconciliation

    async def reconcile_all(self) -> None:
        """reconcile_key for every key, concurrently; one broken provider never stops the rest."""
        keys = await self.db.keys.list_all()
        if keys:
            await asyncio.gather(*(self._reconcile_safely(key) for key in keys))

    async def _reconcile_safely(self, key: KeyProfile) -> None:
        try:
            async with asyncio.timeout(self.config.key_timeout):
                await self.reconcile_key(key)
        except (_KeyDown, TimeoutError):
            log.warning("tracker: could not reconcile key %s now", key.id)
        except Exception:
            log.exception("tracker: reconciling key %s failed", key.id)

    async def reconcile_key(self, key: KeyProfile) -> None:
        """Adopt the numbers the provider has that open purchase intents of this bot bought
        (the user is told in the intent's "checking" message); close the ones the database has
        live and the provider no longer lists, once getStatus confirms. Numbers that match no
        intent (bought elsewhere with the same key) are left alone."""
        client = self.providers.client(key.base_url, key.api_key, background=True)
        state = self._key_state(key.id)
        listing = await self._list_active(state, client)
        if listing is None:
            return
        now = self.clock()
        intents = [
            p
            for p in await self.db.pending.list_all()
            if p.key_id == key.id and self._intent_reconcilable(p, now)
        ]
        await self._adopt_unknown(key, listing, intents, now)
        listed = {item.activation_id for item in listing}
        for activation in await self.db.activations.live_for_key(key.id):
            if activation.provider_id not in listed:
                observation = await self._get_status(state, client, activation)
                await self._process(client, state, activation, observation, now)

    # ---- purchase intents

    def _intent_reconcilable(self, intent: PendingPurchase, now: float) -> bool:
        """Its provider call ended without an answer a little while ago (the handler has said
        "checking" by then, so the result never lands under that message), or it is a
        crash's leftover."""
        if intent.unknown_at is not None:
            return now >= intent.unknown_at + self.config.intent_settle
        return now >= intent.created_at + self.config.intent_in_flight

    def _intent_due(self, intent: PendingPurchase, now: float) -> bool:
        if not self._intent_reconcilable(intent, now):
            return False
        return now >= self._intent_next.get(intent.id, (0, float("-inf")))[1]

    def _intent_back_off(self, intent: PendingPurchase, now: float) -> None:
        checks = self._intent_next.get(intent.id, (0, 0.0))[0]
        delay = min(self.config.reconcile_max, self.config.reconcile_every * 2**checks)
        self._intent_next[intent.id] = (checks + 1, now + delay)

    async def _reconcile_intents(
        self,
        key: KeyProfile,
        client: ProviderClient,
        state: _KeyState,
        intents: list[PendingPurchase],
        listing: list[ActiveActivation] | None,
        listed_at: float,
    ) -> None:
        """One reconciliation of the key's due intents: adopt what the listing shows for them,
        then settle the rest by proof (listing + balance), or back off and look again."""
        open_ones = list(intents)
        if listing is not None:
            adopted = await self._adopt_unknown(key, listing, open_ones, listed_at)
            open_ones = [p for p in open_ones if p.id not in adopted]
        balance: list[Decimal | None] = []  # read at most once per pass, when needed

        async def read_balance() -> Decimal | None:
            if not balance:
                try:
                    balance.append((await self._call(state, client.get_balance)).amount)
                except ProviderError:
                    balance.append(None)
            return balance[0]

        rentals: list[list[RentListItem] | None] = []  # getRentList, likewise

        async def read_rentals() -> list[RentListItem] | None:
            if not rentals:
                rentals.append(await self._list_rentals(state, client))
            return rentals[0]

        for intent in open_ones:
            if await self._settle_intent(
                key, intent, listing, listed_at, read_balance, read_rentals
            ):
                self._intent_next.pop(intent.id, None)
                continue
            if listed_at - intent.created_at >= self.config.pending_timeout:
                await self._close_intent(intent, "unknown")
                continue
            self._intent_back_off(intent, listed_at)

    async def _settle_intent(
        self,
        key: KeyProfile,
        intent: PendingPurchase,
        listing: list[ActiveActivation] | None,
        listed_at: float,
        read_balance: Callable[[], Awaitable[Decimal | None]],
        read_rentals: Callable[[], Awaitable[list[RentListItem] | None]],
    ) -> bool:
        """Resolve an intent the listing did not match when the provider's answers prove the
        outcome; True when resolved.

        "Not bought" needs: a read after the outcome became unknown (plus the settle time)
        AND the balance unchanged since just before the purchase; for an activation also a
        successful listing without it (the caller adopted every match). Grizzly lists no
        rentals (its getRentHistory needs a rent id), so for a rental the balance tells:
        unchanged = not charged; dropped by the price shown = charged (an extension is then
        recorded). A new rent is looked up where the provider lists rentals (getRentList, with
        a snapshot taken just before the purchase): the one new rental is adopted; else the
        user is told the charge and where to find the number."""
        since = intent.unknown_at if intent.unknown_at is not None else intent.created_at
        if listed_at < since + self.config.intent_settle or intent.balance_before is None:
            return False
        if intent.kind == "activation" and listing is None:
            return False
        now_balance = await read_balance()
        if now_balance is None:
            return False
        if now_balance == intent.balance_before:
            await self._close_intent(intent, "not_bought")
            return True
        if intent.kind == "activation" or not _charged(intent, now_balance):
            return False  # something else moved the balance: keep looking
        if intent.kind == "extend":
            return await self._record_extension(key, intent)
        if intent.rent_snapshot is not None:
            return await self._find_rental(key, intent, listed_at, read_rentals)
        await self._close_intent(intent, "bought")
        return True

    async def _find_rental(
        self,
        key: KeyProfile,
        intent: PendingPurchase,
        now: float,
        read_rentals: Callable[[], Awaitable[list[RentListItem] | None]],
    ) -> bool:
        """A rent charged the price shown and the key's rentals were listed just before it:
        adopt the one rental new since then. Several new ones (the key rented elsewhere at the
        same moment) are never guessed between: the user is told the charge and where to find
        the number. None yet, or a failed list: look again later."""
        listed = await read_rentals()
        if listed is None:
            if self._key_state(key.id).rent_list_missing:  # no list after all: the balance
                await self._close_intent(replace(intent, rent_snapshot=None), "bought")
                return True
            return False
        candidates = [item for item in listed if await self._may_be_the_rent(key, intent, item)]
        if not candidates:
            return False  # charged, but not listed yet: look again (given up as "unknown")
        if len(candidates) > 1:
            await self._close_intent(intent, "bought")
            return True
        await self._adopt_rental(key, intent, candidates[0], now)
        return True

    async def _may_be_the_rent(
        self, key: KeyProfile, intent: PendingPurchase, item: RentListItem
    ) -> bool:
        """Listed now, not before the purchase, not stored, and (where the list says) of the
        hours and price the user confirmed."""
        if intent.rent_snapshot is None or item.rent_id in intent.rent_snapshot:
            return False
        if item.hours is not None and intent.hours and item.hours != intent.hours:
            return False
        cost = intent.expected_cost
        if item.price is not None and cost is not None and abs(item.price - cost) > cost / 100:
            return False
        return await self.db.rentals.get_by_provider_id(key.id, item.rent_id) is None

    async def _adopt_rental(
        self, key: KeyProfile, intent: PendingPurchase, item: RentListItem, now: float
    ) -> None:
        """Store the rental a lost rent answer bought and show its card in the intent's
        "checking" message; from then on it is polled like any rental (its SMS delivered)."""
        hours = int(intent.hours or 0)
        # The rent happened after the intent was written: counting from the intent can only
        # end the tracking early, never after the provider's end.
        ends_at = item.ends_at if item.ends_at is not None else intent.created_at + hours * 3600
        rental = await self.db.rentals.add(
            user_id=intent.user_id,
            key_id=key.id,
            provider_id=item.rent_id,
            service=intent.service,
            country=intent.country,
            phone=item.phone.lstrip("+"),
            hours=hours,
            cost=intent.expected_cost,  # the balance dropped by this price
            created_at=intent.created_at,
            ends_at=ends_at,
            chat_id=intent.chat_id if intent.chat_id is not None else intent.user_id,
            next_poll_at=now,
            currency=key.currency,
            intent_id=intent.id,
        )
        self._intent_next.pop(intent.id, None)
        self.stats["adopted"] += 1
        log.info("tracker: adopted rental %s of key %s", rental.id, key.id)
        await self._show_in_checking_message(intent, rental)

    async def _show_in_checking_message(self, intent: PendingPurchase, rental: Rental) -> None:
        """The rental's card replaces the intent's "checking" message (when it has one)."""
        if intent.message_id is not None:
            chat = intent.chat_id if intent.chat_id is not None else intent.user_id
            await self.db.rentals.set_card(rental.id, chat, intent.message_id)
            rental.chat_id, rental.message_id = chat, intent.message_id
        await self._notify(rental.user_id, partial(self.notifier.rental_changed, rental))

    async def _list_rentals(
        self, state: _KeyState, client: ProviderClient
    ) -> list[RentListItem] | None:
        """The key's rentals (getRentList); None when the provider has none (noted on the key
        state) or the list failed now."""
        if not client.supports("getRentList"):
            state.rent_list_missing = True
            return None
        try:
            return await self._call(state, client.get_rent_list, fault_stops_key=False)
        except ActionNotSupported:
            state.rent_list_missing = True
            return None
        except ProviderError:
            return None

    async def _record_extension(self, key: KeyProfile, intent: PendingPurchase) -> bool:
        rental = (
            None if intent.rental_id is None else await self.db.rentals.get_any(intent.rental_id)
        )
        if rental is None or not intent.hours:
            return False
        ends_at = rental.ends_at + int(intent.hours) * 3600
        await self.db.rentals.extend(
            rental.id,
            ends_at,
            int(intent.hours),
            cost=intent.expected_cost,  # the balance dropped by this price
            currency=key.currency,
            intent_id=intent.id,
        )
        fresh = await self.db.rentals.get_any(rental.id)
        if fresh is not None:
            await self._show_in_checking_message(intent, fresh)
        return True

    async def _close_intent(self, intent: PendingPurchase, outcome: str) -> None:
        """Close an intent without a stored number and tell the user (in its message)."""
        self._intent_next.pop(intent.id, None)
        if not await self.db.pending.resolve(intent.id, outcome):
            return  # resolved meanwhile (by the purchase itself, or another worker)
        closed = replace(intent, outcome=outcome)
        await self._notify(intent.user_id, partial(self.notifier.pending_unresolved, closed))

    async def _adopt_unknown(
        self,
        key: KeyProfile,
        listing: list[ActiveActivation],
        pending: list[PendingPurchase],
        now: float,
    ) -> set[int]:
        """Store the listed numbers that open activation intents bought (matched by service,
        country and time) and show each in its intent's "checking" message. Returns the ids of
        the intents resolved. Listed numbers that match no intent are never touched."""
        state = self._key_state(key.id)
        waiting = sorted((p for p in pending if p.kind == "activation"), key=lambda p: p.created_at)
        resolved: set[int] = set()
        unknown: list[ActiveActivation] = []
        seen: dict[str, float] = {}
        for item in listing:
            if await self.db.activations.get_by_provider_id(key.id, item.activation_id) is None:
                unknown.append(item)
                seen[item.activation_id] = state.unknown_seen.get(item.activation_id, now)
        state.unknown_seen = seen  # only what is still listed: bounded by the listing
        if not waiting or not unknown:
            return resolved
        offset = await self._provider_offset(key, listing)
        for item in sorted(unknown, key=lambda i: _provider_time(i.activation_time) or 0.0):
            match = self._match_intent(waiting, item, state, offset)
            if match is None:
                continue  # not bought by this bot: left alone
            waiting.remove(match)
            resolved.add(match.id)
            await self._adopt(key, item, match, offset, now)
        return resolved

    def _match_intent(
        self,
        waiting: list[PendingPurchase],
        item: ActiveActivation,
        state: _KeyState,
        offset: float | None,
    ) -> PendingPurchase | None:
        """The oldest open intent this listed number can be the purchase of, or None."""
        first_seen = state.unknown_seen.get(item.activation_id, float("inf"))
        naive = _provider_time(item.activation_time)
        for intent in waiting:
            if item.service is not None and item.service != intent.service:
                continue
            if item.country is not None and intent.country not in ("", "any", item.country):
                continue
            if first_seen < intent.created_at - self.config.clock_slack:
                continue  # listed well before the intent existed: bought elsewhere
            if naive is not None:
                # Provider timestamps carry no zone (Moscow time for the sms-activate family,
                # UTC for others and the sandbox). Learned zone: exact. Unknown zone: the
                # latest plausible reading (UTC) — loose, but it never rejects our own number.
                bought_at = naive - (offset or 0.0)
                if bought_at < intent.created_at - self.config.clock_slack:
                    continue
            return intent
        return None

    async def _adopt(
        self,
        key: KeyProfile,
        item: ActiveActivation,
        intent: PendingPurchase,
        offset: float | None,
        now: float,
    ) -> None:
        # The deadline counts from the purchase, not from adoption: the provider's time when
        # its zone is known and it is plausible, else the intent's time (the purchase came
        # after it, so the auto-cancel can only come early, never after the provider's expiry).
        created = intent.created_at
        naive = _provider_time(item.activation_time)
        if offset is not None and naive is not None:
            bought_at = naive - offset
            if intent.created_at - self.config.clock_slack <= bought_at <= now:
                created = max(intent.created_at, bought_at)
        chat = intent.chat_id if intent.chat_id is not None else intent.user_id
        activation = await self.db.activations.add(
            user_id=intent.user_id,
            key_id=key.id,
            provider_id=item.activation_id,
            service=item.service or intent.service,
            country=item.country or intent.country,
            phone=item.phone.lstrip("+"),
            cost=item.cost if item.cost is not None else intent.expected_cost,
            currency=key.currency,
            created_at=created,
            ends_at=created + self.config.adopt_lifetime,
            cancel_allowed_at=created + self.config.adopt_cancel_lock,
            can_get_another_sms=item.can_get_another_sms,
            chat_id=chat,
            adopted=True,
            next_poll_at=now,
            intent_id=intent.id,
        )
        self._intent_next.pop(intent.id, None)
        if not activation.adopted:
            return  # the purchase itself stored it meanwhile: nothing to adopt
        if intent.message_id is not None and activation.message_id is None:
            await self.db.activations.set_card(activation.id, chat, intent.message_id)
            activation.message_id = intent.message_id
        self.stats["adopted"] += 1
        log.info("tracker: adopted activation %s of key %s", activation.id, key.id)
        await self._notify(
            activation.user_id, partial(self.notifier.activation_adopted, activation)
        )
        self._fast_until[activation.id] = now + self.config.fast_window

    async def _provider_offset(
        self, key: KeyProfile, listing: list[ActiveActivation]
    ) -> float | None:
        """The provider's zone (seconds ahead of UTC), learned from numbers this bot stored
        (their local receipt time against the listed activationTime), rounded to a quarter
        hour; None when the listing shows none of them."""
        learned: list[float] = []
        for item in listing:
            naive = _provider_time(item.activation_time)
            if naive is None:
                continue
            known = await self.db.activations.get_by_provider_id(key.id, item.activation_id)
            if known is not None and not known.adopted:
                learned.append(round((naive - known.created_at) / 900.0) * 900.0)
        if not learned:
            return None
        learned.sort()
        return learned[len(learned) // 2]

    # ------------------------------------------------------------------ helpers

    def _cached_user(self, user_id: int) -> Any:
        """The cached user (None: no such user), or _MISSING when it must be read."""
        cached = self._users.get(user_id)
        if cached is not None and self.clock() < cached[0]:
            return cached[1]
        return _MISSING

    async def _user(self, user_id: int) -> User | None:
        cached = self._users.get(user_id)
        if cached is not None and self.clock() < cached[0]:
            return cached[1]
        user = await self.db.users.get(user_id)
        self._users[user_id] = (self.clock() + self.config.cache_ttl, user)
        return user

    async def _key_profile(self, key_id: int) -> KeyProfile | None:
        cached = self._key_profiles.get(key_id)
        if cached is not None and self.clock() < cached[0]:
            return cached[1]
        key = await self.db.keys.get_any(key_id)
        self._key_profiles[key_id] = (self.clock() + self.config.cache_ttl, key)
        return key

    async def _blocked_cached(self, user_id: int) -> bool:
        """Blocked? A cached "not blocked" is trusted (a refused message drops it); a cached
        "blocked" is read again, so a user who came back gets their codes at once."""
        user = await self._user(user_id)
        if user is None or not user.blocked:
            return False
        return await self._blocked(user_id)

    async def _blocked(self, user_id: int) -> bool:
        # Read fresh: the notifier may have just marked the user.
        user = await self.db.users.get(user_id)
        self._users[user_id] = (self.clock() + self.config.cache_ttl, user)
        return user is not None and user.blocked

    async def _notify(self, user_id: int, event: Callable[[], Awaitable[Any]]) -> None:
        """Tell the user, unless they blocked the bot (their numbers are tracked all the same).
        A notifier failure never stops tracking: the money side is already stored."""
        if await self._blocked(user_id):
            return
        try:
            await event()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("tracker: notifier failed")

    async def _notify_bool(self, event: Awaitable[bool]) -> bool:
        try:
            return bool(await event)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("tracker: notifier failed")
            return False


def _looks(activation: Activation) -> tuple[str, int, bool, bool, str | None]:
    """What a handler may change of a live number (and wake the tracker for)."""
    return (
        activation.status,
        activation.round,
        activation.sms_sent,
        activation.cancel_requested,
        activation.pending_change,
    )


def _awaiting_code(activation: Activation) -> bool:
    return activation.live and not any(c.round == activation.round for c in activation.codes)


def _with_delivered(activation: Activation, rounds: set[int]) -> Activation:
    if not rounds:
        return activation
    codes = [replace(c, delivered=True) if c.round in rounds else c for c in activation.codes]
    return replace(activation, codes=codes)


def _from_list(item: ActiveActivation) -> _Observation | None:
    """Read one getActiveActivations entry; None when it needs a getStatus to be sure."""
    status = (item.status or "").strip()
    if status in _LIST_ENDED:
        return None
    if status == "3":
        return _Observation("wait_retry", item.code, item.text, batched=True)
    if item.code:
        return _Observation("ok", item.code, item.text, batched=True)
    return _Observation("wait_code", batched=True)


def _provider_time(text: str | None) -> float | None:
    """A zone-less provider timestamp read as if it were UTC (the caller applies the zone)."""
    if not text:
        return None
    try:
        moment = datetime.strptime(text.strip()[:19], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC).timestamp()


def _charged(intent: PendingPurchase, balance: Decimal) -> bool:
    """The balance dropped by the price the confirm screen showed (any drop when unknown)."""
    if intent.balance_before is None:
        return False
    drop = intent.balance_before - balance
    if drop <= 0:
        return False
    if intent.expected_cost is None:
        return True
    return abs(drop - intent.expected_cost) <= intent.expected_cost * Decimal("0.01")
