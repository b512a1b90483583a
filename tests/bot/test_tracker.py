"""The tracker against the sandbox on a fake clock: codes, retries, auto-cancel, rentals,
restarts, broken providers, batching and reconciliation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web

from bot.changes import Changes
from bot.provider.errors import UnknownOutcome
from bot.provider.factory import ProviderFactory
from bot.tracker import Tracker, TrackerConfig
from storage import Database, KeyCipher
from storage.models import KeyProfile
from tests.bot.conftest import FAST, USER, RecordingNotifier, actions, buy, rent, sample
from tests.harness import until

MakeTracker = Callable[..., Tracker]
ERRORS = "smsbot_tracker_provider_errors_total"


async def run_for(tracker: Tracker, clock: Any, seconds: float, step: float) -> None:
    """Advance the fake clock in steps, one pass after each."""
    elapsed = 0.0
    while elapsed < seconds:
        clock.advance(step)
        elapsed += step
        await tracker.tick()


# --------------------------------------------------------------------------- codes


@pytest.mark.parametrize("batch", [True, False])
async def test_code_delivered_once_within_one_fast_interval(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
    batch: bool,
) -> None:
    tracker = make_tracker(config=TrackerConfig(**{**_fields(FAST), "batch": batch}))
    a = await buy(tdb, tproviders, tkey, clock)
    await tracker.tick()
    assert notes.of("code") == []
    clock.advance(0.5)
    sandbox.state.deliver_sms(a.provider_id, "Your Telegram code: 48213")
    await tracker.tick()  # not due yet: the fast interval has not passed
    assert notes.of("code") == []
    clock.advance(FAST.poll_fast - 0.5)
    await tracker.tick()
    assert notes.codes() == ["48213"]
    await run_for(tracker, clock, 60, FAST.poll_fast)
    assert notes.codes() == ["48213"]  # never again
    stored = await tdb.activations.get_any(a.id)
    assert stored is not None and stored.status == "received"
    assert [c.delivered for c in stored.codes] == [True]
    assert sample(tracker, "smsbot_tracker_codes_delivered_total") == 1
    # Found and taken by the chat in the same pass of the fake clock.
    assert sample(tracker, "smsbot_tracker_code_latency_seconds_count") == 1
    assert sample(tracker, "smsbot_tracker_code_latency_seconds_sum") == 0


@pytest.mark.parametrize("batch", [True, False])
async def test_another_code_never_repeats_the_old_one(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
    batch: bool,
) -> None:
    tracker = make_tracker(config=TrackerConfig(**{**_fields(FAST), "batch": batch}))
    a = await buy(tdb, tproviders, tkey, clock)
    sandbox.state.deliver_sms(a.provider_id, "code 111111")
    await tracker.tick()
    assert notes.codes() == ["111111"]
    # "Another code": setStatus 3 at the provider, a new round in the database.
    client = tproviders.client(tkey.base_url, tkey.api_key)
    assert await client.set_status(a.provider_id, 3) == "ACCESS_RETRY_GET"
    await tdb.activations.start_retry(a.id)
    tracker.wake()
    await run_for(tracker, clock, 30, FAST.poll_fast)
    assert notes.codes() == ["111111"]  # STATUS_WAIT_RETRY:111111 is not a new code
    sandbox.state.deliver_sms(a.provider_id, "code 222222")
    await run_for(tracker, clock, 30, FAST.poll_fast)
    assert notes.codes() == ["111111", "222222"]
    assert [code.round for _a, code in notes.of("code")] == [0, 1]


async def test_undelivered_code_is_retried_next_tick(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    tracker = make_tracker()
    a = await buy(tdb, tproviders, tkey, clock)
    sandbox.state.deliver_sms(a.provider_id, "code 5555")
    notes.deliver = False  # e.g. Telegram flood control
    await tracker.tick()
    notes.deliver = True
    clock.advance(FAST.poll_fast)
    await tracker.tick()
    clock.advance(FAST.poll_fast)
    await tracker.tick()
    assert notes.codes() == ["5555", "5555"]  # one failed attempt, one delivery, no more
    assert sample(tracker, "smsbot_tracker_codes_delivered_total") == 1


async def test_events_carry_the_owner_the_key_and_the_stored_row(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    """Whoever draws the message reads neither the owner, the key nor the number again."""
    await tdb.users.update(USER, auto_cancel_margin=300)
    tracker = make_tracker()
    a = await buy(tdb, tproviders, tkey, clock)
    r = await rent(tdb, tproviders, tkey, clock)
    sandbox.state.deliver_sms(a.provider_id, "code 575757")
    sandbox.state.deliver_rent_sms(r.provider_id, "hello", phone_from="Bank")
    await tracker.tick()
    for kind in ("code", "rental_sms"):
        [to] = notes.recipients(kind)
        assert to.user is not None and to.user.id == USER and to.user.auto_cancel_margin == 300
        assert to.key is not None and to.key.id == tkey.id
    [(shown, code)] = notes.of("code")
    stored = await tdb.activations.get_any(a.id)
    assert stored is not None and shown.status == stored.status == "received"
    assert [c.code for c in shown.codes] == [code.code] == ["575757"]
    # The rental handed over after its SMS is the row as stored then (its next poll is
    # written after the event).
    [changed] = notes.of("rental_changed")
    now_stored = await tdb.rentals.get_any(r.id)
    assert now_stored is not None
    assert replace(changed, next_poll_at=now_stored.next_poll_at) == now_stored
    # /metrics counts what happened (every request is timed once).
    requests = sample(tracker, "smsbot_tracker_provider_requests_total")
    assert sample(tracker, "smsbot_tracker_ticks_total") == 1
    assert sample(tracker, "smsbot_tracker_polls_total") == 2  # the listing and the rental
    assert requests == 2
    assert sample(tracker, "smsbot_tracker_provider_latency_seconds_count") == requests
    assert sample(tracker, "smsbot_tracker_codes_delivered_total") == 1
    assert sample(tracker, "smsbot_tracker_rental_sms_delivered_total") == 1


# --------------------------------------------------------------------------- cancel


async def test_no_code_auto_cancel_after_lock_restores_balance(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    sandbox_key: str,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    tracker = make_tracker()
    before = sandbox.state.balance(sandbox_key)
    a = await buy(tdb, tproviders, tkey, clock)
    assert sandbox.state.balance(sandbox_key) < before
    # The user wants the cancel early: 1150 s before expiry means 50 s after purchase,
    # which is still inside the provider's 120 s early-cancel lock.
    await tdb.users.update(USER, auto_cancel_margin=1150)
    await run_for(tracker, clock, 110, 10)
    assert "setStatus" not in actions(sandbox)  # never tried inside the lock
    assert (await tdb.activations.get_any(a.id)).live  # type: ignore[union-attr]
    await run_for(tracker, clock, 20, 10)
    ended = await tdb.activations.get_any(a.id)
    assert ended is not None and ended.status == "cancelled"
    assert sandbox.state.balance(sandbox_key) == before
    assert [(e.id, refunded) for e, refunded in notes.of("ended")] == [(a.id, True)]
    cancels = [r for r in sandbox.state.requests if r["action"] == "setStatus"]
    assert len(cancels) == 1 and cancels[0]["at"] >= a.cancel_allowed_at


async def test_default_margin_cancels_before_expiry(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    sandbox_key: str,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    tracker = make_tracker()
    user = await tdb.users.get(USER)
    assert user is not None
    before = sandbox.state.balance(sandbox_key)
    a = await buy(tdb, tproviders, tkey, clock)
    await run_for(tracker, clock, a.ends_at - a.created_at - user.auto_cancel_margin - 5, 5)
    assert (await tdb.activations.get_any(a.id)).live  # type: ignore[union-attr]
    await run_for(tracker, clock, 10, 5)
    ended = await tdb.activations.get_any(a.id)
    assert ended is not None and ended.status == "cancelled"
    assert clock() < a.ends_at  # before the provider's own expiry
    assert sandbox.state.balance(sandbox_key) == before
    assert sample(tracker, "smsbot_tracker_auto_cancels_total") == 1


async def test_auto_cancel_off_leaves_number_to_expire(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    tracker = make_tracker()
    await tdb.users.update(USER, auto_cancel=False)
    a = await buy(tdb, tproviders, tkey, clock)
    await run_for(tracker, clock, 1260, 30)
    assert "setStatus" not in actions(sandbox)
    ended = await tdb.activations.get_any(a.id)
    assert ended is not None and ended.status == "expired"
    assert [refunded for _e, refunded in notes.of("ended")] == [True]


async def test_cancel_requested_during_lock_runs_when_allowed(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    sandbox_key: str,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    tracker = make_tracker()
    await tdb.users.update(USER, auto_cancel=False)  # only the user's request may cancel
    before = sandbox.state.balance(sandbox_key)
    a = await buy(tdb, tproviders, tkey, clock)
    clock.advance(20)
    assert await tdb.activations.request_cancel(USER, a.id)
    tracker.wake()
    await run_for(tracker, clock, 95, 5)  # 115 s after purchase: still locked
    assert "setStatus" not in actions(sandbox)
    await run_for(tracker, clock, 10, 2.5)
    ended = await tdb.activations.get_any(a.id)
    assert ended is not None and ended.status == "cancelled"
    assert ended.ended_at is not None and ended.ended_at <= a.cancel_allowed_at + FAST.poll_fast
    assert sandbox.state.balance(sandbox_key) == before


async def test_early_cancel_denied_is_retried_not_shown(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    sandbox_key: str,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    tracker = make_tracker()
    before = sandbox.state.balance(sandbox_key)
    a = await buy(tdb, tproviders, tkey, clock)
    # Our record believes the lock is already open; the provider disagrees for 120 s.
    await tdb.connection.execute(
        "UPDATE activations SET cancel_allowed_at = ? WHERE id = ?", (clock(), a.id)
    )
    await tdb.activations.request_cancel(USER, a.id)
    await tracker.tick()
    assert sample(tracker, ERRORS, code="EARLY_CANCEL_DENIED") == 1
    assert notes.of("ended") == []
    await run_for(tracker, clock, 130, 5)
    assert (await tdb.activations.get_any(a.id)).status == "cancelled"  # type: ignore[union-attr]
    assert sandbox.state.balance(sandbox_key) == before


# --------------------------------------------------------------------------- rentals


async def test_rental_three_sms_once_even_after_restart(
    tmp_path: Any,
    secret: str,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    tracker = Tracker(tdb, tproviders, notes, FAST, clock=clock)
    r = await rent(tdb, tproviders, tkey, clock)
    for n in range(3):
        clock.advance(1)
        sandbox.state.deliver_rent_sms(r.provider_id, f"message {n}", phone_from="Bank")
    await tracker.tick()
    assert [sms.text for _r, sms in notes.of("rental_sms")] == [
        "message 0",
        "message 1",
        "message 2",
    ]
    await run_for(tracker, clock, 60, FAST.poll_rental)
    assert len(notes.of("rental_sms")) == 3
    # A restart: a new process, the same database file.
    reopened = await Database.open(tdb.path, KeyCipher([secret]), clock=clock)
    try:
        again = RecordingNotifier()
        second = Tracker(reopened, tproviders, again, FAST, clock=clock)
        await run_for(second, clock, 60, FAST.poll_rental)
        assert again.of("rental_sms") == []
        sandbox.state.deliver_rent_sms(r.provider_id, "message 3")
        await run_for(second, clock, FAST.poll_rental, FAST.poll_rental)
        assert [sms.text for _r, sms in again.of("rental_sms")] == ["message 3"]
    finally:
        await reopened.close()


async def test_rental_reminders_and_end(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    tracker = make_tracker()
    r = await rent(tdb, tproviders, tkey, clock)
    await tracker.tick()
    clock.advance(r.ends_at - clock() - 3600 - 1)
    await tracker.tick()
    assert notes.of("reminder") == []
    clock.advance(2)
    await tracker.tick()
    assert [left for _r, left in notes.of("reminder")] == [3599]
    clock.advance(3600 - 600 - 1)
    await tracker.tick()
    await tracker.tick()
    assert [left for _r, left in notes.of("reminder")] == [3599, 600]
    clock.advance(600)
    await tracker.tick()
    assert [x.id for x in notes.of("rental_ended")] == [r.id]
    ended = await tdb.rentals.get_any(r.id)
    assert ended is not None and not ended.live
    assert len(notes.of("reminder")) == 2


# --------------------------------------------------------------------------- restarts


async def test_stopped_mid_wait_new_tracker_delivers_once(
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
) -> None:
    first_notes = RecordingNotifier()
    first = Tracker(tdb, tproviders, first_notes, FAST, clock=clock)
    a = await buy(tdb, tproviders, tkey, clock)
    await first.start()
    await first.tick()
    assert first.running
    await first.stop()
    assert not first.running
    sandbox.state.deliver_sms(a.provider_id, "code 777000")
    clock.advance(FAST.poll_fast)
    second_notes = RecordingNotifier()
    second = Tracker(tdb, tproviders, second_notes, FAST, clock=clock)
    await second.start()
    try:
        await second.tick()
        await run_for(second, clock, 30, FAST.poll_fast)
    finally:
        await second.stop()
    assert first_notes.codes() == []
    assert second_notes.codes() == ["777000"]


# --------------------------------------------------------------------------- isolation


@pytest.fixture
async def bad_provider() -> AsyncIterator[dict[str, Any]]:
    """A provider that answers every request with a Cloudflare-ish HTML 502 (after `delay`)."""
    seen: dict[str, Any] = {"requests": 0, "answered": 0, "hold": None, "status": 502}

    async def handle(request: web.Request) -> web.Response:
        seen["requests"] += 1
        hold: asyncio.Event | None = seen["hold"]
        if hold is not None:  # hang until the test lets go
            await hold.wait()
        seen["answered"] += 1
        return web.Response(
            status=seen["status"],
            text="<html><body>Bad gateway</body></html>",
            content_type="text/html",
        )

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


async def _bad_key_number(db: Database, url: str, clock: Any) -> KeyProfile:
    await db.users.get_or_create(222, "en")
    bad = await db.keys.add(222, label="broken", base_url=url, api_key="bad-key-123456")
    await db.activations.add(
        user_id=222,
        key_id=bad.id,
        provider_id="999",
        service="tg",
        country="0",
        phone="70000000000",
        cost=Decimal("10"),
        currency="RUB",
        created_at=clock(),
        ends_at=clock() + 1200,
        cancel_allowed_at=clock() + 120,
    )
    return bad


@pytest.mark.parametrize("status", [500, 502])
async def test_broken_provider_does_not_delay_another_key(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
    bad_provider: dict[str, Any],
    status: int,
) -> None:
    bad_provider["status"] = status
    await _bad_key_number(tdb, bad_provider["url"], clock)
    tracker = make_tracker()
    a = await buy(tdb, tproviders, tkey, clock)
    sandbox.state.deliver_sms(a.provider_id, "code 424242")
    await tracker.tick()
    assert notes.codes() == ["424242"]
    assert (
        sample(tracker, ERRORS, code=f"HTTP_{status}") + sample(tracker, ERRORS, code="HTML") >= 1
    )
    # The broken key backs off: the next passes leave it alone while the good key goes on.
    asked = bad_provider["requests"]
    client = tproviders.client(tkey.base_url, tkey.api_key)
    await client.set_status(a.provider_id, 3)
    await tdb.activations.start_retry(a.id)
    tracker.wake()  # as the "Another code" button does
    sandbox.state.deliver_sms(a.provider_id, "code 434343")
    clock.advance(1)
    await tracker.tick()
    assert notes.codes() == ["424242", "434343"]
    assert bad_provider["requests"] == asked


async def test_hanging_provider_does_not_delay_another_keys_code(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
    bad_provider: dict[str, Any],
) -> None:
    # The broken key's provider hangs until the end of the test: the good key's code must be
    # delivered while that request is still unanswered (no wall clock involved).
    hold = asyncio.Event()
    bad_provider["hold"] = hold
    await _bad_key_number(tdb, bad_provider["url"], clock)
    a = await buy(tdb, tproviders, tkey, clock)
    sandbox.state.deliver_sms(a.provider_id, "code 515151")
    tracker = make_tracker()
    await tracker.start()
    try:
        await until(lambda: notes.codes() != [])
        assert notes.codes() == ["515151"]
        assert bad_provider["requests"] >= 1 and bad_provider["answered"] == 0
    finally:
        hold.set()
        await tracker.stop()


# --------------------------------------------------------------------------- blocked users


async def test_blocked_user_number_still_auto_cancelled(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    sandbox_key: str,
    clock: Any,
    bot: Any,
    secret: str,
) -> None:
    from aiogram.exceptions import TelegramForbiddenError
    from aiogram.methods import SendMessage

    from bot.i18n import Translator
    from tests.harness import telegram_notifier

    notifier = telegram_notifier(bot, tdb, Translator(), None, clock=clock)
    tracker = make_tracker(notifier=notifier)
    before = sandbox.state.balance(sandbox_key)
    with_code = await buy(tdb, tproviders, tkey, clock)
    without_code = await buy(tdb, tproviders, tkey, clock)
    sandbox.state.deliver_sms(with_code.provider_id, "code 868686")
    bot.session.fail_next(
        SendMessage,
        TelegramForbiddenError(
            SendMessage(chat_id=USER, text="x"), "Forbidden: bot was blocked by the user"
        ),
    )
    await tracker.tick()
    user = await tdb.users.get(USER)
    assert user is not None and user.blocked
    assert [c.delivered for c in (await tdb.activations.get_any(with_code.id)).codes] == [False]  # type: ignore[union-attr]
    await run_for(tracker, clock, 1200, 30)
    cancelled = await tdb.activations.get_any(without_code.id)
    assert cancelled is not None and cancelled.status == "cancelled"
    cost = with_code.cost or Decimal(0)
    assert sandbox.state.balance(sandbox_key) == before - cost  # the codeless one came back
    # Nothing was pushed to a user who blocked the bot after the first refusal.
    assert len(bot.session.calls(SendMessage)) == 1


# --------------------------------------------------------------------------- batching


async def test_fifty_live_numbers_cost_one_request_per_tick(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    sandbox_key: str,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    sandbox.state.set_stock("0", "tg", 100)
    sandbox.state.set_balance(sandbox_key, "100000")
    bought = [await buy(tdb, tproviders, tkey, clock) for _ in range(50)]
    tracker = make_tracker()
    for _ in range(4):
        start = len(sandbox.state.requests)
        await tracker.tick()
        assert actions(sandbox, start) == ["getActiveActivations"]
        clock.advance(FAST.poll_fast)
    sandbox.state.deliver_sms(bought[17].provider_id, "code 171717")
    start = len(sandbox.state.requests)
    await tracker.tick()
    assert actions(sandbox, start) == ["getActiveActivations"]
    assert notes.codes() == ["171717"]


async def test_without_batch_support_each_id_is_asked(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    tproviders.unsupported(tkey.base_url).add("getActiveActivations")
    bought = [await buy(tdb, tproviders, tkey, clock) for _ in range(3)]
    tracker = make_tracker()
    sandbox.state.deliver_sms(bought[1].provider_id, "code 303030")
    start = len(sandbox.state.requests)
    await tracker.tick()
    assert actions(sandbox, start) == ["getStatus"] * 3
    assert notes.codes() == ["303030"]


# --------------------------------------------------------------------------- reconciliation


async def test_dropped_purchase_is_adopted_and_shown(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    sandbox.state.inject_fault("drop_after_charge")
    client = tproviders.client(tkey.base_url, tkey.api_key)
    with pytest.raises(UnknownOutcome):
        await client.buy_activation("tg", "0")
    assert len(sandbox.state.purchases) == 1  # charged, answer lost
    pending = await tdb.pending.add(
        user_id=USER, key_id=tkey.id, service="tg", country="0", chat_id=5555
    )
    tracker = make_tracker()
    clock.advance(FAST.intent_settle)  # the handler has said "checking" by then
    await tracker.tick()
    adopted = notes.of("adopted")
    assert len(adopted) == 1
    assert sample(tracker, "smsbot_tracker_adopted_total") == 1
    a = adopted[0]
    assert a.adopted and a.provider_id == sandbox.state.purchases[0]["id"]
    assert a.chat_id == 5555 and a.user_id == USER
    assert await tdb.pending.list_all() == []
    assert pending.id  # resolved, not given up
    assert notes.of("unresolved") == []
    sandbox.state.deliver_sms(a.provider_id, "code 616161")
    await run_for(tracker, clock, 5, FAST.poll_fast)
    assert notes.codes() == ["616161"]


async def test_pending_with_nothing_found_is_given_up_and_told(
    make_tracker: MakeTracker,
    tdb: Database,
    tkey: KeyProfile,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    await tdb.pending.add(user_id=USER, key_id=tkey.id, service="tg", country="0", chat_id=USER)
    tracker = make_tracker()
    await tracker.tick()
    assert notes.of("unresolved") == []
    await run_for(tracker, clock, FAST.pending_timeout + FAST.reconcile_max, 30)
    assert len(notes.of("unresolved")) == 1
    assert await tdb.pending.list_all() == []


async def test_start_reconciles_adopts_and_closes(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    # One number the database never heard of (no intent of this bot: bought elsewhere, left
    # alone), one the provider no longer has.
    client = tproviders.client(tkey.base_url, tkey.api_key)
    unknown = await client.buy_activation("tg", "0")
    gone = await buy(tdb, tproviders, tkey, clock)
    clock.advance(130)
    assert await client.set_status(gone.provider_id, 8) == "ACCESS_CANCEL"
    tracker = make_tracker()
    await tracker.start()
    await tracker.idle()
    await tracker.stop()
    assert notes.of("adopted") == []
    assert await tdb.activations.get_by_provider_id(tkey.id, unknown.activation_id) is None
    closed = await tdb.activations.get_any(gone.id)
    assert closed is not None and closed.status == "cancelled"
    assert [(e.id, refunded) for e, refunded in notes.of("ended")] == [(gone.id, True)]


def _fields(config: TrackerConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in config.__dataclass_fields__}


async def test_adopted_number_and_its_code_reach_the_chat(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    bot: Any,
) -> None:
    from aiogram.methods import SendMessage

    from bot.i18n import Translator
    from tests.harness import telegram_notifier

    tracker = make_tracker(notifier=telegram_notifier(bot, tdb, Translator(), None, clock=clock))
    sandbox.state.inject_fault("drop_after_charge")
    with pytest.raises(UnknownOutcome):
        await tproviders.client(tkey.base_url, tkey.api_key).buy_activation("tg", "0")
    await tdb.pending.add(user_id=USER, key_id=tkey.id, service="tg", country="0", chat_id=USER)
    clock.advance(FAST.intent_settle)  # the handler has said "checking" by then
    await tracker.tick()
    phone = sandbox.state.purchases[0]["phone"]
    texts = [m.text for m in bot.session.calls(SendMessage)]
    assert any(f"+{phone}" in text for text in texts)  # the number's card
    adopted = await tdb.activations.get_by_provider_id(tkey.id, sandbox.state.purchases[0]["id"])
    assert adopted is not None and adopted.message_id is not None  # it got a card
    sandbox.state.deliver_sms(adopted.provider_id, "code 909090")
    await run_for(tracker, clock, FAST.poll_fast, FAST.poll_fast)
    codes = [m.text for m in bot.session.calls(SendMessage) if "<code>909090</code>" in m.text]
    assert len(codes) == 1


# --------------------------------------------------------------------------- scale


class _Counting:
    """Wraps a repository and counts calls per method name (the rest passes through)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target):
            return target

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return target(*args, **kwargs)

        return counted


async def test_numbers_of_a_key_settle_on_one_listing_per_interval(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    sandbox_key: str,
    clock: Any,
) -> None:
    sandbox.state.set_stock("0", "tg", 100)
    sandbox.state.set_balance(sandbox_key, "100000")
    for i in range(10):  # bought at different moments: first polls due at different moments
        await buy(tdb, tproviders, tkey, clock, next_poll_at=clock() + 0.25 * i)
    tracker = make_tracker()
    await run_for(tracker, clock, 3 * FAST.poll_fast, FAST.tick)  # settle
    start = len(sandbox.state.requests)
    window = 8 * FAST.poll_fast
    await run_for(tracker, clock, window, FAST.tick)
    listings = actions(sandbox, start)
    assert set(listings) == {"getActiveActivations"}
    assert len(listings) <= window / FAST.poll_fast + 1  # one per interval, not one per number


async def test_unchanged_numbers_cost_no_database_call_each(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    sandbox_key: str,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    sandbox.state.set_stock("0", "tg", 100)
    sandbox.state.set_balance(sandbox_key, "100000")
    bought = [await buy(tdb, tproviders, tkey, clock) for _ in range(20)]
    counting = _Counting(tdb.activations)
    users = _Counting(tdb.users)
    tracker = make_tracker(db=_Db(tdb, activations=counting, users=users))
    await tracker.tick()
    counting.calls.clear()  # counted from the second pass: every number is known by then
    users.calls.clear()
    clock.advance(FAST.poll_fast)
    await tracker.tick()
    # No row read or written (the schedule and its next polls are in memory): one look for
    # numbers stored since; nothing per number.
    assert counting.calls == {"live_after": 1}
    assert users.calls == {}  # the owner's settings are cached across passes
    # A change takes the full path: the code is stored and delivered once.
    sandbox.state.deliver_sms(bought[3].provider_id, "code 313131")
    clock.advance(FAST.poll_fast)
    await tracker.tick()
    assert notes.codes() == ["313131"]
    assert counting.calls["store_code"] == 1 and counting.calls["get_many"] == 1
    assert counting.calls.get("get_any", 0) == 0


class _Db:
    """The real database with some repositories swapped for counting wrappers."""

    def __init__(self, inner: Database, **repos: Any) -> None:
        self._inner = inner
        self._repos = repos

    def __getattr__(self, name: str) -> Any:
        return self._repos.get(name) or getattr(self._inner, name)


async def test_auto_cancel_turned_off_while_cached_is_honoured(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
) -> None:
    tracker = make_tracker(config=TrackerConfig(**{**_fields(FAST), "cache_ttl": 1e9}))
    a = await buy(tdb, tproviders, tkey, clock)
    await tracker.tick()  # the owner (auto-cancel on) is now cached for good
    await tdb.users.update(USER, auto_cancel=False)
    await run_for(tracker, clock, a.ends_at - a.created_at + 60, 30)
    assert "setStatus" not in actions(sandbox)  # re-read before acting: no cancel
    ended = await tdb.activations.get_any(a.id)
    assert ended is not None and ended.status == "expired"


async def test_wake_polls_early_only_the_numbers_a_handler_changed(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    sandbox_key: str,
    clock: Any,
) -> None:
    sandbox.state.set_stock("0", "tg", 100)
    sandbox.state.set_balance(sandbox_key, "100000")
    a = await buy(tdb, tproviders, tkey, clock)
    tracker = make_tracker()
    await tracker.tick()
    clock.advance(1)
    start = len(sandbox.state.requests)
    tracker.wake()  # another user's purchase, say: nothing of this key changed
    await tracker.tick()
    assert actions(sandbox, start) == []
    await tdb.activations.set_sms_sent(a.id)  # the "SMS sent" button
    tracker.wake()
    await tracker.tick()
    assert actions(sandbox, start) == ["getStatus"]  # one number: getStatus, as naive does


# --------------------------------------------------------------------------- lost answers


async def test_cancel_whose_answer_was_lost_is_settled_by_the_next_poll(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    sandbox_key: str,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    """Not done at the provider (a 502 before it acted): the next poll sees the number still
    waiting, drops "checking" and cancels it, once; the user is told of the refund."""
    from bot.orders import OrderService

    changes = Changes()
    tracker = make_tracker(changes=changes)
    orders = OrderService(tdb, tproviders, clock=clock, changes=changes)
    before = sandbox.state.balance(sandbox_key)
    a = await buy(tdb, tproviders, tkey, clock)
    clock.advance(121)
    sandbox.state.inject_fault("html502", action="setStatus")
    result = await orders.cancel(USER, a.id)
    assert result.checking and result.activation.pending_change == "cancel"
    await tracker.tick()
    ended = await tdb.activations.get_any(a.id)
    assert ended is not None and ended.status == "cancelled" and ended.pending_change is None
    assert sandbox.state.balance(sandbox_key) == before
    [(_shown, refunded)] = notes.of("ended")
    assert refunded
    cancels = [r for r in sandbox.state.requests if r["action"] == "setStatus"]
    assert len(cancels) == 2  # the lost one, and the tracker's


async def test_code_arriving_while_a_cancel_is_checked_wins(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    """The cancel never reached the provider and a code came meanwhile: the code is stored and
    delivered, the scheduled cancel and "checking" are gone, and no cancel is sent again."""
    from bot.orders import OrderService

    changes = Changes()
    tracker = make_tracker(changes=changes)
    orders = OrderService(tdb, tproviders, clock=clock, changes=changes)
    a = await buy(tdb, tproviders, tkey, clock)
    clock.advance(121)
    sandbox.state.inject_fault("html502", action="setStatus")
    assert (await orders.cancel(USER, a.id)).checking
    sandbox.state.deliver_sms(a.provider_id, "code 646464")
    await run_for(tracker, clock, 30, FAST.poll_fast)
    stored = await tdb.activations.get_any(a.id)
    assert stored is not None and stored.status == "received"
    assert not stored.cancel_requested and stored.pending_change is None
    assert notes.codes() == ["646464"] and notes.of("ended") == []
    assert len([r for r in sandbox.state.requests if r["action"] == "setStatus"]) == 1


@pytest.mark.parametrize("batch", [True, False])
async def test_another_code_whose_answer_was_lost_starts_the_round(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
    batch: bool,
) -> None:
    from bot.orders import OrderService

    changes = Changes()  # the card's button tells the tracker, as in the app
    tracker = make_tracker(
        config=TrackerConfig(**{**_fields(FAST), "batch": batch}), changes=changes
    )
    orders = OrderService(tdb, tproviders, clock=clock, changes=changes)
    a = await buy(tdb, tproviders, tkey, clock)
    sandbox.state.deliver_sms(a.provider_id, "code 111222")
    await tracker.tick()
    # The provider starts the new round, but its answer arrives as noise.
    sandbox.state.inject_fault("garbled", action="setStatus", process=True)
    checking = await orders.request_another(USER, a.id)
    assert checking.pending_change == "another" and checking.round == 0
    await tracker.tick()
    stored = await tdb.activations.get_any(a.id)
    assert stored is not None and (stored.status, stored.round) == ("retry", 1)
    assert stored.pending_change is None
    assert [e for e in notes.of("changed") if e.id == a.id]  # the card is redrawn
    sandbox.state.deliver_sms(a.provider_id, "code 333444")
    await run_for(tracker, clock, 10, FAST.poll_fast)
    assert notes.codes() == ["111222", "333444"]
