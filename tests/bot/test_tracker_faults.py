"""The tracker under provider faults, on the fake clock shared with the sandbox: a listing that
keeps failing, a key the provider no longer accepts, and error storms that end."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web

from bot.accounts import AccountService
from bot.metrics import Metrics
from bot.provider.errors import ProviderError
from bot.provider.factory import ProviderFactory
from bot.tracker import Tracker
from bot.tracker.scheduler import count_error
from storage import Database
from storage.models import KeyProfile
from tests.bot.conftest import (
    FAST,
    LOOPBACK_ALLOWED,
    USER,
    RecordingNotifier,
    actions,
    buy,
)

MakeTracker = Callable[..., Tracker]
STEP = 1.0  # fake seconds between passes
# A number that holds its code asked every poll_slow, as one awaiting its code: for the tests
# about what a key's faults do to its polling.
KEY_PACED = replace(FAST, poll_settled=FAST.poll_slow)


async def run_for(tracker: Tracker, clock: Any, seconds: float) -> None:
    elapsed = 0.0
    while elapsed < seconds:
        clock.advance(STEP)
        elapsed += STEP
        await tracker.tick()


async def run_until(
    tracker: Tracker, clock: Any, done: Callable[[], bool], limit: float = 900.0
) -> float:
    """Passes every STEP fake seconds until `done()`; the fake seconds it took."""
    started = clock()
    while not done():
        assert clock() - started < limit, "never happened"
        clock.advance(STEP)
        await tracker.tick()
    return clock() - started


# --------------------------------------------------------------------------- item 16


async def test_garbled_listing_falls_back_to_each_numbers_status(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    """The listing answers noise for minutes: codes keep arriving through getStatus, and the
    listing is still tried now and then (not at every pass)."""
    # The key is the matter here: a number holding its code is asked every poll_slow too.
    tracker = make_tracker(config=KEY_PACED)
    first = await buy(tdb, tproviders, tkey, clock)
    second = await buy(tdb, tproviders, tkey, clock)
    sandbox.state.inject_fault("garbled", action="getActiveActivations", count=10**6)
    start = len(sandbox.state.requests)
    await tracker.tick()
    sandbox.state.deliver_sms(first.provider_id, "code 161616")
    fake_wait = await run_until(tracker, clock, lambda: notes.codes() == ["161616"])
    assert fake_wait <= FAST.poll_fast + STEP
    await run_for(tracker, clock, 180)
    sandbox.state.deliver_sms(second.provider_id, "code 262626")
    fake_wait = await run_until(tracker, clock, lambda: notes.codes() == ["161616", "262626"])
    assert fake_wait <= FAST.poll_slow + STEP
    asked = actions(sandbox, start)
    listings = asked.count("getActiveActivations")
    assert 2 <= listings <= 3 + 200 // FAST.listing_retry + 1  # now and then, not every pass
    assert asked.count("getStatus") > listings
    # The listing works again: the key goes back to one listing per interval.
    sandbox.state.clear_faults()
    await run_for(tracker, clock, FAST.listing_retry + FAST.poll_slow)
    start = len(sandbox.state.requests)
    await run_for(tracker, clock, 3 * FAST.poll_slow)
    assert set(actions(sandbox, start)) == {"getActiveActivations"}


async def test_a_listing_fault_alone_never_stops_the_keys_codes(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    """One 502 on the listing: the same pass asks getStatus instead of giving up on the key."""
    tracker = make_tracker()
    a = await buy(tdb, tproviders, tkey, clock)
    sandbox.state.deliver_sms(a.provider_id, "code 313131")
    sandbox.state.inject_fault("html502", action="getActiveActivations", count=1)
    await tracker.tick()
    assert notes.codes() == ["313131"]


@pytest.fixture
async def sql_error_listing() -> AsyncIterator[dict[str, Any]]:
    """A provider whose listing always answers ERROR_SQL; getStatus answers `status`."""
    seen: dict[str, Any] = {"actions": [], "status": "STATUS_WAIT_CODE"}

    async def handle(request: web.Request) -> web.Response:
        action = request.query.get("action", "")
        seen["actions"].append(action)
        if action == "getActiveActivations":
            return web.Response(text="ERROR_SQL")
        return web.Response(text=seen["status"])

    app = web.Application()
    app.router.add_get("/stubs/handler_api.php", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    seen["url"] = f"http://127.0.0.1:{port}/stubs/handler_api.php"
    yield seen
    await runner.cleanup()


async def test_a_listing_refused_again_and_again_is_asked_only_now_and_then(
    make_tracker: MakeTracker,
    tdb: Database,
    clock: Any,
    notes: RecordingNotifier,
    sql_error_listing: dict[str, Any],
) -> None:
    await tdb.users.get_or_create(USER, "en")
    key = await tdb.keys.add(
        USER, label="sql", base_url=sql_error_listing["url"], api_key="sql-key-123456"
    )
    # Two numbers: a key with one is asked by getStatus anyway (the listing costs no less).
    for provider_id in ("555", "556"):
        await tdb.activations.add(
            user_id=USER,
            key_id=key.id,
            provider_id=provider_id,
            service="tg",
            country="0",
            phone=f"70000000{provider_id}",
            cost=Decimal("10"),
            currency="RUB",
            created_at=clock(),
            ends_at=clock() + 1200,
            cancel_allowed_at=clock() + 120,
        )
    tracker = make_tracker()
    await run_for(tracker, clock, 120)
    asked = sql_error_listing["actions"]
    listings = asked.count("getActiveActivations")
    assert FAST.listing_failures <= listings <= FAST.listing_failures + 2
    assert asked.count("getStatus") >= 2 * 120 // (FAST.poll_fast + STEP)  # polled all along
    sql_error_listing["status"] = "STATUS_OK:515253"
    fake_wait = await run_until(tracker, clock, lambda: notes.codes() == ["515253"] * 2)
    assert fake_wait <= FAST.poll_slow + STEP


# --------------------------------------------------------------------------- item 28


@pytest.fixture
async def retrying_providers() -> AsyncIterator[ProviderFactory]:
    """A client that retries each read twice itself, as in production (without the pauses)."""
    factory = ProviderFactory(
        timeout=5, read_retries=2, retry_delay=0.0, address_policy=LOOPBACK_ALLOWED
    )
    yield factory
    await factory.close()


@pytest.fixture
async def impatient_providers() -> AsyncIterator[ProviderFactory]:
    """A client that gives up on an answer after 50 ms, so a storm of timeouts is quick."""
    factory = ProviderFactory(
        timeout=0.05, read_retries=0, retry_delay=0.0, address_policy=LOOPBACK_ALLOWED
    )
    yield factory
    await factory.close()


@pytest.mark.parametrize("kind", ["html502", "empty", "http500", "garbled", "timeout"])
async def test_code_arrives_within_one_slow_interval_after_a_storm(
    tdb: Database,
    retrying_providers: ProviderFactory,
    impatient_providers: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
    kind: str,
) -> None:
    providers = impatient_providers if kind == "timeout" else retrying_providers
    tracker = Tracker(tdb, providers, notes, FAST, clock=clock)
    a = await buy(tdb, providers, tkey, clock)
    await tracker.tick()
    sandbox.state.inject_fault(kind, count=10**6, seconds=1)
    sandbox.state.deliver_sms(a.provider_id, "code 282828")
    await run_for(tracker, clock, 300)  # five minutes of faults
    assert notes.codes() == []
    # The storm ends right after the tracker's latest failed poll: its longest wait.
    before = len(sandbox.state.requests)
    await run_until(tracker, clock, lambda: len(sandbox.state.requests) > before)
    sandbox.state.clear_faults()
    fake_wait = await run_until(tracker, clock, lambda: notes.codes() == ["282828"])
    assert fake_wait <= FAST.poll_slow + STEP


async def test_rate_limit_is_honoured_but_not_beyond_the_cap(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    """A Retry-After is the provider's own word: the key waits that long (a huge one is
    capped), and nothing is asked meanwhile."""
    # The key is the matter here: a number holding its code is asked every poll_slow too.
    tracker = make_tracker(config=KEY_PACED)
    a = await buy(tdb, tproviders, tkey, clock)
    sandbox.state.inject_fault("rate_limit", count=1, retry_after=30)
    await tracker.tick()
    sandbox.state.deliver_sms(a.provider_id, "code 292929")
    start = len(sandbox.state.requests)
    await run_for(tracker, clock, 29)
    assert actions(sandbox, start) == []
    fake_wait = await run_until(tracker, clock, lambda: notes.codes() == ["292929"])
    assert fake_wait <= STEP
    sandbox.state.inject_fault("rate_limit", count=1, retry_after=86400)
    clock.advance(FAST.poll_slow)
    await tracker.tick()
    start = len(sandbox.state.requests)
    fake_wait = await run_until(tracker, clock, lambda: len(sandbox.state.requests) > start)
    assert fake_wait <= FAST.backoff_max + STEP


# --------------------------------------------------------------------------- item 27


def revoke(sandbox: Any, key: str) -> Any:
    """The provider forgets the key (the user regenerated it on the website): BAD_KEY."""
    return sandbox.state.accounts.pop(key)


def restore(sandbox: Any, key: str, account: Any) -> None:
    sandbox.state.accounts[key] = account


async def test_revoked_key_is_left_alone_the_user_told_once_and_it_resumes(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    sandbox_key: str,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    # The key is the matter here: a number holding its code is asked every poll_slow too.
    tracker = make_tracker(config=KEY_PACED)
    a = await buy(tdb, tproviders, tkey, clock)
    await tracker.tick()
    account = revoke(sandbox, sandbox_key)
    start = len(sandbox.state.requests)
    await run_for(tracker, clock, 360)
    assert [key.id for key in notes.of("key_revoked")] == [tkey.id]
    asked = actions(sandbox, start)
    # Not every 2.5 s: the first refusal, then a getBalance every few minutes.
    assert len(asked) <= 2 + 360 // FAST.revoked_probe
    assert asked[-1] == "getBalance"
    # A restart neither hammers the key nor tells the user again.
    await tracker.stop()
    again = make_tracker(config=KEY_PACED)
    start = len(sandbox.state.requests)
    await run_for(again, clock, 120)
    assert len(actions(sandbox, start)) <= 2
    assert len(notes.of("key_revoked")) == 1
    # The key works again: the next probe notices and the code is delivered.
    restore(sandbox, sandbox_key, account)
    sandbox.state.deliver_sms(a.provider_id, "code 272727")
    fake_wait = await run_until(again, clock, lambda: notes.codes() == ["272727"])
    assert fake_wait <= FAST.revoked_probe + FAST.poll_slow + STEP
    assert await tdb.keys.revoked_at(tkey.id) is None
    # Revoked once more later: that is news again, told again.
    revoke(sandbox, sandbox_key)
    await run_for(again, clock, 60)
    assert len(notes.of("key_revoked")) == 2


@pytest.mark.parametrize("how", ["added again", "balance refreshed"])
async def test_a_revoked_key_the_user_shows_working_resumes_at_once(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    sandbox_key: str,
    clock: Any,
    notes: RecordingNotifier,
    how: str,
) -> None:
    """Entering the key again (or its balance answering) proves it works: no waiting for the
    tracker's next getBalance probe, minutes away."""
    tracker = make_tracker()
    a = await buy(tdb, tproviders, tkey, clock)
    await tracker.tick()
    account = revoke(sandbox, sandbox_key)
    await run_for(tracker, clock, 30)
    assert len(notes.of("key_revoked")) == 1
    restore(sandbox, sandbox_key, account)
    sandbox.state.deliver_sms(a.provider_id, "code 373737")
    accounts = AccountService(tdb, tproviders)
    if how == "added again":
        await accounts.add_key(USER, base_url=tkey.base_url, api_key=sandbox_key, label="again")
    else:
        await accounts.refresh_balance(USER, tkey.id)
    assert await tdb.keys.revoked_at(tkey.id) is None
    fake_wait = await run_until(tracker, clock, lambda: notes.codes() == ["373737"])
    assert fake_wait <= FAST.poll_slow + STEP


async def test_revoked_key_message_reaches_the_chat_once(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    sandbox_key: str,
    clock: Any,
    bot: Any,
) -> None:
    from aiogram.methods import SendMessage

    from bot.i18n import Translator
    from tests.harness import telegram_notifier

    notifier = telegram_notifier(bot, tdb, Translator(), None, clock=clock)
    tracker = make_tracker(notifier=notifier)
    await buy(tdb, tproviders, tkey, clock)
    revoke(sandbox, sandbox_key)
    await run_for(tracker, clock, 400)
    sent = bot.session.calls(SendMessage)
    assert len(sent) == 1
    assert sent[0].chat_id == USER
    assert "sandbox" in sent[0].text  # the key's label, so the user knows which one
    assert sandbox_key not in sent[0].text


def test_tracker_counts_unknown_error_codes_under_other() -> None:
    metrics = Metrics()
    for n in range(300):
        count_error(metrics, ProviderError(f"STRANGE_{n}"))
    count_error(metrics, ProviderError("NO_BALANCE"))
    counted = {
        sample.labels["code"]: sample.value
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name == "smsbot_tracker_provider_errors_total"
    }
    assert counted == {"other": 300, "NO_BALANCE": 1}
