"""When to look at a live activation again, and when to cancel it: the activation watcher's
schedule.

Its work list is the database (`due_for_poll`); what this keeps in memory are hints that make
it faster (fast-poll windows, cancel retries, next polls decided but not yet written). Losing
them in a restart costs at most a few early or slower polls. Next polls are written once per
pass, in one transaction (`flush`).
"""

from __future__ import annotations

from dataclasses import replace

from bot.tracker.config import TrackerConfig
from storage.activations import ActivationRepo
from storage.models import Activation, User

# What a handler may change of a live number (and wake the tracker for).
Looks = tuple[str, int, bool, bool, str | None]


def looks(activation: Activation) -> Looks:
    return (
        activation.status,
        activation.round,
        activation.sms_sent,
        activation.cancel_requested,
        activation.pending_change,
    )


def awaiting_code(activation: Activation) -> bool:
    return activation.live and not any(c.round == activation.round for c in activation.codes)


def with_delivered(activation: Activation, rounds: set[int]) -> Activation:
    """The activation with the codes of these rounds marked delivered."""
    if not rounds:
        return activation
    codes = [replace(c, delivered=True) if c.round in rounds else c for c in activation.codes]
    return replace(activation, codes=codes)


class ActivationTiming:
    def __init__(self, repo: ActivationRepo, config: TrackerConfig) -> None:
        self._repo = repo
        self._config = config
        self._scheduled: dict[int, float] = {}  # activation id -> next_poll_at we wrote
        self._fast_until: dict[int, float] = {}  # activation id -> fast polling until
        self._cancel_not_before: dict[int, float] = {}  # after EARLY_CANCEL_DENIED
        # What each number looked like when last scheduled: a woken pass polls early only the
        # numbers a handler changed since ("SMS sent", "Another code", a cancel asked), not
        # every number of every key (a wake follows each purchase).
        self._seen: dict[int, Looks] = {}
        # next_poll_at values decided but not yet written: flushed in ONE transaction per pass
        # (losing them in a crash only makes those numbers due early).
        self._next_polls: dict[int, float] = {}

    def wants_look(self, activation: Activation, now: float, *, woken: bool) -> bool:
        """Is this number (loaded with a horizon of one slow interval when woken) due now?"""
        # A job still running may have decided this number's next poll since the flush.
        decided = self._next_polls.get(activation.id)
        if decided is not None and decided > now and not woken:
            return False
        return activation.next_poll_at <= now or (
            awaiting_code(activation) and self._seen.get(activation.id) != looks(activation)
        )

    def note_poke(self, activation: Activation, now: float) -> None:
        """A handler pulled next_poll_at earlier than we set it ("SMS sent", "Another code",
        a purchase): poll fast for a while."""
        scheduled = self._scheduled.get(activation.id)
        if scheduled is not None and activation.next_poll_at < scheduled - 1e-6:
            self.poll_fast_from(activation.id, now)

    def poll_fast_from(self, activation_id: int, now: float) -> None:
        self._fast_until[activation_id] = now + self._config.fast_window

    def retry_cancel_from(self, activation_id: int, now: float) -> None:
        """The provider refused a cancel for now (early-cancel lock, an unclear answer)."""
        self._cancel_not_before[activation_id] = now + self._config.cancel_retry

    def forget(self, activation_id: int) -> None:
        """The number ended: nothing to remember about it."""
        self._scheduled.pop(activation_id, None)
        self._fast_until.pop(activation_id, None)
        self._cancel_not_before.pop(activation_id, None)
        self._seen.pop(activation_id, None)

    def _margin(self, user: User | None) -> tuple[bool, int]:
        """(auto-cancel on, margin seconds) of the owner."""
        if user is None:
            return True, self._config.cancel_margin_default
        margin = user.auto_cancel_margin
        if margin is None or margin < 0:
            margin = self._config.cancel_margin_default
        return user.auto_cancel, int(margin)

    def cancel_time(self, activation: Activation, user: User | None) -> float | None:
        """When the tracker should cancel this codeless number, or None (never)."""
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

    def schedule(self, activation: Activation, now: float, user: User | None) -> float:
        """Decide (and remember, to be written by flush) the number's next poll."""
        # Fast while a code is awaited right after the purchase, after "SMS sent", after
        # "Another code" (status retry) or after a handler pulled the poll earlier.
        fast = awaiting_code(activation) and (
            now < activation.created_at + self._config.fast_window
            or now < self._fast_until.get(activation.id, float("-inf"))
            or activation.status == "retry"
            or activation.sms_sent
        )
        if any(not c.delivered for c in activation.codes):
            # A code Telegram did not take yet: try again soon (not for a blocked user).
            fast = fast or user is None or not user.blocked
        at = now + (self._config.poll_fast if fast else self._config.poll_slow)
        cancel_at = self.cancel_time(activation, user)
        if cancel_at is not None:
            at = min(at, max(cancel_at, now))
        # Look again right at the end (the provider says whether it expired), and once more
        # when the grace for a late SMS is over.
        if now < activation.ends_at:
            at = min(at, activation.ends_at)
        else:
            at = min(at, activation.ends_at + self._config.expiry_grace)
        at = max(at, now + 1e-3)
        self._next_polls[activation.id] = at
        self._scheduled[activation.id] = at
        self._seen[activation.id] = looks(activation)
        return at

    def schedule_together(self, activation_ids: list[int], at: float) -> None:
        """Every number one listing covered polls again at the same moment (the earliest any
        of them wants), so the key settles on one listing per interval."""
        for activation_id in activation_ids:
            self._next_polls[activation_id] = at
            self._scheduled[activation_id] = at

    async def flush(self) -> None:
        """Write every next poll decided since the last flush, in one transaction."""
        if not self._next_polls:
            return
        decided, self._next_polls = self._next_polls, {}
        await self._repo.set_next_poll_each(decided)
