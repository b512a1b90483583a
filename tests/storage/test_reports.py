"""The read-only reports (spending slots, success-rate tallies, history choices) on both
backends: the same numbers out of the same rows."""

from __future__ import annotations

from typing import Any

from storage import Database
from storage.spending import SLOT_SECONDS
from tests.storage.helpers import add_activation, add_key


async def test_spending_slots_truncate_on_both_backends(db: Database) -> None:
    """A purchase 0.9 and 1.6 slots after the start is in slots 0 and 1 (SQLite truncates a
    CAST to INTEGER; PostgreSQL would round 1.6 up without the dialect's trunc)."""
    key = await add_key(db, 1)
    start = 1000.0
    for n, offset in enumerate((0.9, 1.6, 1.7)):
        await add_activation(db, 1, key.id, str(n), created_at=start + offset * SLOT_SECONDS)
    groups = await db.spending.groups(start, start + 10 * SLOT_SECONDS, user_id=1)
    assert sorted((g.slot, g.numbers) for g in groups.activations) == [(0, 1), (1, 2)]
    assert groups.complete


async def test_rate_tallies_count_codes_and_ended_numbers(db: Database, clock: Any) -> None:
    key = await add_key(db, 1)
    numbers = [await add_activation(db, 1, key.id, str(n), created_at=2000.0) for n in range(4)]
    await db.activations.store_code(numbers[0].id, 0, "1111", None, 2001.0)
    await db.activations.set_status(numbers[1].id, "cancelled")
    # numbers[2] and [3] still wait: their outcome is not known, they are not counted.
    [tally] = await db.rates.tallies("tg", since=1000.0)
    assert (tally.country, tally.bought, tally.delivered) == ("0", 2, 1)
    assert await db.rates.tallies("tg", since=3000.0) == []


async def test_history_choices_most_used_first(db: Database) -> None:
    key = await add_key(db, 1)
    for n in range(3):
        await add_activation(db, 1, key.id, str(n), created_at=1000.0 + n)
    assert await db.history.choices(1, "service") == ["tg"]
    assert await db.history.choices(1, "country") == ["0"]
    assert await db.history.choices(2, "service") == []
