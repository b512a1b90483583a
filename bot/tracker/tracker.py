"""The tracker facade: the loop, and one pass that gives each key its job.

Its work list is the database (`due_for_poll`), never memory alone, so a restart resumes every
number. One pass (`tick`) groups the due activations, rentals and open purchase intents by API
key and runs one job per key, concurrently: a key whose provider is slow, rate-limited or
broken backs off alone and never delays the others. Within a key: one batched
getActiveActivations covering all its live activations (where the provider has it), getStatus
per id otherwise or when the batch says nothing of an id; getRentStatus per rental.

The parts, each with its own contract: the key scheduler (budget, buckets, back-off, refused
keys), the activation watcher (+ its timing), the rental watcher, the reconciler (+ adoption);
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

from bot.changes import Changes
from bot.metrics import Metrics
from bot.provider.client import ProviderClient
from bot.provider.factory import ProviderFactory
from bot.tracker.activations import ActivationWatcher
from bot.tracker.adoption import Adopter
from bot.tracker.config import TrackerConfig
from bot.tracker.directory import Directory
from bot.tracker.notifier import Notifier
from bot.tracker.outbox import Outbox
from bot.tracker.reconciler import Reconciler
from bot.tracker.rentals import RentalWatcher
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
    ) -> None:
        self.db = db
        self.providers = providers
        self.notifier = notifier
        self.config = config or TrackerConfig()
        self.clock = clock
        self.metrics = metrics or Metrics()
        directory = Directory(db, clock, self.config.cache_ttl)
        outbox = Outbox(notifier, directory)
        self._keys = KeyScheduler(db.keys, directory, outbox, self.config, clock, self.metrics)
        self._timing = ActivationTiming(db.activations, self.config)
        self._activations = ActivationWatcher(
            db.activations, self._keys, directory, outbox, self._timing, self.config, self.metrics
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
        self._woken = False
        self._task: asyncio.Task[None] | None = None
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
        keys: list[KeyProfile] = await self.db.keys.list_all()
        for key in keys:
            state = self._keys.state(key.id)
            if not state.busy:
                state.task = asyncio.create_task(self._reconciler.reconcile_safely(key))
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
        with contextlib.suppress(Exception):
            await self._timing.flush()

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
        await self._timing.flush()

    async def idle(self) -> None:
        """Wait for the key jobs still running from the loop."""
        jobs = self._keys.running_jobs()
        if jobs:
            await asyncio.gather(*jobs, return_exceptions=True)

    # ------------------------------------------------------------------ one pass

    async def _pass(self, *, wait: bool) -> None:
        await self._timing.flush()
        now = self.clock()
        self.metrics.tracker_ticks.inc()
        work: dict[int, _KeyWork] = defaultdict(_KeyWork)
        woken, self._woken = self._woken, False
        horizon = now + self.config.poll_slow if woken else now
        for activation in await self.db.activations.due_for_poll(horizon):
            if self._timing.wants_look(activation, now, woken=woken):
                work[activation.key_id].activations.append(activation)
        for rental in await self.db.rentals.due_for_poll(now):
            work[rental.key_id].rentals.append(rental)
        for pending in await self.db.pending.list_all():
            work[pending.key_id].pending.append(pending)
        jobs: list[asyncio.Task[None]] = []
        for key_id, key_work in work.items():
            state = self._keys.state(key_id)
            if not self._keys.may_start(state, now):
                continue
            state.task = asyncio.create_task(self._run_key(state, key_work, now))
            jobs.append(state.task)
        if wait and jobs:
            await asyncio.gather(*jobs, return_exceptions=True)

    async def _run_key(self, state: KeyState, work: _KeyWork, now: float) -> None:
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
            bool(work.activations) and self.config.batch
        )
        listing = await self._keys.list_active(state, client) if want_list else None
        if intents:
            await self._reconciler.reconcile_intents(key, client, state, intents, listing, now)
        if work.activations:
            await self._activations.poll(key, client, state, work.activations, listing, now)
        for rental in work.rentals:
            await self._rentals.poll(client, state, rental, now)
