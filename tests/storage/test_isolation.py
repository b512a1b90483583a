"""A lookup with another user's id finds nothing and changes nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from storage import Database
from tests.storage.helpers import add_activation, add_key, add_rental

OWNER, INTRUDER = 1, 2


@pytest.fixture
async def owned(db: Database) -> dict[str, Any]:
    await db.users.get_or_create(INTRUDER)
    key = await add_key(db, OWNER)
    activation = await add_activation(db, OWNER, key.id)
    rental = await add_rental(db, OWNER, key.id)
    await db.rentals.add_sms(
        rental.id, dedup_key="a", phone_from="Tg", text="12345", date=None, received_at=1.0
    )
    await db.picks.add_favourite(OWNER, "tg", "0")
    await db.picks.add_recent(OWNER, "tg", "0")
    return {"key": key, "activation": activation, "rental": rental}


async def _snapshot(db: Database) -> list[Any]:
    rows = []
    for table in ("api_keys", "activations", "rentals", "rental_sms", "favourites", "recents"):
        cur = await db.connection.execute(f"SELECT * FROM {table} ORDER BY 1")
        rows.append([tuple(r) for r in await cur.fetchall()])
    return rows


async def test_keys_of_another_user(db: Database, owned: dict[str, Any]) -> None:
    key_id = owned["key"].id
    before = await _snapshot(db)
    assert await db.keys.get(INTRUDER, key_id) is None
    assert await db.keys.list(INTRUDER) == []
    assert await db.keys.get_active(INTRUDER) is None
    assert await db.keys.set_active(INTRUDER, key_id) is False
    assert await db.keys.rename(INTRUDER, key_id, "stolen") is False
    assert await db.keys.delete(INTRUDER, key_id) is False
    await db.keys.update_balance(INTRUDER, key_id, Decimal("0"), "XXX")
    assert await _snapshot(db) == before
    still = await db.keys.get(OWNER, key_id)
    assert still is not None and still.active and still.label == "main"


async def test_activations_of_another_user(db: Database, owned: dict[str, Any]) -> None:
    activation_id = owned["activation"].id
    before = await _snapshot(db)
    assert await db.activations.get(INTRUDER, activation_id) is None
    assert await db.activations.list_live(INTRUDER) == []
    assert await db.activations.list_ended(INTRUDER) == ([], 0)
    assert await db.activations.request_cancel(INTRUDER, activation_id) is False
    assert await _snapshot(db) == before
    assert (await db.activations.get(OWNER, activation_id)).cancel_requested is False  # type: ignore[union-attr]


async def test_rentals_and_sms_of_another_user(db: Database, owned: dict[str, Any]) -> None:
    rental_id = owned["rental"].id
    before = await _snapshot(db)
    assert await db.rentals.get(INTRUDER, rental_id) is None
    assert await db.rentals.list_live(INTRUDER) == []
    assert await db.rentals.list_ended(INTRUDER) == ([], 0)
    assert await db.rentals.list_sms(INTRUDER, rental_id) == ([], 0)
    assert await _snapshot(db) == before
    page, total = await db.rentals.list_sms(OWNER, rental_id)
    assert total == 1 and page[0].text == "12345"


async def test_picks_of_another_user(db: Database, owned: dict[str, Any]) -> None:
    assert await db.picks.favourites(INTRUDER) == []
    assert await db.picks.recents(INTRUDER) == []
    before = await _snapshot(db)
    await db.picks.remove_favourite(INTRUDER, "tg", "0")
    assert await _snapshot(db) == before
    assert await db.picks.favourites(OWNER) == [("tg", "0")]
    assert await db.picks.recents(OWNER) == [("tg", "0")]


async def test_cancel_request_of_another_user(db: Database, owned: dict[str, Any]) -> None:
    activation_id = owned["activation"].id
    await db.activations.request_cancel(OWNER, activation_id)
    assert await db.activations.request_cancel(INTRUDER, activation_id, requested=False) is False
    assert (await db.activations.get(OWNER, activation_id)).cancel_requested is True  # type: ignore[union-attr]
