"""The tracker's per-tick query stays cheap at 10,000 live activations."""

from __future__ import annotations

import time
from typing import Any

from storage import Database
from tests.storage.helpers import add_key

LIVE = 10_000


async def _fill(db: Database, key_id: int) -> None:
    # Bulk rows straight through the connection: the test is about reading them back fast.
    conn = db.connection
    await conn.execute("BEGIN")
    await conn.executemany(
        "INSERT INTO activations(user_id, key_id, provider_id, service, country, phone, cost,"
        " status, created_at, ends_at, cancel_allowed_at, next_poll_at)"
        " VALUES (1, ?, ?, 'tg', '0', '7999', '0.15', ?, 0, 1200, 120, ?)",
        [
            (key_id, str(i), ("waiting", "retry", "received")[i % 3], float(i % 100))
            for i in range(LIVE)
        ]
        + [(key_id, f"ended{i}", "finished", 0.0) for i in range(LIVE)],
    )
    await conn.executemany(
        "INSERT INTO activation_codes(activation_id, round, code, received_at) VALUES (?, 0, ?, 1)",
        [(i, f"{i:05d}") for i in range(3, LIVE + 1, 3)],
    )
    await conn.execute("COMMIT")


async def test_due_for_poll_uses_index(db: Database) -> None:
    cur = await db.connection.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM activations"
        " WHERE status IN ('waiting', 'retry', 'received') AND next_poll_at <= ?"
        " ORDER BY next_poll_at LIMIT ?",
        (0.0, 10),
    )
    plan = " | ".join(str(row[3]) for row in await cur.fetchall())
    assert "ix_activations_poll" in plan, plan
    assert "SCAN activations" not in plan, plan
    assert "TEMP B-TREE" not in plan, plan  # the index already yields next_poll_at order
    cur = await db.connection.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM rentals WHERE status IN ('active')"
        " AND next_poll_at <= ? ORDER BY next_poll_at LIMIT ?",
        (0.0, 10),
    )
    plan = " | ".join(str(row[3]) for row in await cur.fetchall())
    assert "ix_rentals_poll" in plan, plan


async def _best_of_three(db: Database, now: float) -> tuple[float, list[Any]]:
    best, due = float("inf"), []
    for _ in range(3):
        started = time.perf_counter()
        due = await db.activations.due_for_poll(now)
        best = min(best, time.perf_counter() - started)
    return best, due


async def test_due_for_poll_at_ten_thousand_live(db: Database) -> None:
    key = await add_key(db, 1)
    await _fill(db, key.id)
    await db.connection.execute("ANALYZE")
    assert await db.activations.count_live() == LIVE

    # A tick: 10,000 live numbers, the tenth of them whose poll is due.
    tick, due = await _best_of_three(db, 9.0)
    assert len(due) == LIVE // 10 and all(a.live and a.next_poll_at <= 9.0 for a in due)
    print(f"due_for_poll, {len(due)} of {LIVE} live due: {tick * 1000:.1f} ms")
    assert tick < 0.05, f"due_for_poll took {tick * 1000:.1f} ms"

    # Worst case (after a restart every number is due at once).
    everything, due = await _best_of_three(db, 1000.0)
    assert len(due) == LIVE and all(a.live for a in due)
    assert sum(1 for a in due if a.codes) == LIVE // 3
    assert [c.code for c in next(a for a in due if a.id == 3).codes] == ["00003"]
    assert due[0].next_poll_at <= due[-1].next_poll_at
    print(f"due_for_poll, all {LIVE} due: {everything * 1000:.1f} ms")
    # Bound with room for a loaded CI machine; figures are printed with -s.
    assert everything < 0.25, f"due_for_poll took {everything * 1000:.1f} ms"


async def test_next_polls_of_ten_thousand_numbers_in_one_call(db: Database) -> None:
    key = await add_key(db, 1)
    await _fill(db, key.id)
    # As the tracker writes them: every number of a key at the same moment (100 keys' worth).
    decided = {i: 5000.0 + i % 100 for i in range(1, LIVE + 1)}
    started = time.perf_counter()
    await db.activations.set_next_poll_each(decided)
    took = time.perf_counter() - started
    print(f"set_next_poll_each, {LIVE} rows: {took * 1000:.1f} ms")
    assert await db.activations.due_for_poll(4999.0) == []
    due = await db.activations.due_for_poll(5000.5)
    assert sorted(a.id for a in due) == [a for a in decided if decided[a] == 5000.0]
    assert took < 0.5, f"set_next_poll_each took {took * 1000:.1f} ms"
