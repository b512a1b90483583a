"""FsmRepo: the dialogue state kept in the database (it outlives the process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from storage import Database, KeyCipher
from storage.fsm import FsmKey

KEY: FsmKey = (42, 111, 111, 0, "", "default")


async def _rows(db: Database) -> int:
    async with db.connection.execute("SELECT COUNT(*) FROM fsm_states") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def test_state_and_data_survive_a_reopen(
    db_path: Path, cipher: KeyCipher, clock: Any
) -> None:
    db = await Database.open(db_path, cipher, clock=clock)
    await db.fsm.put(KEY, "AddKey:key", {"base_url": "https://p.test", "prompt": 7})
    await db.close()

    db = await Database.open(db_path, cipher, clock=clock)
    try:
        assert await db.fsm.get(KEY) == ("AddKey:key", {"base_url": "https://p.test", "prompt": 7})
        # Another chat, thread or destiny is another record.
        assert await db.fsm.get((42, 111, 111, 5, "", "default")) == (None, {})
        await db.fsm.put(KEY, None, {"q": "tele"})
        assert await db.fsm.get(KEY) == (None, {"q": "tele"})
        # Cleared (no state, no data): no row left behind.
        await db.fsm.put(KEY, None, {})
        assert await _rows(db) == 0
    finally:
        await db.close()
