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
async def test_the_tracker_reads_live_numbers_by_index(db: Database) -> None:
    """Its schedule's reads (every live number at start, the ones stored since at each pass)
    go through the index of live rows or the key: ended rows pile up forever and are never
    scanned."""
    for where, params in (
        ("WHERE status IN ('waiting', 'retry', 'received') ORDER BY id", ()),
        ("WHERE id > ? AND status IN ('waiting', 'retry', 'received') ORDER BY id", (0,)),
    ):
        cur = await db.connection.execute(
            f"EXPLAIN QUERY PLAN SELECT id FROM activations {where}", params
        )
        plan = " | ".join(str(row[3]) for row in await cur.fetchall())
        assert "SCAN activations" not in plan or "ix_activations_live" in plan, plan
        assert "TEMP B-TREE" not in plan, plan  # already in id order


@pytest.mark.sqlite_only  # SQLite query plans
async def test_rentals_due_for_poll_uses_index(db: Database) -> None:
    cur = await db.connection.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM rentals WHERE status IN ('active')"
        " AND next_poll_at <= ? ORDER BY next_poll_at LIMIT ?",
        (0.0, 10),
    )
    plan = " | ".join(str(row[3]) for row in await cur.fetchall())
    assert "ix_rentals_poll" in plan, plan


async def test_the_schedule_of_ten_thousand_live_numbers_loads_in_one_call(db: Database) -> None:
    """What a tracker reads when it starts (every live number, with its codes) and at each
    pass (the numbers stored since), at 10,000 live and as many ended."""
    live = live_for(db)
    key = await add_key(db, 1)
    await fill(db, key.id, live)
    await db.connection.execute("ANALYZE")
    assert await db.activations.count_live() == live
    rows = await db.activations.live()
    assert len(rows) == live and all(a.live for a in rows)
    assert sum(1 for a in rows if a.codes) == live // 3
    assert [c.code for c in next(a for a in rows if a.id == 3).codes] == ["00003"]
    assert [a.id for a in rows] == sorted(a.id for a in rows)
    newest = await db.activations.live_after(live - 10)
    assert [a.id for a in newest] == list(range(live - 9, live + 1))
