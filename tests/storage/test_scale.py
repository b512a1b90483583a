"""The tracker's per-pass queries at 10,000 live activations: the right rows, by the index.

How long they take is a figure of `python -m benchmarks.storage`, never a test budget.
"""

from __future__ import annotations

import pytest

from benchmarks.storage import fill
from storage import Database
from storage.dialect import Backend
from tests.storage.helpers import add_key

LIVE = 10_000
# On PostgreSQL the same statements at a fifth of the size: what is checked there is that they
# give the right rows with thousands of parameters (its plans are not SQLite's), and filling
# ten thousand rows through one serialized writer would only make the suite slower.
LIVE_PG = 2_000


def live_for(db: Database) -> int:
    return LIVE if db.backend is Backend.SQLITE else LIVE_PG


@pytest.mark.sqlite_only  # SQLite query plans
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


async def test_due_for_poll_at_ten_thousand_live(db: Database) -> None:
    live = live_for(db)
    key = await add_key(db, 1)
    await fill(db, key.id, live)
    await db.connection.execute("ANALYZE")
    assert await db.activations.count_live() == live

    # A pass: 10,000 live numbers, the tenth of them whose poll is due.
    due = await db.activations.due_for_poll(9.0)
    assert len(due) == live // 10 and all(a.live and a.next_poll_at <= 9.0 for a in due)

    # After a restart every number is due at once.
    due = await db.activations.due_for_poll(1000.0)
    assert len(due) == live and all(a.live for a in due)
    assert sum(1 for a in due if a.codes) == live // 3
    assert [c.code for c in next(a for a in due if a.id == 3).codes] == ["00003"]
    assert due[0].next_poll_at <= due[-1].next_poll_at


async def test_next_polls_of_ten_thousand_numbers_in_one_call(db: Database) -> None:
    live = live_for(db)
    key = await add_key(db, 1)
    await fill(db, key.id, live)
    # As the tracker writes them: every number of a key at the same moment (100 keys' worth).
    decided = {i: 5000.0 + i % 100 for i in range(1, live + 1)}
    await db.activations.set_next_poll_each(decided)
    assert await db.activations.due_for_poll(4999.0) == []
    due = await db.activations.due_for_poll(5000.5)
    assert sorted(a.id for a in due) == [a for a in decided if decided[a] == 5000.0]
