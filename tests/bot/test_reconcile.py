"""Purchase intents and reconciliation, against the sandbox on the shared fake clock: what a
purchase whose answer was lost (or whose process died mid-call) turns into, and what is left
alone."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from bot.orders import OrderService
from bot.provider.factory import ProviderFactory
from bot.rentals import RentalService
from bot.tracker import Tracker, TrackerConfig
from storage import Database, KeyProfile
from storage.tokens import offer_key
from tests.bot.conftest import FAST, USER, RecordingNotifier, actions, rent

PRICE_TG_0 = Decimal("18")  # the sandbox's price of tg in country 0


@pytest.fixture
def orders(tdb: Database, tproviders: ProviderFactory, clock: Any) -> OrderService:
    return OrderService(tdb, tproviders, clock=clock)


@pytest.fixture
def rentals(tdb: Database, tproviders: ProviderFactory, clock: Any) -> RentalService:
    return RentalService(tdb, tproviders, clock=clock)


async def run_for(tracker: Tracker, clock: Any, seconds: float, step: float) -> None:
    elapsed = 0.0
    while elapsed < seconds:
        clock.advance(step)
        elapsed += step
        await tracker.tick()


async def buy_lost(orders: OrderService, *, message_id: int = 42) -> Any:
    """A confirm tap whose provider answer is lost (the fault injected decides whether it
    was charged)."""
    token = await orders.offer_token(
        USER, service="tg", country="0", max_price=None, price=PRICE_TG_0
    )
    result = await orders.buy(
        USER,
        token=token,
        service="tg",
        country="0",
        max_price=None,
        chat_id=USER,
        message_id=message_id,
    )
    assert result.pending and result.intent is not None
    return result.intent


# --------------------------------------------------------------------------- item 6 and 26


async def test_lost_answer_is_adopted_into_its_checking_message_with_the_purchase_deadline(
    make_tracker: Any,
    orders: OrderService,
    tdb: Database,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    sandbox.state.inject_fault("drop_after_charge", action="getNumberV2")
    tapped_at = clock()
    intent = await buy_lost(orders)
    bought = sandbox.state.purchases[0]
    clock.advance(60)  # the provider was slow: the tracker sees it a minute later
    tracker = make_tracker()
    await tracker.tick()
    [adopted] = notes.of("adopted")
    assert adopted.provider_id == bought["id"] and adopted.user_id == USER
    # Shown in the message that said "checking", with its price.
    assert (adopted.chat_id, adopted.message_id) == (USER, 42)
    assert adopted.cost == PRICE_TG_0
    # The deadline counts from the purchase (the intent's time), not from adoption.
    assert adopted.ends_at == tapped_at + 1200
    assert adopted.cancel_allowed_at == tapped_at + 120
    stored = await tdb.pending.get(intent.id)
    assert stored is not None and (stored.outcome, stored.provider_id) == ("bought", bought["id"])
    assert await tdb.pending.list_all() == [] and notes.of("unresolved") == []
    sandbox.state.deliver_sms(adopted.provider_id, "code 616161")
    await run_for(tracker, clock, FAST.poll_fast, FAST.poll_fast)
    assert notes.codes() == ["616161"]


async def test_not_bought_is_said_only_once_the_provider_proves_it(
    make_tracker: Any,
    orders: OrderService,
    tdb: Database,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    # A 502 page: the request was not processed, but the bot cannot know that.
    sandbox.state.inject_fault("html502", action="getNumberV2")
    intent = await buy_lost(orders)
    assert intent.balance_before == Decimal("100")
    tracker = make_tracker()
    await tracker.tick()  # right away: the provider may still be processing it
    assert notes.of("unresolved") == []
    # A listing that fails proves nothing either.
    sandbox.state.inject_fault("html502", action="getActiveActivations", count=10)
    await run_for(tracker, clock, 30, 1)
    assert notes.of("unresolved") == [] and len(await tdb.pending.list_all()) == 1
    sandbox.state.clear_faults()
    # (After failed listings the tracker waits listing_retry before listing again.)
    await run_for(tracker, clock, FAST.listing_retry + FAST.reconcile_max, 1)
    [closed] = notes.of("unresolved")
    assert (closed.id, closed.outcome, closed.message_id) == (intent.id, "not_bought", 42)
    assert sandbox.state.purchases == [] and await tdb.pending.list_all() == []


async def test_a_moved_balance_is_no_proof_and_the_intent_is_given_up_late(
    make_tracker: Any,
    orders: OrderService,
    tdb: Database,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    sandbox.state.inject_fault("html502", action="getNumberV2")
    await buy_lost(orders)
    sandbox.state.set_balance(tkey.api_key, "90")  # something else moved the balance
    tracker = make_tracker(config=TrackerConfig(**{**_fields(FAST), "pending_timeout": 600.0}))
    await run_for(tracker, clock, 590, 10)
    assert notes.of("unresolved") == []
    await run_for(tracker, clock, 20, 10)
    [closed] = notes.of("unresolved")
    assert closed.outcome == "unknown"


async def test_open_intents_are_reconciled_with_back_off(
    make_tracker: Any,
    orders: OrderService,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    sandbox.state.inject_fault("html502", action="getBalance")  # no balance before: no proof
    sandbox.state.inject_fault("html502", action="getNumberV2")
    await buy_lost(orders)
    tracker = make_tracker()
    since = len(sandbox.state.requests)
    await run_for(tracker, clock, 60, 1)
    listings = actions(sandbox, since).count("getActiveActivations")
    # Checked again and again (never once only), but spaced out: 3, 6, 12, 24 ... seconds.
    assert 3 <= listings <= 6
    assert notes.of("unresolved") == []


def _fields(config: TrackerConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in config.__dataclass_fields__}


# --------------------------------------------------------------------------- item 25


async def test_numbers_bought_elsewhere_with_the_key_are_never_adopted_or_cancelled(
    make_tracker: Any,
    orders: OrderService,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    # On the provider's website, with the same key: the bot never offered it.
    elsewhere = await tproviders.client(tkey.base_url, tkey.api_key).buy_activation("tg", "0")
    tracker = make_tracker()
    await tracker.start()
    await tracker.idle()
    await tracker.stop()
    # Ten minutes later the bot's own purchase of the same service loses its answer (and was
    # not processed): the older number is not taken for it.
    clock.advance(600)
    sandbox.state.inject_fault("html502", action="getNumberV2")
    intent = await buy_lost(orders)
    await run_for(tracker, clock, 580, 10)  # past the moment an adopted one was auto-cancelled
    assert notes.of("adopted") == []
    assert await tdb.activations.get_by_provider_id(tkey.id, elsewhere.activation_id) is None
    assert sandbox.state.activations[elsewhere.activation_id].status == "waiting"
    [closed] = notes.of("unresolved")
    assert (closed.id, closed.outcome) == (intent.id, "not_bought")


# --------------------------------------------------------------------------- item 24


async def test_number_charged_just_before_a_crash_is_found_after_a_slow_restart(
    make_tracker: Any,
    orders: OrderService,
    tdb: Database,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    # The provider takes the money but answers late; the process dies during the call.
    sandbox.state.inject_fault("timeout", action="getNumberV2", seconds=30)
    token = await orders.offer_token(USER, service="tg", country="0", max_price=None)
    call = asyncio.create_task(
        orders.buy(
            USER, token=token, service="tg", country="0", max_price=None, chat_id=7, message_id=9
        )
    )
    while not sandbox.state.purchases:
        await asyncio.sleep(0.01)
    call.cancel()  # kill -9: nothing after this line of buy() runs
    with pytest.raises(asyncio.CancelledError):
        await call
    [intent] = await tdb.pending.list_all()  # written before the provider was called
    assert intent.unknown_at is None
    # Restart while the provider is still slow: the start-up reconciliation gets nothing.
    sandbox.state.inject_fault("html502", action="getActiveActivations", count=3)
    tracker = make_tracker()
    await tracker.start()
    await tracker.idle()
    await tracker.stop()
    assert notes.of("adopted") == []
    await run_for(
        tracker, clock, FAST.intent_in_flight + FAST.listing_retry + FAST.reconcile_max, 2
    )
    [adopted] = notes.of("adopted")
    assert adopted.provider_id == sandbox.state.purchases[0]["id"]
    assert (adopted.chat_id, adopted.message_id) == (7, 9)
    assert await tdb.pending.list_all() == []


async def test_a_purchase_in_flight_is_not_reconciled_under_its_feet(
    make_tracker: Any,
    orders: OrderService,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    token = await orders.offer_token(USER, service="tg", country="0", max_price=None)
    claim, intent = await tdb.pending.open(
        token=token,
        offer=offer_key("activation", service="tg", country="0"),
        user_id=USER,
        key_id=tkey.id,
        kind="activation",
        service="tg",
        country="0",
        chat_id=USER,
    )
    assert claim == "ok" and intent is not None
    await tproviders.client(tkey.base_url, tkey.api_key).buy_activation("tg", "0")
    tracker = make_tracker()
    await run_for(tracker, clock, 10, 2)  # the call is still running: its answer will store it
    assert notes.of("adopted") == [] and notes.of("unresolved") == []


# --------------------------------------------------------------------------- item 23


async def test_rent_with_a_lost_answer_is_settled_by_the_balance(
    make_tracker: Any,
    rentals: RentalService,
    tdb: Database,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    [option] = [o for o in await rentals.options(USER, "tg", "0") if o.hours == 4]
    tracker = make_tracker()
    results = []
    for fault in ("drop_after_charge", "html502"):
        sandbox.state.inject_fault(fault, action="getRentNumber")
        token = await rentals.offer_token(
            USER, service="tg", country="0", hours=4, price=option.cost
        )
        result = await rentals.rent(
            USER, token=token, service="tg", country="0", hours=4, chat_id=USER, message_id=50
        )
        assert result.pending and result.intent is not None
        results.append(result.intent)
        await run_for(tracker, clock, FAST.intent_settle + FAST.reconcile_max, 5)
    charged, refused = notes.of("unresolved")
    # Charged: the protocol has no rent listing to find the number by, and the user is told.
    assert (charged.id, charged.kind, charged.outcome) == (results[0].id, "rent", "bought")
    assert charged.expected_cost == option.cost and charged.message_id == 50
    assert (refused.id, refused.outcome) == (results[1].id, "not_bought")
    assert len(sandbox.state.rent_purchases) == 1


async def test_extension_with_a_lost_answer_is_recorded_and_shown(
    make_tracker: Any,
    rentals: RentalService,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    rental = await rent(tdb, tproviders, tkey, clock)
    [option] = [o for o in await rentals.extend_options(USER, rental.id) if o.hours == 12]
    sandbox.state.inject_fault("drop_after_charge", action="continueRentNumber")
    token = await rentals.extend_token(USER, rental.id, hours=12, price=option.cost)
    result = await rentals.extend(USER, rental.id, token=token, hours=12, message_id=61)
    assert result.pending and result.rental is None
    assert len(sandbox.state.extensions) == 1  # charged, answer lost
    tracker = make_tracker()
    await run_for(tracker, clock, FAST.intent_settle + FAST.reconcile_max, 5)
    extended = await tdb.rentals.get_any(rental.id)
    assert extended is not None and extended.hours == 16
    assert extended.ends_at == rental.ends_at + 12 * 3600
    assert extended.message_id == 61  # the "checking" message became the card
    assert any(r.id == rental.id and r.hours == 16 for r in notes.of("rental_changed"))
    assert await tdb.pending.list_all() == [] and notes.of("unresolved") == []


async def test_rent_outcomes_replace_the_checking_message_in_the_chat(
    make_tracker: Any,
    rentals: RentalService,
    tdb: Database,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    bot: Any,
) -> None:
    from aiogram.methods import EditMessageText, SendMessage

    from bot.i18n import Translator
    from tests.harness import telegram_notifier

    translator = Translator()
    tracker = make_tracker(notifier=telegram_notifier(bot, tdb, translator, None, clock=clock))
    [option] = [o for o in await rentals.options(USER, "tg", "0") if o.hours == 4]
    checking: list[int] = []
    for fault in ("drop_after_charge", "html502"):
        message_id = (await bot.send_message(USER, "checking…")).message_id
        checking.append(message_id)
        sandbox.state.inject_fault(fault, action="getRentNumber")
        token = await rentals.offer_token(
            USER, service="tg", country="0", hours=4, price=option.cost
        )
        await rentals.rent(
            USER,
            token=token,
            service="tg",
            country="0",
            hours=4,
            chat_id=USER,
            message_id=message_id,
        )
        await run_for(tracker, clock, FAST.intent_settle + FAST.reconcile_max, 5)
    sent = len(bot.session.calls(SendMessage))
    edits = {m.message_id: m.text for m in bot.session.calls(EditMessageText)}
    charged = translator.get(
        "en", "tracker-rent-charged-unlisted", amount=f"{option.cost:.2f} ₽", service="tg",
        country="0",
    )  # fmt: skip
    assert edits[checking[0]] == charged
    not_rented = translator.get("en", "tracker-not-rented", service="tg", country="0")
    assert edits[checking[1]] == not_rented
    assert sent == 2  # only the two "checking" messages: each result replaced its own


async def _rent_lost(
    rentals: RentalService, sandbox: Any, cost: Decimal, *, message_id: int = 50
) -> Any:
    """A rent confirm tap whose getRentNumber answer is lost after the charge."""
    sandbox.state.inject_fault("drop_after_charge", action="getRentNumber")
    token = await rentals.offer_token(USER, service="tg", country="0", hours=4, price=cost)
    result = await rentals.rent(
        USER, token=token, service="tg", country="0", hours=4, chat_id=USER, message_id=message_id
    )
    assert result.pending and result.intent is not None
    return result


async def test_lost_rent_is_found_in_the_rent_list_and_adopted_into_its_message(
    make_tracker: Any,
    rentals: RentalService,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    sandbox.state.configure(rent_list=True)
    before = await rent(tdb, tproviders, tkey, clock)  # an older rental of the key: not it
    [option] = [o for o in await rentals.options(USER, "tg", "0") if o.hours == 4]
    result = await _rent_lost(rentals, sandbox, option.cost)
    assert result.findable
    bought = sandbox.state.rent_purchases[-1]
    tracker = make_tracker()
    await run_for(tracker, clock, FAST.intent_settle + FAST.reconcile_max, 5)
    adopted = await tdb.rentals.get_by_provider_id(tkey.id, bought["id"])
    assert adopted is not None and adopted.phone == bought["phone"]
    assert (adopted.chat_id, adopted.message_id) == (USER, 50)  # the "checking" message
    assert adopted.cost == option.cost and adopted.hours == 4
    assert adopted.ends_at == result.intent.created_at + 4 * 3600
    stored = await tdb.pending.get(result.intent.id)
    assert stored is not None and (stored.outcome, stored.provider_id) == ("bought", bought["id"])
    assert notes.of("unresolved") == []
    assert any(r.id == adopted.id and r.message_id == 50 for r in notes.of("rental_changed"))
    assert len(await tdb.rentals.list_live(USER)) == 2 and before.id != adopted.id
    # From now on it is polled like any rental: its SMS reaches the chat, once.
    sandbox.state.deliver_rent_sms(bought["id"], "found you 4321", phone_from="Shop")
    await run_for(tracker, clock, 3 * FAST.poll_rental, 5)
    delivered = [sms.text for rental, sms in notes.of("rental_sms") if rental.id == adopted.id]
    assert delivered == ["found you 4321"]


async def test_a_rental_bought_elsewhere_at_the_same_moment_is_never_adopted(
    make_tracker: Any,
    rentals: RentalService,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    sandbox.state.configure(rent_list=True)
    [option] = [o for o in await rentals.options(USER, "tg", "0") if o.hours == 4]
    result = await _rent_lost(rentals, sandbox, option.cost)
    # The same key rents on the provider's website at the same moment.
    await tproviders.client(tkey.base_url, tkey.api_key).get_rent_number("tg", "0", 4)
    assert len(sandbox.state.rent_purchases) == 2
    tracker = make_tracker(config=TrackerConfig(**{**_fields(FAST), "pending_timeout": 600.0}))
    await run_for(tracker, clock, 610, 10)
    assert await tdb.rentals.list_live(USER) == []  # neither was taken for the bot's
    assert notes.of("rental_changed") == [] and notes.of("rental_sms") == []
    [closed] = notes.of("unresolved")
    assert (closed.id, closed.outcome) == (result.intent.id, "unknown")


async def test_several_new_rentals_fall_back_to_the_balance_verdict(
    make_tracker: Any,
    rentals: RentalService,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    sandbox.state.configure(rent_list=True)
    [option] = [o for o in await rentals.options(USER, "tg", "0") if o.hours == 4]
    result = await _rent_lost(rentals, sandbox, option.cost)
    await tproviders.client(tkey.base_url, tkey.api_key).get_rent_number("tg", "0", 4)
    # ... and the balance shows one rent's price spent (say a refund of the other came in).
    sandbox.state.set_balance(tkey.api_key, result.intent.balance_before - option.cost)
    tracker = make_tracker()
    await run_for(tracker, clock, FAST.intent_settle + FAST.reconcile_max, 5)
    assert await tdb.rentals.list_live(USER) == []  # never a guess between the two
    [closed] = notes.of("unresolved")
    assert (closed.id, closed.kind, closed.outcome) == (result.intent.id, "rent", "bought")
    assert closed.rent_snapshot == ()  # the provider lists rentals: "not told apart"


async def test_several_new_rentals_are_explained_in_the_checking_message(
    make_tracker: Any,
    rentals: RentalService,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    bot: Any,
) -> None:
    from aiogram.methods import EditMessageText

    from bot.i18n import Translator
    from tests.harness import telegram_notifier

    translator = Translator()
    tracker = make_tracker(notifier=telegram_notifier(bot, tdb, translator, None, clock=clock))
    sandbox.state.configure(rent_list=True)
    [option] = [o for o in await rentals.options(USER, "tg", "0") if o.hours == 4]
    message_id = (await bot.send_message(USER, "checking…")).message_id
    result = await _rent_lost(rentals, sandbox, option.cost, message_id=message_id)
    await tproviders.client(tkey.base_url, tkey.api_key).get_rent_number("tg", "0", 4)
    sandbox.state.set_balance(tkey.api_key, result.intent.balance_before - option.cost)
    await run_for(tracker, clock, FAST.intent_settle + FAST.reconcile_max, 5)
    edits = {m.message_id: m.text for m in bot.session.calls(EditMessageText)}
    unmatched = translator.get(
        "en", "tracker-rent-charged-unmatched", amount=f"{option.cost:.2f} ₽", service="tg",
        country="0",
    )  # fmt: skip
    assert edits[message_id] == unmatched


async def test_without_a_rent_list_the_list_is_asked_once_and_the_balance_decides(
    make_tracker: Any,
    rentals: RentalService,
    tdb: Database,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    [option] = [o for o in await rentals.options(USER, "tg", "0") if o.hours == 4]
    tracker = make_tracker()
    lost = []
    for message_id in (50, 51):
        result = await _rent_lost(rentals, sandbox, option.cost, message_id=message_id)
        assert not result.findable  # the handler says only the balance will tell
        lost.append(result.intent.id)
        await run_for(tracker, clock, FAST.intent_settle + FAST.reconcile_max, 5)
    # Grizzly's answer (BAD_ACTION) is remembered: asked once, never again.
    assert actions(sandbox).count("getRentList") == 1
    assert await tdb.rentals.list_live(USER) == []
    assert [(p.id, p.outcome) for p in notes.of("unresolved")] == [
        (lost[0], "bought"),
        (lost[1], "bought"),
    ]
