"""UserDataRepo: a user's rows counted, and erased in one transaction, never while a number is
live or a purchase open; other users' rows untouched, the log emptied."""

from __future__ import annotations

import json
from typing import Any

import pytest

from storage import Database, StillLive
from tests.seeded_history import seed_history

USER, OTHER = 111, 222


async def _keys(db: Database) -> tuple[int, int]:
    mine = await db.keys.add(USER, label="a", base_url="http://127.0.0.1:1", api_key="K" * 24)
    theirs = await db.keys.add(OTHER, label="b", base_url="http://127.0.0.1:1", api_key="L" * 24)
    return mine.id, theirs.id


async def test_counts(db: Database, clock: Any) -> None:
    mine, _ = await _keys(db)
    await seed_history(db, USER, mine, clock())
    await db.picks.add_favourite(USER, "tg")
    await db.picks.add_recent(USER, "tg", "0")
    counts = await db.userdata.counts(USER)
    assert (counts.keys, counts.activations, counts.codes, counts.rentals) == (1, 5, 2, 2)
    assert (counts.rental_sms, counts.live_activations, counts.live_rentals) == (2, 1, 0)
    assert (counts.favourites, counts.recents, counts.has_settings) == (1, 1, True)
    assert (await db.userdata.counts(999)).has_settings is False


async def test_refused_while_a_number_is_live(db: Database, clock: Any) -> None:
    mine, _ = await _keys(db)
    seeded = await seed_history(db, USER, mine, clock())
    before = await db.userdata.counts(USER)
    with pytest.raises(StillLive):
        await db.userdata.erase(USER)
    assert await db.userdata.counts(USER) == before
    await db.activations.set_status(seeded.ids["live"], "cancelled")
    await db.pending.add(user_id=USER, key_id=mine, service="tg", country="0")
    with pytest.raises(StillLive):
        await db.userdata.erase(USER)  # an open purchase may still bring a number in


async def test_erase_removes_every_row_and_empties_the_log(
    db: Database, db_path: Any, clock: Any
) -> None:
    mine, theirs = await _keys(db)
    seeded = await seed_history(db, USER, mine, clock())
    await seed_history(db, OTHER, theirs, clock())
    await db.activations.set_status(seeded.ids["live"], "cancelled")
    await db.rentals.add_reminder(seeded.ids["rental_sms"], "1h")
    their_counts = await db.userdata.counts(OTHER)
    assert await db.userdata.erase(USER) > 0
    counts = await db.userdata.counts(USER)
    assert counts == type(counts)(*([0] * 10), has_settings=False, dialogue_states=0)
    assert await db.userdata.counts(OTHER) == their_counts
    # Children of the erased numbers, by the ids they had.
    rental_ids = [seeded.ids["rental_sms"], seeded.ids["rental_refunded"]]
    activation_ids = [n for name, n in seeded.ids.items() if not name.startswith("rental")]
    for table, column, ids in (
        ("rental_reminders", "rental_id", rental_ids),
        ("rental_periods", "rental_id", rental_ids),
        ("rental_sms", "rental_id", rental_ids),
        ("activation_codes", "activation_id", activation_ids),
    ):
        async with db.connection.execute(
            f"SELECT COUNT(*) FROM {table} WHERE {column} IN (SELECT value FROM json_each(?))",
            (json.dumps(ids),),
        ) as cur:
            assert (await cur.fetchone())[0] == 0, table
    wal = db_path.with_name(db_path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
