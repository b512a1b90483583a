"""The activation watcher: what the provider says of each live number, applied by the one
status rule (`bot.activation_status`), codes delivered, codeless numbers cancelled in time.

Cost per poll decides how many numbers one small machine tracks: a key's numbers are watched
as a whole. After its listing every live number it covered gets the same next poll, so a key
settles on one getActiveActivations per interval (a key with one number asks getStatus: the
same one request, `listing_pays`). A number the answer shows unchanged is decided from the row
the schedule holds, with no database call; only a change (a code, an end, a cancel due) reads
the row again (one query for all of a key's changed numbers) and takes the full path.

Money first: a code is stored before it is sent and marked delivered after; a codeless number
is cancelled before it expires (the early-cancel lock is waited out); a user who blocked the
bot is still tracked and auto-cancelled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from bot.activation_status import (
    CODE_ARRIVED,
    GONE,
    StatusDecision,
    answer_from_error,
    decide,
    ended_status,
    refunded,
    store_decision,
)
from bot.metrics import Metrics
from bot.provider.client import ProviderClient
from bot.provider.errors import ProviderError
from bot.provider.models import ActivationStatus, ActiveActivation
from bot.tracker.config import TrackerConfig
from bot.tracker.directory import Directory
from bot.tracker.observation import Observation, listed_code_is_stale, observation_from_listing
from bot.tracker.outbox import Outbox
from bot.tracker.replacing import Replacing
from bot.tracker.scheduler import KeyScheduler, KeyState
from bot.tracker.timing import ActivationTiming, with_delivered
from storage.activations import ActivationRepo
from storage.models import Activation, ActivationCode, KeyProfile, User


def listing_pays(live_numbers: int, *, batch: bool) -> bool:
    """Poll a key through its listing (one request for all its numbers) rather than getStatus
    per number? Only with more than one: for one number both cost one request, and getStatus
    also tells an end outright where a listing that drops the number needs a getStatus more.
    So a key with one number never costs more than the naive one-getStatus-per-number poller."""
    return batch and live_numbers > 1


class ActivationWatcher:
    def __init__(
        self,
        repo: ActivationRepo,
        keys: KeyScheduler,
        directory: Directory,
        outbox: Outbox,
        timing: ActivationTiming,
        config: TrackerConfig,
        metrics: Metrics,
        replacing: Replacing | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._repo = repo
        self._clock = clock
        self._replacing = replacing
        self._keys = keys
        self._directory = directory
        self._outbox = outbox
        self._timing = timing
        self._config = config
        self._metrics = metrics

    async def get_status(
        self, state: KeyState, client: ProviderClient, activation: Activation
    ) -> Observation | None:
        """getStatus of one id; None when the provider gave no usable answer."""
        self._metrics.tracker_polls.inc()
        try:
            status: ActivationStatus = await self._keys.call(
                state, lambda: client.get_status(activation.provider_id)
            )
        except ProviderError as error:
            gone = answer_from_error(error.code)
            return None if gone is None else Observation(gone.state, gone.code)
        return Observation(status.state, status.code)

    async def poll(
        self,
        key: KeyProfile,
        client: ProviderClient,
        state: KeyState,
        due: list[Activation],
        listing: list[ActiveActivation] | None,
        now: float,
    ) -> None:
        """Look at the key's due numbers: through its listing when there is one, else getStatus
        per id (each number then keeps a schedule of its own)."""
        if listing is None:
            for activation in due:
                observation = await self.get_status(state, client, activation)
                if await self._quiet_now(activation, observation, now) is None:
                    await self._changed(client, state, [(activation, observation)], now)
            return
        self._metrics.tracker_polls.inc()
        listed = {item.activation_id: item for item in listing}
        # The listing covers every live number of the key: one it shows that is not due yet
        # (a code may have arrived for it) is handled now and joins the key's schedule; one
        # it leaves out waits for its own poll. Listed ids the schedule does not hold are
        # numbers of this key bought elsewhere (or ended here): left alone.
        covered = {a.id: a for a in due}
        for activation in self._timing.live_of_key(key.id):
            if activation.provider_id in listed:
                covered.setdefault(activation.id, activation)
        keep: list[int] = []
        key_at = float("inf")
        changed: list[tuple[Activation, Observation | None]] = []
        for activation in covered.values():
            seen: Observation | None = None
            if activation.provider_id in listed:
                seen = observation_from_listing(listed[activation.provider_id])
                if seen is not None and listed_code_is_stale(activation, seen):
                    seen = None  # an old code the list does not mark as old: ask
            at = await self._quiet_now(activation, seen, now)
            if at is None:
                changed.append((activation, seen))
                continue
            keep.append(activation.id)
            key_at = min(key_at, at)
        for activation_id, at in await self._changed(client, state, changed, now):
            keep.append(activation_id)
            key_at = min(key_at, at)
        self._timing.schedule_together(keep, key_at, now)

    async def _quiet_now(
        self, activation: Activation, observation: Observation | None, now: float
    ) -> float | None:
        """The next poll when this answer changes nothing ("still waiting"), decided from the
        row the schedule holds with no database call; None when it needs the full path."""
        found, user = self._directory.cached_user(activation.user_id)
        if not found:
            user = await self._directory.user(activation.user_id)
        if not self._quiet(activation, observation, now, user):
            return None
        return self._timing.schedule(activation, now, user)

    async def _changed(
        self,
        client: ProviderClient,
        state: KeyState,
        changed: list[tuple[Activation, Observation | None]],
        now: float,
    ) -> list[tuple[int, float]]:
        """The numbers an answer shows a change for: their rows read again (ONE query: the
        schedule's copy may be older than a handler's last write), then the full path each.
        Returns (id, next poll) of those that stay live."""
        if not changed:
            return []
        rows = {a.id: a for a in await self._repo.get_many([a.id for a, _seen in changed])}
        kept: list[tuple[int, float]] = []
        for activation, seen in changed:
            fresh = rows.get(activation.id)
            if fresh is None or not fresh.live:
                self._timing.forget(activation.id)  # ended meanwhile (a button, a card)
                continue
            if seen is None:  # not listed, or listed in a way only getStatus makes clear
                seen = await self.get_status(state, client, fresh)
            at = await self.process(client, state, fresh, seen, now)
            if at is not None:
                kept.append((fresh.id, at))
        return kept

    def _quiet(
        self,
        activation: Activation,
        observation: Observation | None,
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
        if now >= activation.ends_at + self._config.expiry_grace:
            return False
        cancel_at = self._timing.cancel_time(activation, user)
        return cancel_at is None or now < cancel_at

    async def process(
        self,
        client: ProviderClient,
        state: KeyState,
        activation: Activation,
        observation: Observation | None,
        now: float,
    ) -> float | None:
        """Apply what the provider said, deliver, expire, cancel, and schedule the next poll
        (returned; None when the number ended or its schedule is already set)."""
        # The row read for this change stands for the number unless the answer changes it.
        # What a handler changed meanwhile is seen next time; a cancel re-reads before it acts.
        fresh: Activation | None = activation
        stored: ActivationCode | None = None
        decision = decide(activation, observation, now)
        if not decision.changes_nothing:
            fresh, stored = await self._apply(activation, decision, observation, now)
        if fresh is None or not fresh.live:
            self._timing.forget(activation.id)
            return None
        fresh = await self._deliver_codes(fresh, stored)
        if now >= fresh.ends_at + self._config.expiry_grace:
            await self._end(fresh, now)
            return None
        if await self._maybe_cancel(client, state, fresh, now):
            return None
        return await self._schedule(fresh, now)

    async def _apply(
        self,
        activation: Activation,
        decision: StatusDecision,
        observation: Observation | None,
        now: float,
    ) -> tuple[Activation | None, ActivationCode | None]:
        """Store what the one status rule decided (the same writer a card's Refresh uses).
        Returns the activation as it now stands (None: ended or gone) and the code this call
        stored (None: nothing new)."""
        text = observation.text if observation is not None else None
        result = await store_decision(self._repo, activation, decision, text=text, now=now)
        if decision.end_as is not None:
            if result.ended:
                await self._announce_end(activation.id)
            return None, None
        started = activation.round + 1 if decision.start_round else activation.round
        if result.round != started or (decision.new_code is not None and not result.code):
            # A card's tap or Refresh changed it meanwhile, or it ended: the database knows.
            return await self._repo.get_any(activation.id), None
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
        changed = fresh
        await self._outbox.tell(
            changed.user_id,
            changed.key_id,
            lambda to: self._outbox.notifier.activation_changed(changed, to),
        )
        return fresh, None

    async def _deliver_codes(
        self, activation: Activation, stored: ActivationCode | None = None
    ) -> Activation:
        """Hand every stored, undelivered code to the notifier, which queues it and settles it
        once the chat took it (marked delivered then: a crash in between repeats at most that
        one message); this pass never waits for Telegram. `stored` is a code this pass has just
        inserted: surely undelivered. Any other the row calls undelivered is checked in the
        database (a card, or the queue, may have shown it since). Returns the activation with
        the marks known now applied."""
        pending = [c for c in activation.codes if not c.delivered]
        if not pending:
            return activation
        if len(pending) != 1 or pending[0] is not stored:
            still = {c.round for c in await self._repo.undelivered_codes(activation.id)}
            activation = with_delivered(activation, {c.round for c in pending} - still)
            pending = [c for c in activation.codes if not c.delivered]
            if not pending:
                return activation
        if await self._directory.blocked_cached(activation.user_id):
            return activation  # kept undelivered: shown if the user comes back
        # Codes settled before the offer returned (a notifier that does not queue): the row
        # handed back says so.
        delivered: set[int] = set()
        for code in pending:
            await self._deliver_code(activation, code, delivered)
        return with_delivered(activation, delivered)

    async def _deliver_code(
        self, activation: Activation, code: ActivationCode, delivered: set[int]
    ) -> None:
        async def settle(taken: bool) -> None:
            if taken:
                await self._repo.mark_code_delivered(activation.id, code.round)
                self._metrics.codes_delivered.inc()
                # received_at is when the tracker stored the code, on the tracker's clock.
                self._metrics.code_latency.observe(max(self._clock() - code.received_at, 0.0))
                delivered.add(code.round)
            else:
                self._directory.forget_user(activation.user_id)  # blocked now? read it next time

        await self._outbox.deliver(
            activation.user_id,
            activation.key_id,
            lambda to: self._outbox.notifier.code_received(activation, code, to, settle),
        )

    async def _end(self, activation: Activation, now: float, *, status: str | None = None) -> None:
        status = status or ended_status(activation, now)
        self._timing.forget(activation.id)
        if await self._repo.set_status(activation.id, status, ended_at=now):
            await self._announce_end(activation.id)

    async def _announce_end(self, activation_id: int) -> None:
        self._timing.forget(activation_id)
        ended = await self._repo.get_any(activation_id)
        if ended is not None:
            await self._outbox.tell(
                ended.user_id,
                ended.key_id,
                lambda to: self._outbox.notifier.activation_ended(ended, refunded(ended), to),
            )
            if self._replacing is not None:
                await self._replacing.ended(ended)  # its auto-replace chain buys the next

    async def _cancel_at(self, activation: Activation) -> float | None:
        """When the tracker should cancel this codeless number, or None (never)."""
        if activation.codes or activation.status != "waiting":
            return None  # no need to read the owner's settings
        user = await self._directory.user(activation.user_id)
        return self._timing.cancel_time(activation, user)

    async def _maybe_cancel(
        self, client: ProviderClient, state: KeyState, activation: Activation, now: float
    ) -> bool:
        """setStatus 8 when it is time; True when this pass is done with the activation."""
        cancel_at = await self._cancel_at(activation)
        if cancel_at is None or now < cancel_at:
            return False
        # Money: the cached row and settings said "cancel"; the current ones decide.
        self._directory.forget_user(activation.user_id)
        fresh = await self._repo.get_any(activation.id)
        if fresh is None or not fresh.live:
            self._timing.forget(activation.id)
            return True
        activation = fresh
        cancel_at = await self._cancel_at(activation)
        if cancel_at is None or now < cancel_at:
            return False
        try:
            await self._keys.call(state, lambda: client.set_status(activation.provider_id, 8))
        except ProviderError as error:
            return await self._cancel_refused(client, state, activation, error, now)
        self._metrics.auto_cancels.inc()
        await self._end(activation, now, status="cancelled")
        return True

    async def _cancel_refused(
        self,
        client: ProviderClient,
        state: KeyState,
        activation: Activation,
        error: ProviderError,
        now: float,
    ) -> bool:
        if error.code in CODE_ARRIVED or error.code in GONE:
            # A code came in, or the number already ended: getStatus tells which, and the one
            # status rule says what that means.
            observation = await self.get_status(state, client, activation)
            decision = decide(activation, observation, now)
            if not decision.changes_nothing:
                current, stored = await self._apply(activation, decision, observation, now)
                if current is None or not current.live:
                    self._timing.forget(activation.id)
                    return True
                if stored is not None:
                    await self._deliver_codes(current, stored)
        # EARLY_CANCEL_DENIED (the lock is longer than we thought) or an unclear answer:
        # try again shortly. Never shown to the user as a failure.
        self._timing.retry_cancel_from(activation.id, now)
        fresh = await self._repo.get_any(activation.id)
        if fresh is not None and fresh.live:
            await self._schedule(fresh, now)
        else:
            self._timing.forget(activation.id)
        return True

    async def _schedule(self, activation: Activation, now: float) -> float:
        return self._timing.schedule(
            activation, now, await self._directory.user(activation.user_id)
        )
