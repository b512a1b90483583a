"""The rental watcher: each rental's status, its SMS stored (once each) and delivered, the
reminders before it ends, and its end."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from bot.metrics import Metrics
from bot.provider.client import ProviderClient
from bot.provider.errors import ProviderError
from bot.provider.models import RentSms
from bot.rental_sms import rental_sms_keys
from bot.tracker.config import TrackerConfig
from bot.tracker.directory import Directory
from bot.tracker.outbox import Outbox
from bot.tracker.scheduler import KeyScheduler, KeyState
from storage.models import Rental, RentalSms
from storage.rentals import RentalRepo

# getRentStatus errors that say how the rental ended.
_ENDED_AS = {"STATUS_FINISH": "finished", "STATUS_CANCEL": "cancelled"}
# ... and the ones that mean "no longer there": an end only once its time is over.
_GONE = frozenset({"NO_ID_RENT", "INVALID_PHONE", "RENT_DIE"})


class RentalWatcher:
    def __init__(
        self,
        repo: RentalRepo,
        keys: KeyScheduler,
        directory: Directory,
        outbox: Outbox,
        config: TrackerConfig,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._repo = repo
        self._clock = clock
        # rental id -> until when it is polled fast (the user is looking at it); oldest first,
        # at most config.rental_fast_max entries.
        self._fast_until: OrderedDict[int, float] = OrderedDict()
        self._keys = keys
        self._directory = directory
        self._outbox = outbox
        self._config = config
        self._metrics = metrics

    def hurry(self, rental_id: int) -> None:
        """The user looks at this rental: poll it every `poll_rental_fast` for a while (the use
        case has already made its next poll due now)."""
        self._fast_until.pop(rental_id, None)
        self._fast_until[rental_id] = self._clock() + self._config.rental_fast_window
        while len(self._fast_until) > self._config.rental_fast_max:
            self._fast_until.popitem(last=False)

    def _interval(self, rental: Rental, now: float) -> float:
        until = self._fast_until.get(rental.id)
        if until is None:
            return self._config.poll_rental
        if now >= until:
            del self._fast_until[rental.id]
            return self._config.poll_rental
        return min(self._config.poll_rental_fast, self._config.poll_rental)

    async def poll(
        self, client: ProviderClient, state: KeyState, rental: Rental, now: float
    ) -> None:
        messages: list[RentSms] = []
        ended_as: str | None = None
        self._metrics.tracker_polls.inc()
        try:
            status = await self._keys.call(
                state, lambda: client.get_rent_status(rental.provider_id)
            )
            messages = list(status.messages)
        except ProviderError as error:
            ended_as = _ENDED_AS.get(error.code)
            if error.code in _GONE and now >= rental.ends_at:
                ended_as = "expired"
        # Oldest first, so the chat shows them in order (the sort is stable for equal dates).
        messages.sort(key=lambda sms: sms.date or "")
        new = 0
        for dedup_key, sms in rental_sms_keys(messages):
            stored = await self._repo.add_sms(
                rental.id,
                dedup_key=dedup_key,
                phone_from=sms.phone_from,
                text=sms.text,
                date=sms.date,
                received_at=now,
            )
            new += stored is not None
        delivered = await self._deliver_sms(rental)
        if new or delivered:
            fresh = await self._repo.get_any(rental.id)
            if fresh is not None:
                await self._tell_changed(fresh)
        if ended_as is None and now >= rental.ends_at:
            ended_as = "expired"
        if ended_as is not None:
            self._fast_until.pop(rental.id, None)
            await self._end(rental, ended_as, now)
            return
        await self._remind(rental, now)
        await self._repo.set_next_poll(rental.id, self._next_poll(rental, now))

    async def _tell_changed(self, rental: Rental) -> None:
        await self._outbox.tell(
            rental.user_id,
            rental.key_id,
            lambda to: self._outbox.notifier.rental_changed(rental, to),
        )

    async def _end(self, rental: Rental, status: str, now: float) -> None:
        if not await self._repo.set_status(rental.id, status, ended_at=now):
            return
        ended = await self._repo.get_any(rental.id)
        if ended is not None:
            await self._tell_ended(ended)

    async def _tell_ended(self, rental: Rental) -> None:
        await self._outbox.tell(
            rental.user_id, rental.key_id, lambda to: self._outbox.notifier.rental_ended(rental, to)
        )

    async def _deliver_sms(self, rental: Rental) -> int:
        """Hand every undelivered SMS to the notifier (queued, never waited for); each is
        marked delivered when the chat took it. Returns how many were settled delivered
        before the offer returned."""
        pending = await self._repo.undelivered_sms(rental.id)
        if not pending or await self._directory.blocked(rental.user_id):
            return 0
        delivered: list[int] = []
        for sms in pending:
            await self._deliver_one(rental, sms, delivered)
        return len(delivered)

    async def _deliver_one(self, rental: Rental, sms: RentalSms, delivered: list[int]) -> None:
        async def settle(taken: bool) -> None:
            if taken:
                await self._repo.mark_sms_delivered(sms.id)
                self._metrics.rental_sms_delivered.inc()
                delivered.append(sms.id)

        await self._outbox.deliver(
            rental.user_id,
            rental.key_id,
            lambda to: self._outbox.notifier.rental_sms(rental, sms, to, settle),
        )

    def _reminder_marks(self, rental: Rental) -> list[int]:
        """Reminders that make sense for this rental: only those shorter than its whole span."""
        span = rental.ends_at - rental.created_at
        return sorted(mark for mark in self._config.reminders if 0 < mark < span)

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
            sent = await self._repo.add_reminder(rental.id, str(mark)) or sent
        if sent:
            seconds_left = max(0, int(left))
            await self._outbox.tell(
                rental.user_id,
                rental.key_id,
                lambda to: self._outbox.notifier.rental_reminder(rental, seconds_left, to),
            )

    def _next_poll(self, rental: Rental, now: float) -> float:
        at = min(now + self._interval(rental, now), rental.ends_at)
        for mark in self._reminder_marks(rental):
            remind_at = rental.ends_at - mark
            if str(mark) not in rental.reminders_sent and remind_at > now:
                at = min(at, remind_at)
        return max(at, now + 1e-3)
