"""RentalService against the sandbox over real HTTP and a real SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from bot.changes import Changes
from bot.errors import NotFound, Stale
from bot.provider.errors import ProviderError
from bot.provider.factory import ProviderFactory
from bot.provider.guard import AddressPolicy
from bot.rental_sms import rental_sms_keys
from bot.rentals import (
    CANCEL_WINDOW,
    RENT_DURATIONS,
    CancelRefused,
    RentalService,
)
from storage import Database, KeyCipher

USER = 501
OTHER = 502


@pytest.fixture
async def db(tmp_path: Path, clock: Any) -> AsyncIterator[Database]:
    database = await Database.open(
        tmp_path / "bot.db", KeyCipher([Fernet.generate_key().decode()]), clock=clock
    )
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def service(db: Database, clock: Any) -> AsyncIterator[RentalService]:
    providers = ProviderFactory(timeout=5, address_policy=AddressPolicy(allow_loopback=True))
    try:
        yield RentalService(db, providers, clock=clock)
    finally:
        await providers.close()


@pytest.fixture
async def key(db: Database, sandbox: Any, sandbox_key: str) -> Any:
    await db.users.get_or_create(USER, "en")
    return await db.keys.add(USER, label="t", base_url=sandbox.url, api_key=sandbox_key)


def _actions(sandbox: Any, action: str) -> list[dict[str, Any]]:
    return [r for r in sandbox.state.requests if r["action"] == action]


async def _token(service: RentalService, hours: int = 4) -> str:
    """A token as the rent confirm screen issues it, for exactly this offer."""
    return await service.offer_token(USER, service="tg", country="0", hours=hours, price=None)


async def _rent(service: RentalService, token: str | None = None, hours: int = 4) -> Any:
    token = token or await _token(service, hours)
    result = await service.rent(
        USER, token=token, service="tg", country="0", hours=hours, chat_id=USER
    )
    assert result.rental is not None
    return result.rental


async def test_options_offer_each_priced_duration(service: RentalService, key: Any) -> None:
    options = await service.options(USER, "tg", "0")
    assert [o.hours for o in options] == list(RENT_DURATIONS)
    # price scales with the duration (the sandbox charges per hour)
    assert options[1].cost == options[0].cost * 3
    assert all(o.count > 0 for o in options)


async def test_rentable_countries_cheapest_first(service: RentalService, key: Any) -> None:
    countries = await service.rentable_countries(USER, "tg")
    assert countries
    costs = [price.cost for _, price in countries]
    assert costs == sorted(costs)
    assert "tg" in await service.rentable_services(USER)


async def test_rent_stores_before_returning_and_sends_hours(
    service: RentalService, key: Any, sandbox: Any, db: Database, clock: Any
) -> None:
    rental = await _rent(service, hours=24)
    purchase = sandbox.state.rent_purchases[0]
    assert rental.provider_id == purchase["id"]
    assert rental.phone == purchase["phone"]
    assert rental.hours == 24
    assert rental.ends_at == pytest.approx(clock() + 24 * 3600)
    assert (await db.rentals.get(USER, rental.id)) == rental
    assert _actions(sandbox, "getRentNumber")[0]["params"]["rent_time"] == "24"


async def test_same_token_buys_once(service: RentalService, key: Any, sandbox: Any) -> None:
    same = await _token(service)
    await _rent(service, token=same)
    again = await service.rent(USER, token=same, service="tg", country="0", hours=4, chat_id=USER)
    assert again.duplicate and again.rental is None
    assert len(sandbox.state.rent_purchases) == 1


async def test_unknown_outcome_is_pending_and_not_retried(
    service: RentalService, key: Any, sandbox: Any, db: Database
) -> None:
    sandbox.state.inject_fault("http500", action="getRentNumber")
    result = await service.rent(
        USER, token=await _token(service), service="tg", country="0", hours=4, chat_id=USER
    )
    assert result.pending and result.rental is None
    assert len(_actions(sandbox, "getRentNumber")) == 1
    pending = await db.pending.list_all()
    assert [(p.kind, p.service, p.user_id) for p in pending] == [("rent", "tg", USER)]


async def test_provider_refusal_propagates_and_stores_nothing(
    service: RentalService, key: Any, sandbox: Any, db: Database
) -> None:
    sandbox.state.set_rent("0", "tg", count=0)
    with pytest.raises(ProviderError) as caught:
        await _rent(service)
    assert caught.value.code == "NO_NUMBERS"
    assert await db.rentals.list_live(USER) == []


async def test_extend_once_per_token(
    service: RentalService, key: Any, sandbox: Any, clock: Any
) -> None:
    rental = await _rent(service)
    x1 = await service.extend_token(USER, rental.id, hours=12, price=None)
    first = await service.extend(USER, rental.id, token=x1, hours=12)
    second = await service.extend(USER, rental.id, token=x1, hours=12)
    assert second.duplicate
    assert len(sandbox.state.extensions) == 1
    assert first.rental is not None
    assert first.rental.hours == 16
    assert first.rental.ends_at == pytest.approx(rental.ends_at + 12 * 3600)
    assert _actions(sandbox, "continueRentNumber")[0]["params"]["rent_time"] == "12"


async def test_sms_stored_once_and_paged(
    service: RentalService, key: Any, sandbox: Any, db: Database, clock: Any
) -> None:
    rental = await _rent(service)
    for n in range(7):
        clock.advance(1)
        sandbox.state.deliver_rent_sms(rental.provider_id, f"code {n}")
    first = await service.sms(USER, rental.id, 0)
    assert first.total == 7 and first.pages == 2
    assert [s.text for s in first.items] == [f"code {n}" for n in (6, 5, 4, 3, 2)]
    again = await service.sms(USER, rental.id, 1)
    assert again.total == 7
    assert [s.text for s in again.items] == ["code 1", "code 0"]
    assert (await service.latest_sms(USER, rental.id)).text == "code 6"  # type: ignore[union-attr]
    # shown on page 0 -> delivered; the two on page 1 were stored by the first sync, not shown
    undelivered = await db.rentals.undelivered_sms(rental.id)
    assert sorted(s.text for s in undelivered) == ["code 0", "code 1"]


async def test_sms_synced_here_are_not_stored_again_by_the_tracker_scheme(
    service: RentalService, key: Any, sandbox: Any, db: Database, clock: Any
) -> None:
    rental = await _rent(service)
    sandbox.state.deliver_rent_sms(rental.provider_id, "same")
    sandbox.state.deliver_rent_sms(rental.provider_id, "same")  # a true repeat: both count
    assert len(await service.sync_sms(USER, rental.id)) == 2
    assert await service.sync_sms(USER, rental.id) == []
    status = await service._client(key).get_rent_status(rental.provider_id)
    ordered = sorted(status.messages, key=lambda m: m.date or "")
    for dedup_key, sms in rental_sms_keys(ordered):
        again = await db.rentals.add_sms(
            rental.id,
            dedup_key=dedup_key,
            phone_from=sms.phone_from,
            text=sms.text,
            date=sms.date,
            received_at=clock(),
        )
        assert again is None


async def test_cancel_within_window_refunds(
    service: RentalService, key: Any, sandbox: Any, sandbox_key: str
) -> None:
    before = sandbox.state.balance(sandbox_key)
    rental = await _rent(service)
    cancelled = await service.cancel(USER, rental.id)
    assert cancelled.status == "cancelled"
    assert sandbox.state.balance(sandbox_key) == before
    with pytest.raises(Stale):
        await service.cancel(USER, rental.id)


async def test_cancel_refused_after_window_without_asking_provider(
    service: RentalService, key: Any, sandbox: Any, clock: Any
) -> None:
    rental = await _rent(service)
    clock.advance(CANCEL_WINDOW + 1)
    with pytest.raises(CancelRefused) as caught:
        await service.cancel(USER, rental.id)
    assert caught.value.reason == "window"
    assert _actions(sandbox, "setRentStatus") == []


async def test_cancel_refused_after_sms_even_unseen(
    service: RentalService, key: Any, sandbox: Any
) -> None:
    rental = await _rent(service)
    sandbox.state.deliver_rent_sms(rental.provider_id, "hello")
    with pytest.raises(CancelRefused) as caught:
        await service.cancel(USER, rental.id)
    assert caught.value.reason == "sms"
    assert sandbox.state.rentals[rental.provider_id].status == "active"


async def test_finish_and_already_finished(
    service: RentalService, key: Any, sandbox: Any, db: Database
) -> None:
    rental = await _rent(service)
    done = await service.finish(USER, rental.id)
    assert done.status == "finished"
    second = await _rent(service)
    sandbox.state.rentals[second.provider_id].status = "finished"
    with pytest.raises(ProviderError) as caught:
        await service.finish(USER, second.id)
    assert caught.value.code == "ALREADY_FINISH"
    stored = await db.rentals.get(USER, second.id)
    assert stored is not None and stored.status == "finished"


async def test_history_lists_the_rental_periods(
    service: RentalService, key: Any, sandbox: Any
) -> None:
    rental = await _rent(service)
    await _rent(service)  # another rental of the same key: not listed
    items = await service.rental_history(USER, rental.id)
    sent = [r for r in sandbox.state.requests if r["action"] == "getRentHistory"]
    assert [r["params"]["id"] for r in sent] == [rental.provider_id]
    paid = sandbox.state.rentals[rental.provider_id].cost
    assert [(item.hours, item.price) for item in items] == [(4, paid)]


async def test_foreign_rental_is_not_found(
    service: RentalService, key: Any, sandbox: Any, db: Database
) -> None:
    rental = await _rent(service)
    await db.users.get_or_create(OTHER, "en")
    for call in (
        service.finish(OTHER, rental.id),
        service.cancel(OTHER, rental.id),
        service.sms(OTHER, rental.id, 0),
        service.extend(OTHER, rental.id, token="evil", hours=4),
        service.rental_history(OTHER, rental.id),
    ):
        with pytest.raises(NotFound):
            await call
    assert sandbox.state.extensions == []
    assert sandbox.state.rentals[rental.provider_id].status == "active"
    assert _actions(sandbox, "setRentStatus") == []


async def test_rent_records_confirmed_cost(service: RentalService, key: Any) -> None:
    result = await service.rent(
        USER,
        token=await _token(service),
        service="tg",
        country="0",
        hours=4,
        chat_id=None,
        cost=Decimal("3.5"),
    )
    assert result.rental is not None and result.rental.cost == Decimal("3.5")


async def test_rent_and_extend_only_with_a_token_issued_for_that_offer(
    service: RentalService, key: Any, sandbox: Any, clock: Any
) -> None:
    rental = await _rent(service)
    four = await service.offer_token(USER, service="tg", country="0", hours=4, price=None)
    for token, hours in (("never-issued", 4), (four, 720)):  # forged; issued for 4 hours
        result = await service.rent(
            USER, token=token, service="tg", country="0", hours=hours, chat_id=USER
        )
        assert result.stale and result.rental is None
    longer = await service.extend_token(USER, rental.id, hours=12, price=None)
    for token, hours in (("never-issued", 12), (four, 4), (longer, 720)):
        extended = await service.extend(USER, rental.id, token=token, hours=hours)
        assert extended.stale and extended.rental is None
    clock.advance(3601)  # expired
    assert (await service.extend(USER, rental.id, token=longer, hours=12)).stale
    assert len(sandbox.state.rent_purchases) == 1 and sandbox.state.extensions == []


# ------------------------------------------------------------------ the card and the tracker


class RecordingChanges(Changes):
    """The Changes port, remembering what each use case told the tracker."""

    def __init__(self) -> None:
        super().__init__()
        self.told: list[tuple[str, int]] = []

    def rental_changed(self, rental_id: int) -> None:
        self.told.append(("rental", rental_id))
        super().rental_changed(rental_id)

    def purchase_unknown(self, pending_id: int) -> None:
        self.told.append(("unknown", pending_id))
        super().purchase_unknown(pending_id)


@pytest.fixture
async def told(db: Database, clock: Any) -> AsyncIterator[tuple[RentalService, RecordingChanges]]:
    providers = ProviderFactory(timeout=5, address_policy=AddressPolicy(allow_loopback=True))
    changes = RecordingChanges()
    try:
        yield RentalService(db, providers, clock=clock, changes=changes), changes
    finally:
        await providers.close()


async def test_card_shown_remembers_the_message_the_tracker_edits(
    service: RentalService, key: Any, db: Database
) -> None:
    rental = await _rent(service)
    assert rental.message_id is None
    await service.card_shown(rental.id, chat_id=USER, message_id=4242)
    stored = await service.get(USER, rental.id)
    assert (stored.chat_id, stored.message_id) == (USER, 4242)
    await service.card_shown(rental.id, chat_id=USER, message_id=4243)  # sent again: the new one
    assert (await service.get(USER, rental.id)).message_id == 4243


async def test_each_stored_change_is_told_to_the_tracker(
    told: tuple[RentalService, RecordingChanges], key: Any, sandbox: Any
) -> None:
    service, changes = told
    rental = await _rent(service)
    assert changes.told == [("rental", rental.id)]  # after it was stored: the result has it
    token = await service.extend_token(USER, rental.id, hours=12, price=None)
    await service.extend(USER, rental.id, token=token, hours=12)
    await service.refresh(USER, rental.id)
    await service.finish(USER, rental.id)
    assert changes.told == [("rental", rental.id)] * 4
    await service.refresh(USER, rental.id)  # ended: nothing to look at
    assert len(changes.told) == 4


async def test_unknown_outcomes_start_reconciliation(
    told: tuple[RentalService, RecordingChanges], key: Any, sandbox: Any, db: Database
) -> None:
    service, changes = told
    rental = await _rent(service)
    sandbox.state.inject_fault("http500", action="continueRentNumber")
    token = await service.extend_token(USER, rental.id, hours=12, price=None)
    extended = await service.extend(USER, rental.id, token=token, hours=12)
    sandbox.state.inject_fault("http500", action="getRentNumber")
    rented = await service.rent(
        USER, token=await _token(service), service="tg", country="0", hours=4, chat_id=USER
    )
    assert extended.pending and rented.pending
    assert extended.intent is not None and rented.intent is not None
    assert changes.told == [
        ("rental", rental.id),
        ("unknown", extended.intent.id),
        ("unknown", rented.intent.id),
    ]


async def test_a_rental_found_ended_by_the_provider_is_told(
    told: tuple[RentalService, RecordingChanges], key: Any, sandbox: Any
) -> None:
    service, changes = told
    rental = await _rent(service)
    sandbox.state.rentals[rental.provider_id].status = "finished"  # ended at the provider
    changes.told.clear()
    with pytest.raises(ProviderError):
        await service.finish(USER, rental.id)
    assert changes.told == [("rental", rental.id)]  # stored as ended: the card is redrawn
    with pytest.raises(Stale):
        await service.finish(USER, rental.id)
    assert changes.told == [("rental", rental.id)]  # refused before anything changed
