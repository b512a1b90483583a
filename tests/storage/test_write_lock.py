"""The writer's lock: first come first served, but a code's transaction goes ahead of the
ordinary writes waiting; a waiter cancelled at any moment never leaves the lock stuck."""

from __future__ import annotations

import asyncio

from storage import Database
from storage.base import WriteLock
from tests.harness import SqlTrace
from tests.storage.helpers import add_activation, add_key


async def _holder(lock: WriteLock, name: str, order: list[str], *, urgent: bool = False) -> None:
    if urgent:
        async with lock.urgent():
            order.append(name)
    else:
        async with lock:
            order.append(name)


async def test_urgent_holders_go_ahead_of_the_ordinary_ones_waiting_each_line_in_order() -> None:
    lock = WriteLock()
    order: list[str] = []
    await lock.acquire()
    waiters = [
        asyncio.ensure_future(_holder(lock, "a", order)),
        asyncio.ensure_future(_holder(lock, "b", order)),
        asyncio.ensure_future(_holder(lock, "code 1", order, urgent=True)),
        asyncio.ensure_future(_holder(lock, "c", order)),
        asyncio.ensure_future(_holder(lock, "code 2", order, urgent=True)),
    ]
    await asyncio.sleep(0)  # every one waits
    lock.release()
    await asyncio.gather(*waiters)

    assert order == ["code 1", "code 2", "a", "b", "c"]
    assert not lock.locked()


async def test_a_waiter_cancelled_before_or_as_its_turn_comes_passes_the_lock_on() -> None:
    lock = WriteLock()
    order: list[str] = []
    await lock.acquire()
    gone = asyncio.ensure_future(_holder(lock, "gone", order))
    handed = asyncio.ensure_future(_holder(lock, "handed", order, urgent=True))
    last = asyncio.ensure_future(_holder(lock, "last", order))
    await asyncio.sleep(0)
    gone.cancel()  # cancelled while waiting
    lock.release()  # handed to the urgent waiter...
    handed.cancel()  # ...which is cancelled before it runs: it passes the lock on
    results = await asyncio.gather(gone, handed, last, return_exceptions=True)

    assert isinstance(results[0], asyncio.CancelledError)
    assert isinstance(results[1], asyncio.CancelledError)
    assert order == ["last"] and not lock.locked()


async def test_a_code_found_behind_a_crowd_of_ending_numbers_is_stored_first(
    db: Database,
) -> None:
    key = await add_key(db, 11)
    ending = [await add_activation(db, 11, key.id, provider_id=str(700 + i)) for i in range(6)]
    coded = await add_activation(db, 11, key.id, provider_id="799")
    trace = await SqlTrace.start(db)
    store = db.activations._s

    async with store.lock:  # a write in progress; the others queue behind it
        ends = [
            asyncio.ensure_future(db.activations.set_status(a.id, "expired", ended_at=2000.0))
            for a in ending
        ]
        await asyncio.sleep(0)
        code = asyncio.ensure_future(db.activations.store_code(coded.id, 0, "5555", None, 2000.0))
        await asyncio.sleep(0)
    assert await code and all(await asyncio.gather(*ends))

    writes = [sql for sql in trace.statements if sql.startswith("UPDATE activations")]
    code_at = [i for i, sql in enumerate(writes) if "SET status = 'received'" in sql]
    ends_at = [i for i, sql in enumerate(writes) if "ended_at" in sql]
    assert code_at and ends_at
    assert max(code_at) < min(ends_at)  # the code went first, then the ends
