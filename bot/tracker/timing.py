"""The schedule of live activations: each number's row as last read, its next poll, and when
to cancel it. The activation watcher's work list.

It lives in memory, and so do the next polls: the database holds each number's state (the
truth after a restart), not when this tracker means to look again. A restart needs none of
those times: it lists every key it holds at once (`Tracker.start`), and that listing is each
number's first poll. Rows are read again only for what changed: numbers stored since
(`live_after`), rows a use case named (`Changes`), and the rows a poll shows a change for. No
pass reloads a horizon of rows, and a poll that changes nothing writes nothing.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import replace

from bot.tracker.config import TrackerConfig
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


def checking(known: Activation, row: Activation) -> bool:
    """A handler marked a change whose outcome the provider must confirm (a cancel, another
    code, a finish: `pending_change`) since the row was last read: the next poll settles it."""
    return row.pending_change is not None and row.pending_change != known.pending_change


def awaiting_code(activation: Activation) -> bool:
    return activation.live and not any(c.round == activation.round for c in activation.codes)


def awaits_nothing(activation: Activation) -> bool:
    """Its code came and was delivered, and no change a handler made is being checked: the
    provider has nothing more to tell of it but its end (another code starts with a button,
    which wakes the tracker and makes it await a code again)."""
    return (
        activation.live
        and activation.pending_change is None
        and not awaiting_code(activation)
        and all(code.delivered for code in activation.codes)
    )


def with_delivered(activation: Activation, rounds: set[int]) -> Activation:
    """The activation with the codes of these rounds marked delivered."""
    if not rounds:
        return activation
    codes = [replace(c, delivered=True) if c.round in rounds else c for c in activation.codes]
    return replace(activation, codes=codes)


class ActivationTiming:
    def __init__(self, config: TrackerConfig) -> None:
        self._config = config
        self.loaded = False  # the whole schedule was read from the database once
        self.max_id = 0  # the highest activation id read: newer rows are new numbers
        self._rows: dict[int, Activation] = {}  # live activation id -> row as last known
        self._at: dict[int, float] = {}  # ... -> next poll (memory: the one that counts)
        self._by_key: dict[int, set[int]] = defaultdict(set)
        # (next poll, id), smallest first; an entry whose time is no longer _at[id] is stale
        # and dropped when it comes up (cheaper than removing it on every reschedule).
        self._heap: list[tuple[float, int]] = []
        # ... -> when a use case's change was last read in: a poll that began before then
        # must not put its older copy of the row back (see `schedule`).
        self._read_at: dict[int, float] = {}
        self._fast_until: dict[int, float] = {}  # activation id -> fast polling until
        self._cancel_not_before: dict[int, float] = {}  # after EARLY_CANCEL_DENIED
        # ... -> when an auto-replace chain gives up on it (no code by then: cancel, replace)
        self._silent_at: dict[int, float] = {}

    # ------------------------------------------------------------------ reading rows in

    def load(self, rows: Iterable[Activation], now: float, *, named: Collection[int] = ()) -> None:
        """Take rows read from the database. A new number is due at its stored first poll. A
        known one is due now when a handler changed it while it awaits a code ("SMS sent",
        "Another code", a cancel asked) or marked a change to check (`checking`); else it
        keeps the time this tracker decided. `named`: ids asked for; one that came back ended
        or not at all is dropped."""
        seen: set[int] = set()
        for row in rows:
            seen.add(row.id)
            self.max_id = max(self.max_id, row.id)
            if not row.live:
                self.forget(row.id)
                continue
            self._take(row, now)
        for activation_id in named:
            if activation_id not in seen:
                self.forget(activation_id)

    def load_all(self, rows: list[Activation], now: float) -> None:
        """Every live row: the schedule starts (or is checked) against the database."""
        live = {row.id for row in rows}
        for activation_id in [i for i in self._rows if i not in live]:
            self.forget(activation_id)
        self.load(rows, now)
        self.loaded = True

    def _take(self, row: Activation, now: float) -> None:
        known = self._rows.get(row.id)
        self._rows[row.id] = row
        self._by_key[row.key_id].add(row.id)
        if known is None:
            self._set_at(row.id, row.next_poll_at)
            return
        self._read_at[row.id] = now
        poked = checking(known, row)
        if poked:  # the answer to a cancel or another code is looked for: fast for a while
            self.poll_fast_from(row.id, now)
        if poked or (awaiting_code(row) and looks(known) != looks(row)):
            self._set_at(row.id, min(self._at.get(row.id, now), now))

    def set_silent(self, loaded: Collection[int], deadlines: dict[int, float]) -> None:
        """The auto-replace deadlines of these rows just read (one a chain left has none)."""
        for activation_id in loaded:
            at = deadlines.get(activation_id)
            if at is None:
                self._silent_at.pop(activation_id, None)
            elif activation_id in self._rows:  # `schedule` polls it by then
                self._silent_at[activation_id] = at

    def _set_at(self, activation_id: int, at: float) -> None:
        self._at[activation_id] = at
        heapq.heappush(self._heap, (at, activation_id))

    # ------------------------------------------------------------------ what is due

    def due(self, now: float) -> dict[int, list[Activation]]:
        """The numbers due now, by key (taken off the schedule: the caller polls each, or
        holds it back)."""
        by_key: dict[int, list[Activation]] = defaultdict(list)
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, activation_id = heapq.heappop(heap)
            if self._at.get(activation_id) != at:
                continue  # rescheduled or ended since
            del self._at[activation_id]
            row = self._rows[activation_id]
            by_key[row.key_id].append(row)
        return by_key

    def hold(self, activations: Iterable[Activation], until: float) -> None:
        """Due numbers whose key may not start now (busy, backing off): due again then."""
        for activation in activations:
            if activation.id in self._rows and activation.id not in self._at:
                self._set_at(activation.id, until)

    def due_by(self, key_id: int, at: float) -> None:
        """The key's scheduled numbers come due by `at` (this worker just took the key over
        from another: they were held back while the other polled them)."""
        for activation_id in self._by_key.get(key_id, ()):
            current = self._at.get(activation_id)
            if current is not None and current > at:
                self._set_at(activation_id, at)

    def live_of_key(self, key_id: int) -> list[Activation]:
        """Every live number of the key as last known (a listing answers for all of them)."""
        return [self._rows[i] for i in sorted(self._by_key.get(key_id, ()))]

    def live_rows(self) -> list[Activation]:
        return list(self._rows.values())

    def numbers_of_key(self, key_id: int) -> int:
        return len(self._by_key.get(key_id, ()))

    def row(self, activation_id: int) -> Activation | None:
        return self._rows.get(activation_id)

    def is_fresh(self, activation: Activation, now: float) -> bool:
        """In its fast window: a code is awaited right after the purchase, after "SMS sent",
        after "Another code" (status retry) or after a handler marked a change to check."""
        return awaiting_code(activation) and (
            now < activation.created_at + self._config.fast_window
            or now < self._fast_until.get(activation.id, float("-inf"))
            or activation.status == "retry"
            or activation.sms_sent
        )

    def key_is_fresh(self, key_id: int, now: float) -> bool:
        return any(self.is_fresh(self._rows[i], now) for i in self._by_key.get(key_id, ()))

    def key_counts(self, now: float) -> tuple[int, int]:
        """(keys with a number in its fast window, keys with live numbers but none fresh)."""
        fresh = sum(1 for key_id in self._by_key if self.key_is_fresh(key_id, now))
        return fresh, len(self._by_key) - fresh

    def __len__(self) -> int:
        return len(self._rows)

    # ------------------------------------------------------------------ deciding

    def poll_fast_from(self, activation_id: int, now: float) -> None:
        self._fast_until[activation_id] = now + self._config.fast_window

    def retry_cancel_from(self, activation_id: int, now: float) -> None:
        """The provider refused a cancel for now (early-cancel lock, an unclear answer)."""
        self._cancel_not_before[activation_id] = now + self._config.cancel_retry

    def forget(self, activation_id: int) -> None:
        """The number ended: nothing to remember about it."""
        row = self._rows.pop(activation_id, None)
        if row is not None:
            ids = self._by_key.get(row.key_id)
            if ids is not None:
                ids.discard(activation_id)
                if not ids:
                    del self._by_key[row.key_id]
        self._at.pop(activation_id, None)
        self._read_at.pop(activation_id, None)
        self._fast_until.pop(activation_id, None)
        self._cancel_not_before.pop(activation_id, None)
        self._silent_at.pop(activation_id, None)

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
        silent = self._silent_at.get(activation.id)
        if silent is not None:  # an auto-replace chain gives up on it then
            wanted = silent if wanted is None else min(wanted, silent)
        if wanted is None:
            return None
        not_before = self._cancel_not_before.get(activation.id, float("-inf"))
        return max(wanted, activation.cancel_allowed_at, not_before)

    def schedule(self, activation: Activation, now: float, user: User | None) -> float:
        """Decide the number's next poll; the row is what the schedule knows of the number
        from now on."""
        fast = self.is_fresh(activation, now)
        if any(not c.delivered for c in activation.codes):
            # A code Telegram did not take yet: try again soon (not for a blocked user).
            fast = fast or user is None or not user.blocked
        at = now + self._interval(activation, fast)
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
        if self._changed_since(activation.id, now):
            # A use case changed the number while this poll ran: the row read then stands
            # (this one is older), and the number is looked at again at once.
            self._decide(activation.id, self._read_at[activation.id])
        elif activation.live:
            self._rows[activation.id] = activation
            self._by_key[activation.key_id].add(activation.id)
            self._decide(activation.id, at)
        return at

    def _interval(self, activation: Activation, fast: bool) -> float:
        if fast:
            return self._config.poll_fast
        if awaits_nothing(activation):
            return self._config.poll_settled
        return self._config.poll_slow

    def schedule_together(self, activation_ids: list[int], at: float, now: float) -> None:
        """Every number one listing covered polls again at the same moment (the earliest any
        of them wants), so the key settles on one listing per interval."""
        for activation_id in activation_ids:
            if activation_id in self._rows and not self._changed_since(activation_id, now):
                self._decide(activation_id, at)

    def _changed_since(self, activation_id: int, now: float) -> bool:
        return self._read_at.get(activation_id, float("-inf")) > now

    def _decide(self, activation_id: int, at: float) -> None:
        if self._at.get(activation_id) != at:
            self._set_at(activation_id, at)
