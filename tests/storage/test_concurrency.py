"""Concurrent writers lose no update."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from storage import Database
from storage.base import tx_write
from tests.storage.helpers import add_activation, add_key


async def test_concurrent_start_retry_loses_no_update(db: Database) -> None:
    key = await add_key(db, 1)
    a = await add_activation(db, 1, key.id)
    rounds = await asyncio.gather(*(db.activations.start_retry(a.id) for _ in range(50)))
    assert sorted(rounds) == list(range(1, 51))
    assert (await db.activations.get(1, a.id)).round == 50  # type: ignore[union-attr]


async def test_concurrent_add_code_one_per_round(db: Database) -> None:
    key = await add_key(db, 1)
    a = await add_activation(db, 1, key.id)
    results = await asyncio.gather(
        *(db.activations.add_code(a.id, i % 10, f"c{i}", None, float(i)) for i in range(50))
    )
    assert results.count(True) == 10
    codes = (await db.activations.get(1, a.id)).codes  # type: ignore[union-attr]
    assert [c.round for c in codes] == list(range(10))


async def test_concurrent_transactions_do_not_interleave(db: Database) -> None:
    # Multi-statement writers (key add: deactivate others + insert) racing each other must
    # still leave exactly one active key and every key stored.
    await asyncio.gather(*(add_key(db, 1, f"k{i}", f"api-key-{i:04d}") for i in range(30)))
    keys = await db.keys.list(1)
    assert len(keys) == 30 and sum(k.active for k in keys) == 1


async def test_concurrent_recents_and_rental_sms(db: Database) -> None:
    key = await add_key(db, 1)
    rental = await db.rentals.add(
        user_id=1,
        key_id=key.id,
        provider_id="r",
        service="tg",
        country="0",
        phone="7",
        hours=4,
        cost=None,
        created_at=0.0,
        ends_at=100.0,
    )
    results = await asyncio.gather(
        *(
            db.rentals.add_sms(
                rental.id,
                dedup_key=f"d{i % 20}",
                phone_from="x",
                text=str(i),
                date=None,
                received_at=float(i),
            )
            for i in range(60)
        ),
        *(db.picks.add_recent(1, f"s{i}", "0") for i in range(30)),
    )
    stored = [r for r in results[:60] if r is not None]
    assert len(stored) == 20
    assert (await db.rentals.list_sms(1, rental.id, limit=100))[1] == 20
    assert len(await db.picks.recents(1, limit=100)) == 10


async def test_readers_never_see_a_half_done_transaction(db: Database) -> None:
    # Adding a key deactivates the others and then inserts the new active one; a reader
    # running in between must not find the user without an active key.
    await add_key(db, 1, "first")

    async def reader() -> list[Any]:
        return [await db.keys.get_active(1) for _ in range(10)]

    results = await asyncio.gather(
        *(add_key(db, 1, f"k{i}", f"api-key-{i:04d}") for i in range(30)),
        *(reader() for _ in range(10)),
    )
    seen = [active for reads in results[30:] for active in reads]
    assert len(seen) == 100
    assert all(active is not None for active in seen)


async def test_a_writer_cancelled_at_its_begin_leaves_no_transaction_open(db: Database) -> None:
    """A task cancelled while its transaction begins (a key job's timeout, a stop): the
    connection runs the BEGIN it was handed all the same, and must not be left inside it:
    every later write would wait in that transaction, never committed, and another process's
    writes would wait for its lock."""
    store = db.users._s
    await db.users.get_or_create(1, "en")

    async def rename() -> None:
        async with store.transaction() as conn:
            await tx_write(conn, "UPDATE users SET language = 'ru' WHERE id = 1")

    task = asyncio.create_task(rename())
    await asyncio.sleep(0)  # it holds the lock and waits for its BEGIN
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    await db.users.get_or_create(2, "en")  # a later write, and a later transaction
    await asyncio.gather(add_key(db, 2))
    assert await db.users.get(2) is not None  # committed: the read connection sees it
    assert len(await db.keys.list(2)) == 1
