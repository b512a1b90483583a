"""The tracker's settings: intervals, budgets, back-off and reconciliation timings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cadence:
    """How often a fresh number is polled (`poll_fast`) and the loop looks for due work
    (`tick`): a code comes about 0.95 x poll_fast after its SMS at p95 (uniform arrival), plus
    half a tick, the provider's latency and Telegram's. Faster costs CPU in proportion."""

    poll_fast: float
    tick: float


# The all-in-one process (`python -m bot`) shares its core with the handlers: at 10,000
# numbers on 1,000 keys the faster cadence below saturated it (96 % of a core, handler p95
# 8.4 s, against 87 % and 0.15 s at this one; benchmarks.load, docs/performance.md).
SHARED_CORE = Cadence(poll_fast=2.5, tick=0.5)
# A tracker worker (`python -m bot tracker`) has its core to itself: codes in the fast window
# at p95 well within half a per-number poller's (1.8 s against its 5 s and more, 10,000
# numbers on 5,000 keys), at one listing per fresh key every 1.75 s (0.57 requests/s, well
# under providers' per-key limits of 2-5/s). 1.5 s cost 15 % more fresh listings for 0.2 s.
OWN_CORE = Cadence(poll_fast=1.75, tick=0.2)


@dataclass(slots=True)
class TrackerConfig:
    tick: float = SHARED_CORE.tick  # seconds between passes (wake() shortens the wait)
    # ... but not below this, counted from the last pass's start: what a use case names is
    # polled within it, and wakes coming faster (at 10,000 numbers a purchase every 0.12 s,
    # and the taps) share a pass instead of a pass each (12 passes a second, 5 with this).
    wake_gap: float = 0.2
    # Interval while a code is awaited right after a purchase or a button (see Cadence).
    poll_fast: float = SHARED_CORE.poll_fast
    poll_slow: float = 10.0  # interval otherwise
    # A number that awaits nothing (`timing.awaits_nothing`: its code came and was delivered):
    # only an end can come, and it is polled at its end anyway; meanwhile this often, in case
    # it was finished or cancelled elsewhere. A naive poller asks no more once the code came.
    poll_settled: float = 300.0
    fast_window: float = 120.0  # how long "right after" lasts
    poll_rental: float = 20.0
    rps_per_key: float = 5.0
    # Provider requests in flight, all keys together: a budget sized from the live keys, their
    # intervals and the measured provider latency (`request_budget`), within these bounds.
    # The ceiling holds 5,000 keys in their fast window at 80 ms with room for the tail.
    max_concurrency: int = 600
    min_concurrency: int = 8
    budget_headroom: float = 2.0  # in flight = keys / interval x latency x this
    latency_guess: float = 0.1  # provider latency assumed before any is measured, seconds
    budget_every: float = 5.0  # the budget is sized again this often, seconds
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
    # Rows a wake names are read in one query; more than this at once and the whole live set
    # is read again instead (bounds the memory of a burst of changes).
    wake_ids_max: int = 1000
    # After the user opens a rental's card, rents or extends it, it is polled this often for
    # a few minutes (they are likely waiting for an SMS), instead of every `poll_rental`.
    poll_rental_fast: float = 3.0
    rental_fast_window: float = 180.0
    rental_fast_max: int = 10_000  # rentals remembered as "watched" at once (bounded)
    # A number whose key another worker polls is looked at again this often (it comes due at
    # once when this worker takes the key over).
    elsewhere_recheck: float = 10.0
