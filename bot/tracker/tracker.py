"""The tracker facade: the loop, and one pass that gives each key its job.

Its work list for one-time numbers is a schedule in memory (`timing`): loaded from the database
once at start, kept up to date from what the tracker itself writes and from the rows use cases
name through `Changes` (`wake`). The next polls stay in memory: a restart lists every key at
once (`start`), each number's first poll, so it resumes every number. Rentals and open purchase
intents are read due from the database. One pass (`tick`) groups what is due by API key and
runs one job per key, concurrently: a key whose provider is slow, rate-limited or broken backs
off alone and never delays the others. Within a key: one getActiveActivations covering all its
live activations when it has several (getStatus for a key with one number: the same cost, and
an end needs no second request), getStatus per id when the provider has no listing or it says
nothing of an id; getRentStatus per rental. Every request goes through one budget sized from
the live keys and the measured latency, fresh keys first.

The parts, each with its own contract: the key scheduler (budget, buckets, back-off, refused
keys), the activation watcher (+ its schedule), the rental watcher, the reconciler (+ adoption);
they share one directory of users and keys and one outbox to the Notifier.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.changes import Change, Changed, Changes
from bot.metrics import Metrics
from bot.provider.client import ProviderClient
from bot.provider.factory import ProviderFactory
from bot.tracker.activations import ActivationWatcher, listing_pays
from bot.tracker.adoption import Adopter
from bot.tracker.config import TrackerConfig
from bot.tracker.directory import Directory
from bot.tracker.leases import AllKeys, KeyShare
from bot.tracker.notifier import Notifier
from bot.tracker.outbox import Outbox
from bot.tracker.reconciler import Reconciler
from bot.tracker.rentals import RentalWatcher
from bot.tracker.replacing import Replacer, Replacing
from bot.tracker.scheduler import KeyDown, KeyScheduler, KeyState
from bot.tracker.timing import ActivationTiming
from storage import Database
from storage.models import Activation, KeyProfile, PendingPurchase, Rental

log = logging.getLogger(__name__)


@dataclass
class _KeyWork:
    activations: list[Activation] = field(default_factory=list)
    rentals: list[Rental] = field(default_factory=list)
    pending: list[PendingPurchase] = field(default_factory=list)


class Tracker:
    """The background work of one process: start/stop own the loop, tick runs one whole pass
    (tests), wake asks for an early one (the Changes port calls it)."""

    def __init__(
        self,
        db: Database,
        providers: ProviderFactory,
        notifier: Notifier,
        config: TrackerConfig | None = None,
        clock: Callable[[], float] = time.time,
        *,
        changes: Changes | None = None,
        metrics: Metrics | None = None,
        replacer: Replacer | None = None,
        keys: KeyShare | None = None,
    ) -> None:
        self.db = db
        # Which keys this process polls: all of them, or a tracker worker's leases.
        self.share: KeyShare = keys or AllKeys()
        self.providers = providers
        self.notifier = notifier
        self.config = config or TrackerConfig()
        self.clock = clock
        self.metrics = metrics or Metrics()
        directory = Directory(db, clock, self.config.cache_ttl)
        outbox = Outbox(notifier, directory)
        self._keys = KeyScheduler(db.keys, directory, outbox, self.config, clock, self.metrics)
        self._timing = ActivationTiming(self.config)
        self._replacing = Replacing(replacer, outbox, clock, self.share)
        self._activations = ActivationWatcher(
            db.activations,
            self._keys,
            directory,
            outbox,
            self._timing,
            self.config,
            self.metrics,
            self._replacing,
            clock,
        )
        self._rentals = RentalWatcher(
            db.rentals, self._keys, directory, outbox, self.config, self.metrics, clock
        )
        adopter = Adopter(db.activations, outbox, self._timing, self.config, self.metrics)
        self._reconciler = Reconciler(
            db,
            providers,
            self._keys,
            self._activations,
            adopter,
            outbox,
            self.config,
            clock,
            self.metrics,
        )
        self._directory = directory
        self._wake = asyncio.Event()
        # What use cases named since the last pass: these rows are read, and only these; the
        # whole live set when a wake names nothing (or too much to name).
        self._woken: set[int] = set()
        self._resync = False
        self._budget_at = float("-inf")  # when the request budget is sized again
        self._directory_at = float("-inf")  # when the directory's entries are read again
        # What changed read, behind the key jobs (never ahead).
        self._bookkeeping: asyncio.Task[None] | None = None
        # Numbers that came due while their key's job ran: due again when it ends.
        self._parked: dict[int, list[Activation]] = {}
        self._task: asyncio.Task[None] | None = None
        # Keys gained (since start(), which resumes the chains of every key held): their
        # chains resume at the next pass.
        self._taken_over: set[int] = set()
        if changes is not None:
            changes.listen(self.wake)
            changes.listen_rentals_opened(self._rentals.hurry)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Reconcile every key with its provider, then start the loop (owned by the caller's
        startup hook; stop() ends it)."""
        if self._task is not None and not self._task.done():
            return
        # Each key's reconciliation runs as that key's job: the loop polls the other keys
        # meanwhile, so a slow provider delays neither the startup nor anybody else's codes.
        now = self.clock()
        await self._load_schedule(now)
        self._size_budget(now)  # before the reconciliations: each asks the provider
        keys: list[KeyProfile] = await self.db.keys.list_all()
        self._directory.know_keys(keys)
        await self._directory.know_users([a.user_id for a in self._timing.live_rows()])
        intents: dict[int, list[PendingPurchase]] = defaultdict(list)
        for intent in await self.db.pending.list_all():
            intents[intent.key_id].append(intent)
        # The keys with a fresh number (or an open intent) first, and ahead in the budget:
        # each listing is its key's first poll, and a restart must not hold a fresh code
        # behind the listings of every other key.
        held = [key for key in keys if self.share.holds(key.id)]  # the others: other workers'
        urgency = {key.id: self._urgent(key.id, bool(intents.get(key.id)), now) for key in held}
        for key in sorted(held, key=lambda key: not urgency[key.id]):
            state = self._keys.state(key.id)
            if not state.busy:
                state.urgent = urgency[key.id]
                live = self._timing.live_of_key(key.id)
                job = self._reconciler.reconcile_safely(key, intents.get(key.id, []), live)
                state.task = asyncio.create_task(job)
        # Chains go on where they stopped; a step whose purchase answer was lost waits for the
        # reconciliation just started (its intent) before anything more is bought. Keys taken
        # over from here on resume their chains as they come (`took_over`).
        self._taken_over.clear()
        await self._replacing.resume()
        self._task = asyncio.create_task(self._loop(), name="tracker")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        jobs = self._keys.running_jobs()
        for job in jobs:
            job.cancel()
        for job in jobs:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await job
        await self._replacing.stop()
        await self._settle_bookkeeping()

    def wake(self, change: Change | None = None) -> None:
        """Poll soon: `change` names the row a use case changed (a purchase, a button); the
        next pass reads that row and polls it at once if it awaits a code and a handler
        changed it ("SMS sent", "Another code", a cancel asked) or marked a change to check.
        Without a change, the next pass reads every live number again and does the same."""
        if change is None or len(self._woken) >= self.config.wake_ids_max:
            self._resync = True
        elif change.kind is Changed.ACTIVATION:
            self._woken.add(change.id)
        self._wake.set()

    def took_over(self, key_ids: list[int]) -> None:
        """This worker now holds these keys: their numbers are polled at once (they were held
        back while another worker polled them), rentals and intents at the next pass."""
        now = self.clock()
        for key_id in key_ids:
            self._timing.due_by(key_id, now)
        # Their chains too, at the next pass: one whose step the previous holder left in
        # flight is settled here (this worker reconciles its intent now).
        self._taken_over.update(key_ids)
        self._wake.set()

    async def let_go(self, key_ids: list[int]) -> None:
        """Before these keys are given to another worker: their running jobs and auto-replace
        steps end (the share no longer holds them, so no new job or step starts)."""
        jobs = [
            state.task
            for key_id in key_ids
            if (state := self._keys.state(key_id)).busy and state.task is not None
        ]
        if jobs:
            await asyncio.gather(*jobs, return_exceptions=True)
        await self._replacing.running_now()  # no auto-replace step of ours in flight on them

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            try:
                await self._pass(wait=False)
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must survive anything one pass does
                log.exception("tracker pass failed")
            await self._next_pass(began)

    async def _next_pass(self, began: float) -> None:
        """Wait for the next pass: `tick` after the last one, sooner when woken, but never
        sooner than `wake_gap` after the last one began: a stream of wakes (purchases, taps,
        each a second or so apart per user, many users) costs a pass per gap, not one each."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.config.tick):
                await self._wake.wait()
                rest = began + self.config.wake_gap - loop.time()
                if rest > 0:
                    await asyncio.sleep(rest)
        self._wake.clear()

    def _urgent(self, key_id: int, pending: bool, now: float) -> bool:
        """Whether the key's requests go first when the budget is full: it has a number in
        its fast window, or a purchase whose outcome is not known yet."""
        return pending or self._timing.key_is_fresh(key_id, now)

    async def tick(self) -> None:
        """One whole pass, awaited to the end (tests call it directly)."""
        await self.idle()
        await self._settle_bookkeeping()
        await self._refresh_schedule(self.clock())
        await self._refresh_directory(self.clock())
        await self._pass(wait=True)
        await self._replacing.idle()  # what the pass's ends made auto-replace buy

    async def idle(self) -> None:
        """Wait for the key jobs still running from the loop (and auto-replace steps)."""
        jobs = self._keys.running_jobs()
        if jobs:
            await asyncio.gather(*jobs, return_exceptions=True)
        await self._replacing.idle()

    # ------------------------------------------------------------------ one pass

    async def _pass(self, *, wait: bool) -> None:
        now = self.clock()
        self.metrics.tracker_ticks.inc()
        if not self._timing.loaded or self._resync or self._woken:
            await self._refresh_schedule(now)  # what a use case just named is polled now
        if now >= self._budget_at:
            self._size_budget(now)
        work: dict[int, _KeyWork] = defaultdict(_KeyWork)
        holds = self.share.holds
        elsewhere = now + self.config.elsewhere_recheck
        for key_id, due in self._timing.due(now).items():
            if holds(key_id):
                work[key_id].activations = due
            else:  # another worker polls this key
                self._timing.hold(due, elsewhere)
        for rental in await self.db.rentals.due_for_poll(now):
            if holds(rental.key_id):
                work[rental.key_id].rentals.append(rental)
        for pending in await self.db.pending.list_all():
            if holds(pending.key_id):
                work[pending.key_id].pending.append(pending)
        if self._taken_over:
            taken, self._taken_over = self._taken_over, set()
            await self._replacing.resume(taken)
        self._replacing.settle_soon()
        jobs: list[asyncio.Task[None]] = []
        for key_id, key_work in work.items():
            state = self._keys.state(key_id)
            if state.busy:
                self._park(state, key_work.activations)
                continue
            if not self._keys.may_start(state, now):
                self._timing.hold(key_work.activations, self._keys.free_at(state, now))
                continue
            state.urgent = self._urgent(key_id, bool(key_work.pending), now)
            state.task = asyncio.create_task(self._run_key(state, key_work, now))
            jobs.append(state.task)
        if wait:  # tick(): it reads around the pass itself
            await asyncio.gather(*jobs, return_exceptions=True)
            return
        # The due keys run already: what the next pass needs from the database is read behind
        # them, never ahead of them, and the loop goes on meanwhile (a pass then works from
        # the schedule it has).
        if self._bookkeeping is None or self._bookkeeping.done():
            self._bookkeeping = asyncio.create_task(self._keep_books())

    async def _keep_books(self) -> None:
        try:
            await self._refresh_schedule(self.clock())
            await self._refresh_directory(self.clock())
        except asyncio.CancelledError:
            raise
        except Exception:  # the next round tries again; the loop must not die of it
            log.exception("tracker: reading changes failed")

    async def _settle_bookkeeping(self) -> None:
        task, self._bookkeeping = self._bookkeeping, None
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _refresh_directory(self, now: float) -> None:
        """The users and keys the polls use, read again together before they expire (a
        quarter of their ttl apart, so each is read twice per ttl at most)."""
        if now < self._directory_at:
            return
        self._directory_at = now + self.config.cache_ttl / 4
        await self._directory.refresh()

    def _size_budget(self, now: float) -> None:
        self._budget_at = now + self.config.budget_every
        self._keys.size_budget(*self._timing.key_counts(now))

    async def _load_schedule(self, now: float) -> None:
        """Every live number from the database: the schedule starts from the truth."""
        self._woken.clear()
        self._resync = False
        rows = await self.db.activations.live()
        self._timing.load_all(rows, now)
        await self._load_deadlines([row.id for row in rows])

    async def _load_deadlines(self, activation_ids: list[int]) -> None:
        """The auto-replace deadlines of the rows just read into the schedule."""
        if self._replacing.replacer is not None and activation_ids:
            self._timing.set_silent(activation_ids, await self._replacing.deadlines(activation_ids))

    async def _refresh_schedule(self, now: float) -> None:
        """Read what changed since the last pass: numbers stored since (an index probe that
        finds nothing most passes) and the rows use cases named. Never a horizon of rows."""
        if self._resync or not self._timing.loaded:
            await self._load_schedule(now)
            return
        named, self._woken = self._woken, set()
        new = await self.db.activations.live_after(self._timing.max_id)
        if new:
            self._timing.load(new, now)
        if named:
            self._timing.load(await self.db.activations.get_many(sorted(named)), now, named=named)
        await self._load_deadlines([row.id for row in new] + sorted(named))

    async def _run_key(self, state: KeyState, work: _KeyWork, now: float) -> None:
        try:
            await self._guarded_key_job(state, work, now)
        finally:
            # A job that stopped early (back-off, fault, time limit) left some due numbers
            # unscheduled: due again when the key may run.
            self._timing.hold(work.activations, self._keys.free_at(state, self.clock()))

    def _park(self, state: KeyState, due: list[Activation]) -> None:
        """Numbers due while their key's job runs wait for its end, not for every pass
        meanwhile (each pass would take them off the schedule and put them back)."""
        parked = self._parked.get(state.key_id)
        if parked is not None:
            parked.extend(due)
            return
        self._parked[state.key_id] = list(due)
        if state.task is not None:
            state.task.add_done_callback(lambda _task: self._unpark(state))

    def _unpark(self, state: KeyState) -> None:
        """The key's job ended: its parked numbers are due when the key may run (a number
        the job itself rescheduled keeps that time)."""
        parked = self._parked.pop(state.key_id, [])
        self._timing.hold(parked, self._keys.free_at(state, self.clock()))

    async def _guarded_key_job(self, state: KeyState, work: _KeyWork, now: float) -> None:
        try:
            async with asyncio.timeout(self.config.key_timeout):
                key = await self._directory.key(state.key_id)
                if key is None:
                    log.warning(
                        "tracker: key %s is gone; its numbers cannot be polled", state.key_id
                    )
                    return
                client = self.providers.client(key.base_url, key.api_key, background=True)
                if not await self._keys.key_accepted(key, client, state, now):
                    return
                await self._key_job(key, client, state, work, now)
        except KeyDown:
            pass
        except TimeoutError:
            log.warning(
                "tracker: key %s took longer than %.0fs", state.key_id, self.config.key_timeout
            )
            self._keys.back_off(state, None)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("tracker: key %s job failed", state.key_id)

    async def _key_job(
        self,
        key: KeyProfile,
        client: ProviderClient,
        state: KeyState,
        work: _KeyWork,
        now: float,
    ) -> None:
        intents = [p for p in work.pending if self._reconciler.intent_due(p, now)]
        want_list = any(p.kind == "activation" for p in intents) or (
            bool(work.activations)
            and listing_pays(self._timing.numbers_of_key(key.id), batch=self.config.batch)
        )
        listing = await self._keys.list_active(state, client) if want_list else None
        if intents:
            await self._reconciler.reconcile_intents(key, client, state, intents, listing, now)
        if work.activations:
            await self._activations.poll(key, client, state, work.activations, listing, now)
        for rental in work.rentals:
            await self._rentals.poll(client, state, rental, now)
