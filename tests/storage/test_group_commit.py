"""Codes stored and numbers ended at the same time share one transaction each (group commit),
on both backends: each caller still gets its own answer (a round with a code, an ended number,
a stale round: False, nothing changed), and a transaction that fails loses no other caller's
write."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from storage import Database
from storage.activations import CODES_PER_WRITE
from tests.harness import SqlTrace
from tests.storage.helpers import add_activation, add_key


async def _numbers(db: Database, count: int) -> list[Any]:
    key = await add_key(db, 11)
    return [await add_activation(db, 11, key.id, provider_id=str(5000 + i)) for i in range(count)]


async def test_codes_arriving_together_are_stored_in_one_transaction_each_with_its_own_answer(
    db: Database,
) -> None:
    numbers = await _numbers(db, 8)
    ended, coded = numbers[6], numbers[7]
    await db.activations.set_status(ended.id, "cancelled", ended_at=1100.0)
    assert await db.activations.store_code(coded.id, 0, "1111", None, 1100.0)
    trace = await SqlTrace.start(db)

    answers = await asyncio.gather(
        *(
            db.activations.store_code(n.id, 0, f"{n.id}00", f"code {n.id}00", 1200.5)
            for n in numbers[:5]
        ),
        db.activations.store_code(numbers[0].id, 0, "9999", None, 1201.0),  # the same round again
        db.activations.store_code(numbers[5].id, 1, "7777", None, 1201.0),  # a round not begun
        db.activations.store_code(ended.id, 0, "8888", None, 1201.0),
        db.activations.store_code(coded.id, 0, "2222", None, 1201.0),
    )

    assert answers == [True] * 5 + [False] * 4
    for number in numbers[:5]:
        row = await db.activations.get_any(number.id)
        assert row is not None and row.status == "received" and not row.cancel_requested
        assert [(c.round, c.code, c.text, c.received_at) for c in row.codes] == [
            (0, f"{number.id}00", f"code {number.id}00", 1200.5)
        ]
    untouched = await db.activations.get_many([numbers[5].id, ended.id, coded.id])
    assert [(a.status, [c.code for c in a.codes]) for a in untouched] == [
        ("waiting", []),
        ("cancelled", []),
        ("received", ["1111"]),
    ]
    # Nine codes, two transactions: the first caller's turn stores its own code, the next
    # turn every code that waited meanwhile.
    assert len(trace.matching("BEGIN")) == 2


async def test_a_turn_takes_at_most_its_share_and_the_rest_wait_for_the_next(
    db: Database,
) -> None:
    numbers = await _numbers(db, CODES_PER_WRITE + 3)
    trace = await SqlTrace.start(db)

    answers = await asyncio.gather(
        *(db.activations.store_code(n.id, 0, "4321", None, 1200.0) for n in numbers)
    )

    assert all(answers)
    assert len(await db.activations.get_many([n.id for n in numbers])) == len(numbers)
    assert all(
        a.status == "received" for a in await db.activations.get_many([n.id for n in numbers])
    )
    assert len(trace.matching("BEGIN")) == 3  # the first alone, then a full turn, then the rest


async def test_a_failed_transaction_loses_no_other_caller_s_code(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    numbers = await _numbers(db, 4)
    store = db.activations._s
    real = store.transaction
    failures = iter([True])

    @asynccontextmanager
    async def failing_once(*, urgent: bool = False) -> AsyncIterator[Any]:
        async with real(urgent=urgent) as conn:
            if next(failures, False):
                raise ConnectionError("the database went away")
            yield conn

    monkeypatch.setattr(store, "transaction", failing_once)
    trace = await SqlTrace.start(db)
    async with db.activations._codes.turn:  # a turn in progress: all four wait for the next
        calls = [
            asyncio.ensure_future(db.activations.store_code(n.id, 0, str(i), None, 1200.0))
            for i, n in enumerate(numbers)
        ]
        await asyncio.sleep(0)

    answers = await asyncio.gather(*calls, return_exceptions=True)

    # The first caller's turn carried all four and failed: it fails for that caller alone;
    # the next turn stores the other three.
    assert isinstance(answers[0], ConnectionError) and answers[1:] == [True, True, True]
    assert len(trace.matching("BEGIN")) == 2
    rows = await db.activations.get_many([n.id for n in numbers])
    assert [(a.status, [c.code for c in a.codes]) for a in rows] == [
        ("waiting", []),
        ("received", ["1"]),
        ("received", ["2"]),
        ("received", ["3"]),
    ]


async def test_a_caller_cancelled_before_its_turn_stores_nothing_and_stalls_nobody(
    db: Database,
) -> None:
    numbers = await _numbers(db, 3)
    async with db.activations._codes.turn:  # a turn in progress
        calls = [
            asyncio.ensure_future(db.activations.store_code(n.id, 0, "5", None, 1200.0))
            for n in numbers
        ]
        await asyncio.sleep(0)
        calls[1].cancel()
    answers = await asyncio.gather(*calls, return_exceptions=True)

    assert answers[0] is True and answers[2] is True
    assert isinstance(answers[1], asyncio.CancelledError)
    rows = await db.activations.get_many([n.id for n in numbers])
    assert [a.status for a in rows] == ["received", "waiting", "received"]
    assert db.activations._codes.waiting == []


async def test_numbers_ended_together_share_one_statement_each_with_its_own_answer(
    db: Database,
) -> None:
    numbers = await _numbers(db, 5)
    gone = numbers[4]
    await db.activations.set_status(gone.id, "finished", ended_at=1100.0)
    await db.activations.set_pending_change(numbers[1].id, "cancel")
    trace = await SqlTrace.start(db)

    answers = await asyncio.gather(
        db.activations.set_status(numbers[0].id, "expired", ended_at=1300.0),
        db.activations.set_status(numbers[1].id, "cancelled", ended_at=1301.0),
        db.activations.set_status(numbers[2].id, "finished", ended_at=1302.5),
        db.activations.set_status(numbers[3].id, "cancelled", ended_at=1303.0),
        db.activations.set_status(numbers[3].id, "expired", ended_at=1304.0),  # ended already
        db.activations.set_status(gone.id, "expired", ended_at=1305.0),  # no resurrection
    )

    assert answers == [True, True, True, True, False, False]
    rows = await db.activations.get_many([n.id for n in numbers])
    assert [(a.status, a.ended_at, a.pending_change, a.cancel_requested) for a in rows] == [
        ("expired", 1300.0, None, False),
        ("cancelled", 1301.0, None, False),
        ("finished", 1302.5, None, False),
        ("cancelled", 1303.0, None, False),
        ("finished", 1100.0, None, False),
    ]
    # The first caller's turn ends its own number; the next every end that waited meanwhile
    # (one per number: the second end of numbers[3] waits for the turn after).
    assert len(trace.matching("BEGIN")) == 3


async def test_a_removed_key_s_secret_is_erased_when_its_last_numbers_end_together(
    db: Database,
) -> None:
    key = await add_key(db, 11)
    numbers = [await add_activation(db, 11, key.id, provider_id=str(6000 + i)) for i in range(3)]
    assert await db.keys.delete(11, key.id)
    secret = "SELECT length(api_key_enc) FROM api_keys WHERE id = ?"
    assert await db.activations._s.scalar(secret, (key.id,)) > 0  # its numbers still need it

    await asyncio.gather(
        *(db.activations.set_status(n.id, "expired", ended_at=1300.0) for n in numbers)
    )

    assert await db.activations._s.scalar(secret, (key.id,)) == 0
