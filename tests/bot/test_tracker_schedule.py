"""The tracker's schedule at load: held in memory (the database stays the truth after a
restart), rows read only for what changed, a request budget sized from the keys and the
latency that serves fresh numbers first, and no key costing more than the naive poller."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, cast

import aiohttp

from bot.changes import Changes
from bot.metrics import Metrics
from bot.provider.factory import ProviderFactory
from bot.tracker import Tracker, TrackerConfig
from bot.tracker.activations import listing_pays
from bot.tracker.scheduler import KeyScheduler, RequestBudget, request_budget, service_latency
from storage import Database
from storage.models import Activation, KeyProfile
from tests.bot.conftest import FAST, LOOPBACK_ALLOWED, USER, RecordingNotifier, actions, buy
from tests.harness import SqlTrace, sending

MakeTracker = Callable[..., Tracker]


def _config(**changes: Any) -> TrackerConfig:
    fields = {name: getattr(FAST, name) for name in FAST.__dataclass_fields__}
    return TrackerConfig(**{**fields, **changes})


async def _more_keys(db: Database, sandbox: Any, count: int) -> list[KeyProfile]:
    """Keys of other users, each with its own sandbox account."""
    keys = []
    for n in range(count):
        user_id = 500 + n
        await db.users.get_or_create(user_id, "en")
        api_key = sandbox.state.create_key(balance="1000")
        keys.append(
            await db.keys.add(
                user_id, label=f"k{n}", base_url=sandbox.url, api_key=api_key, currency="RUB"
            )
        )
    return keys


def _activation_reads(trace: SqlTrace) -> list[str]:
    """The statements that read activation rows (the code look-ups that follow included)."""
    return [sql for sql in trace.statements if sql.startswith("SELECT") and "activations" in sql]


# --------------------------------------------------------------------------- the database


async def test_a_restart_looks_at_every_number_at_once(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    sandbox_key: str,
    clock: Any,
) -> None:
    """The next polls live in memory: a poll that changes nothing writes nothing. A new
    process starts from the numbers the database holds and looks at each at once (its key's
    listing at start is each number's first poll), so what came meanwhile is delivered."""
    sandbox.state.set_balance(sandbox_key, "1000")
    bought = [await buy(tdb, tproviders, tkey, clock) for _ in range(2)]
    first = make_tracker()
    await first.tick()
    assert await tdb.activations.get_many([a.id for a in bought]) == bought  # nothing written
    await first.stop()
    clock.advance(1)  # the first process would not have polled them again yet
    sandbox.state.deliver_sms(bought[1].provider_id, "code 123456")
    notes = RecordingNotifier()
    second = make_tracker(notifier=notes)
    start = len(sandbox.state.requests)
    await second.start()
    await second.idle()
    await second.stop()
    assert actions(sandbox, start) == ["getActiveActivations"]  # the key's one listing
    assert notes.codes() == ["123456"]


async def test_a_listing_without_change_reads_no_rows(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    sandbox_key: str,
    clock: Any,
) -> None:
    sandbox.state.set_balance(sandbox_key, "1000")
    for _ in range(3):
        await buy(tdb, tproviders, tkey, clock)
    tracker = make_tracker()
    await tracker.tick()
    clock.advance(FAST.poll_fast)
    trace = await SqlTrace.start(tdb)
    start = len(sandbox.state.requests)
    await tracker.tick()
    assert actions(sandbox, start) == ["getActiveActivations"]
    # Only the look for numbers stored since (an index probe that finds none): no row read.
    [probe] = _activation_reads(trace)
    assert "FROM activations WHERE id > " in probe


async def test_a_wake_with_ids_reads_only_those_rows(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    sandbox_key: str,
    clock: Any,
) -> None:
    sandbox.state.set_balance(sandbox_key, "1000")
    bought = [await buy(tdb, tproviders, tkey, clock) for _ in range(5)]
    changes = Changes()
    tracker = make_tracker(changes=changes)
    await tracker.tick()
    clock.advance(1)
    trace = await SqlTrace.start(tdb)
    start = len(sandbox.state.requests)
    await tdb.activations.set_sms_sent(bought[2].id)  # the "SMS sent" button ...
    changes.activation_changed(bought[2].id)  # ... tells the tracker which number
    await tracker.tick()
    reads = _activation_reads(trace)
    named = [sql for sql in reads if "json_each" in sql and "FROM activations" in sql]
    assert len(named) == 1  # one query for the rows named
    assert not [sql for sql in reads if "next_poll_at <=" in sql or "ORDER BY next_poll_at" in sql]
    assert not [sql for sql in reads if "FROM activations WHERE status IN" in sql]  # no reload
    # That number awaits a code and was changed: polled at once (its key's listing).
    assert actions(sandbox, start) == ["getActiveActivations"]


async def test_a_wake_naming_an_ended_number_drops_it(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
) -> None:
    a = await buy(tdb, tproviders, tkey, clock)
    changes = Changes()
    tracker = make_tracker(changes=changes)
    await tracker.tick()
    await tdb.activations.set_status(a.id, "finished", ended_at=clock())  # "Done" on the card
    changes.activation_changed(a.id)
    start = len(sandbox.state.requests)
    await tracker.tick()
    clock.advance(FAST.poll_slow)
    await tracker.tick()
    assert actions(sandbox, start) == []  # never polled again


async def test_a_number_stored_without_a_wake_is_found_by_the_next_pass(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    tracker = make_tracker()
    await tracker.tick()
    a = await buy(tdb, tproviders, tkey, clock)  # the database is the truth
    sandbox.state.deliver_sms(a.provider_id, "code 246810")
    await tracker.tick()
    assert notes.codes() == ["246810"]


# --------------------------------------------------------------------------- cost per key


def test_a_key_with_one_number_is_asked_by_get_status() -> None:
    assert not listing_pays(1, batch=True)
    assert listing_pays(2, batch=True)
    assert not listing_pays(5, batch=False)  # the provider has no listing


async def test_one_number_keys_cost_no_more_than_the_naive_poller(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
) -> None:
    keys = [tkey, *await _more_keys(tdb, sandbox, 4)]
    for key in keys:
        await buy(tdb, tproviders, key, clock)
    tracker = make_tracker()
    start = len(sandbox.state.requests)
    window = 60.0
    elapsed = 0.0
    while elapsed < window:
        await tracker.tick()
        clock.advance(FAST.tick * 25)
        elapsed += FAST.tick * 25
    asked = actions(sandbox, start)
    # The naive poller: one getStatus per number per interval (the fast one, all along here).
    naive = len(keys) * (window / FAST.poll_fast + 1)
    assert set(asked) == {"getStatus"}
    assert len(asked) <= naive


# --------------------------------------------------------------------------- the budget


def test_the_budget_follows_keys_intervals_and_latency() -> None:
    config = TrackerConfig()
    # 5,000 keys in their fast window at 80 ms: 2,000 requests/s, 160 in flight, x2 headroom.
    assert request_budget(5000, 0, 0.08, config) == 320
    # The same keys all past their fast window need a quarter of that.
    assert request_budget(0, 5000, 0.08, config) == 80
    assert request_budget(1000, 4000, 0.08, config) == 128
    # Bounded: never below the floor, never above the ceiling.
    assert request_budget(1, 0, 0.08, config) == config.min_concurrency
    assert request_budget(50_000, 0, 0.4, config) == config.max_concurrency


async def test_a_full_budget_serves_fresh_keys_first() -> None:
    budget = RequestBudget(1)
    await budget.acquire(urgent=False)  # the one slot is taken
    order: list[str] = []

    async def request(name: str, urgent: bool) -> None:
        await budget.acquire(urgent=urgent)
        order.append(name)
        budget.release()

    waiting = [
        asyncio.create_task(request("slow 1", False)),
        asyncio.create_task(request("slow 2", False)),
        asyncio.create_task(request("fresh", True)),
    ]
    for _ in range(3):
        await asyncio.sleep(0)
    assert budget.waiting == 3 and order == []
    budget.release()
    await asyncio.gather(*waiting)
    assert order == ["fresh", "slow 1", "slow 2"]
    assert budget.in_flight == 0


async def test_a_budget_short_of_what_the_keys_need_grows_while_requests_wait() -> None:
    """The estimate counts one request per key per interval at a quick answer's latency; keys
    may need more (a getStatus per number a listing dropped, a slow tail). A full budget with
    requests waiting grows by half per sizing, up to the ceiling; once none waits it gives back
    an eighth per sizing, down to the estimate. (At 10,000 numbers on 1,000 keys the estimate
    was 19 where 22 were needed: 600 slow keys' requests waited and slow codes were missed.)"""
    config = _config(min_concurrency=8, max_concurrency=30)
    keys = KeyScheduler(
        cast(Any, None), cast(Any, None), cast(Any, None), config, time.time, Metrics()
    )
    budget = keys.budget
    assert keys.size_budget(0, 0) == 8  # no keys: the floor
    sizes = []
    for _ in range(4):
        while budget.in_flight < budget.limit:
            await budget.acquire(urgent=False)
        waiter = asyncio.create_task(budget.acquire(urgent=False))
        await asyncio.sleep(0)
        assert budget.waiting == 1
        sizes.append(keys.size_budget(0, 0))
        await waiter  # the grown budget let it in
    assert sizes == [12, 18, 27, 30]
    while budget.in_flight:
        budget.release()
    shrinking = [keys.size_budget(0, 0) for _ in range(12)]
    assert shrinking[:3] == [26, 22, 19] and shrinking[-1] == 8
    assert shrinking == sorted(shrinking, reverse=True)


async def test_a_waiter_cancelled_gives_its_turn_away() -> None:
    budget = RequestBudget(1)
    await budget.acquire(urgent=True)
    gone = asyncio.create_task(budget.acquire(urgent=True))
    stays = asyncio.create_task(budget.acquire(urgent=False))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    budget.release()
    await stays
    assert budget.in_flight == 1 and budget.waiting == 0


async def test_a_waiter_cancelled_after_its_turn_was_passed_over_stays_cancelled() -> None:
    """Every key job cancelled at once (a stop, a key's time limit): a release between one
    waiter's cancel and its own clean-up passes over the cancelled waiter. That job must still
    end cancelled (a time limit is then a TimeoutError, a stop a stop), not fail as a job."""
    budget = RequestBudget(1)
    await budget.acquire(urgent=False)
    gone = asyncio.create_task(budget.acquire(urgent=False))
    stays = asyncio.create_task(budget.acquire(urgent=False))
    await asyncio.sleep(0)
    gone.cancel()  # its waiter is cancelled now, its clean-up runs at its next step
    budget.release()  # ... after this release passed over it and granted the next waiter
    [outcome] = await asyncio.gather(gone, return_exceptions=True)
    assert isinstance(outcome, asyncio.CancelledError)
    await stays
    assert budget.in_flight == 1 and budget.waiting == 0


async def test_fresh_numbers_are_never_starved_by_a_short_budget(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    sandbox_key: str,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    """One request in flight for all keys: the keys past their fast window wait (their
    intervals stretch), the key with a fresh number is asked right after the one in flight."""
    sandbox.state.set_balance(sandbox_key, "1000")
    slow_keys = await _more_keys(tdb, sandbox, 6)
    old: list[Activation] = [await buy(tdb, tproviders, key, clock) for key in slow_keys]
    await buy(tdb, tproviders, tkey, clock)
    tracker = make_tracker(config=_config(min_concurrency=1, max_concurrency=1))
    clock.advance(FAST.fast_window + 1)
    await tracker.tick()  # every key known, none fresh
    # Bought now, first polled with the others (its key's job is the last one started).
    fresh = await buy(tdb, tproviders, tkey, clock, next_poll_at=clock() + FAST.poll_slow)
    sandbox.state.deliver_sms(fresh.provider_id, "code 777777")
    clock.advance(FAST.poll_slow)  # every old number is due again, and the fresh one
    start = len(sandbox.state.requests)
    await tracker.tick()
    asked = [r["params"].get("id", r["action"]) for r in sandbox.state.requests[start:]]
    assert sorted(asked) == sorted([a.provider_id for a in old] + ["getActiveActivations"])
    assert asked.index("getActiveActivations") <= 1  # at most the one in flight before it
    assert notes.codes() == ["777777"]


async def test_a_change_read_while_a_poll_runs_is_not_overwritten_by_it(
    tdb: Database, tproviders: ProviderFactory, tkey: KeyProfile, clock: Any
) -> None:
    """A cancel asked while the number's poll is in flight: the poll's older copy of the row
    does not replace the one read for the change, and the number is looked at again at once."""
    from bot.tracker.timing import ActivationTiming

    timing = ActivationTiming(FAST)
    a = await buy(tdb, tproviders, tkey, clock)
    timing.load_all(await tdb.activations.live(), clock())
    polled_at = clock()
    [[in_flight]] = timing.due(polled_at).values()  # the key's job takes it
    clock.advance(1)
    await tdb.activations.request_cancel(USER, a.id)  # meanwhile, on the card
    timing.load(await tdb.activations.get_many([a.id]), clock(), named=[a.id])
    timing.schedule(in_flight, polled_at, None)  # the job ends with what it had
    kept = timing.row(a.id)
    assert kept is not None and kept.cancel_requested
    assert list(timing.due(clock())) == [tkey.id]  # due again at once


async def test_the_start_listing_is_each_keys_first_poll(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    sandbox_key: str,
    clock: Any,
) -> None:
    """Reconciling a key at start lists its numbers once; that listing also polls them, so
    the first pass does not ask again."""
    sandbox.state.set_balance(sandbox_key, "1000")
    for _ in range(3):
        await buy(tdb, tproviders, tkey, clock)
    tracker = make_tracker()
    start = len(sandbox.state.requests)
    await tracker.start()
    await tracker.idle()
    await tracker.stop()
    assert actions(sandbox, start) == ["getActiveActivations"]
    await tracker.tick()
    assert actions(sandbox, start) == ["getActiveActivations"]
    clock.advance(FAST.poll_fast)
    await tracker.tick()
    assert actions(sandbox, start) == ["getActiveActivations"] * 2


def test_the_budget_is_sized_from_quick_answers_not_from_a_queue() -> None:
    """A saturated provider answers late; sizing from those late answers would grow the budget
    and the queue with it. The budget reads the latency of requests that did not queue."""
    assert service_latency([], 0.1) == 0.1
    queued = [0.08] * 30 + [2.0] * 70  # most requests waited behind others
    assert service_latency(queued, 0.1) == 0.08
    assert service_latency([0.3, 0.1, 0.2, 0.5, 0.4], 0.1) == 0.2


async def test_owners_and_keys_are_read_again_together_before_their_cache_expires(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    sandbox_key: str,
    clock: Any,
) -> None:
    """The users and keys the polls use are re-read in one query each, before they expire:
    no poll reads its owner or its key alone (at 5,000 keys that was 330 reads a second)."""
    sandbox.state.set_balance(sandbox_key, "1000")
    keys = [tkey, *await _more_keys(tdb, sandbox, 4)]
    for key in keys:
        await buy(tdb, tproviders, key, clock)
    tracker = make_tracker(config=_config(cache_ttl=30.0))
    await tracker.tick()
    trace = await SqlTrace.start(tdb)
    start = len(sandbox.state.requests)
    for _ in range(8):  # two ttls of polling, every key every poll_fast
        clock.advance(FAST.poll_fast * 3)
        await tracker.tick()
    assert len(actions(sandbox, start)) >= 8 * len(keys)  # every key kept being polled
    user_reads = trace.matching("FROM users WHERE id")
    key_reads = trace.matching("FROM api_keys WHERE id")
    assert user_reads and all("json_each" in sql for sql in user_reads)
    assert key_reads and all("json_each" in sql for sql in key_reads)
    assert len(user_reads) <= 2 * 2 and len(key_reads) <= 2 * 2  # at most twice per ttl


async def test_a_changed_owner_is_seen_within_the_cache_ttl(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    sandbox_key: str,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    """Auto-cancel switched off in Settings: the re-read together picks it up within the ttl,
    so the number is not cancelled at the margin."""
    sandbox.state.set_balance(sandbox_key, "1000")
    a = await buy(tdb, tproviders, tkey, clock)
    tracker = make_tracker(config=_config(cache_ttl=30.0))
    await tracker.tick()
    await tdb.users.update(USER, auto_cancel=False)
    start = len(sandbox.state.requests)
    while clock() < a.ends_at - FAST.cancel_margin_default + 5:
        clock.advance(FAST.poll_slow)
        await tracker.tick()
    assert "setStatus" not in actions(sandbox, start)
    row = await tdb.activations.get_any(a.id)
    assert row is not None and row.live


async def test_at_start_a_key_with_a_fresh_number_is_reconciled_first(
    tdb: Database, tkey: KeyProfile, sandbox: Any, clock: Any, notes: RecordingNotifier
) -> None:
    """A restart lists every key once (each key's first poll). With the budget full, the keys
    whose numbers are in their fast window go first: their codes do not wait for the listings
    of every other key."""
    listed: list[str] = []

    async def record(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        if request.url.query.get("action") == "getActiveActivations":
            listed.append(request.url.query.get("api_key", ""))
        return await handler(request)

    providers = ProviderFactory(
        timeout=5, read_retries=0, retry_delay=0.0, address_policy=LOOPBACK_ALLOWED,
        middlewares=[record],
    )  # fmt: skip
    try:
        keys = [tkey, *await _more_keys(tdb, sandbox, 5)]
        for key in keys:
            await buy(tdb, providers, key, clock)
        clock.advance(FAST.fast_window + 1)  # every number past its fast window...
        fresh_key = keys[-1]  # ...but one bought now, on the key listed last until now
        fresh = await buy(tdb, providers, fresh_key, clock)
        sandbox.state.deliver_sms(fresh.provider_id, "code 424242")
        tracker = sending(
            Tracker(
                tdb, providers, notes, _config(min_concurrency=1, max_concurrency=1), clock=clock
            )
        )
        await tracker.start()
        await tracker.idle()
        await tracker.stop()
    finally:
        await providers.close()
    assert sorted(listed) == sorted(key.api_key for key in keys)  # each key once
    assert listed.index(fresh_key.api_key) == 0
    assert notes.codes() == ["424242"]
