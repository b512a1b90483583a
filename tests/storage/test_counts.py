"""Database.counts(): the whole database's numbers that /metrics shows."""

from __future__ import annotations

from storage import Database
from storage.models import DatabaseCounts
from tests.storage.helpers import add_activation, add_key, add_rental


async def test_an_empty_database_counts_zero(db: Database) -> None:
    assert await db.counts() == DatabaseCounts(0, 0, 0, 0, 0, 0, 0, 0)


async def test_counts_tell_live_from_ended_and_delivered_from_waiting(db: Database) -> None:
    key = await add_key(db, 1)
    await db.users.get_or_create(2)
    live = await add_activation(db, 1, key.id, "1001")
    ended = await add_activation(db, 1, key.id, "1002")
    assert await db.activations.set_status(ended.id, "cancelled")
    await db.activations.add_code(live.id, 0, "1234", "code 1234", 5.0)
    await db.activations.add_code(ended.id, 0, "5678", "code 5678", 6.0)
    await db.activations.mark_code_delivered(live.id, 0)
    rental = await add_rental(db, 1, key.id, "5001")
    await add_rental(db, 1, key.id, "5002")
    assert await db.rentals.set_status(rental.id, "finished")
    for n in range(2):
        sms = await db.rentals.add_sms(
            rental.id, dedup_key=f"d{n}", phone_from="x", text="t", date=None, received_at=1.0
        )
        assert sms is not None
        if n == 0:
            await db.rentals.mark_sms_delivered(sms.id)
    await db.pending.add(user_id=1, key_id=key.id, service="tg", country="0")
    settled = await db.pending.add(user_id=1, key_id=key.id, service="tg", country="0")
    assert await db.pending.resolve(settled.id, "not_bought")

    counts = await db.counts()

    assert counts == DatabaseCounts(
        live_activations=1,
        live_rentals=1,
        users=2,
        pending_purchases=1,  # the settled intent is no longer pending
        codes_delivered=1,
        rental_sms_delivered=1,
        activations_bought=2,
        rentals_bought=2,
    )
