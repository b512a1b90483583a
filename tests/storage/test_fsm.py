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
    await db.fsm.set_state(KEY, "AddKey:key")
    await db.fsm.set_data(KEY, {"base_url": "https://p.test", "prompt": 7})
    assert await db.fsm.update_data(KEY, {"provider": "P"}) == {
        "base_url": "https://p.test",
        "prompt": 7,
        "provider": "P",
    }
    await db.close()

    db = await Database.open(db_path, cipher, clock=clock)
    try:
        assert await db.fsm.get_state(KEY) == "AddKey:key"
        assert (await db.fsm.get_data(KEY))["prompt"] == 7
        # Another chat, thread or destiny is another record.
        assert await db.fsm.get_state((42, 111, 111, 5, "", "default")) is None
        # Cleared (state None, no data): no row left behind.
        await db.fsm.set_state(KEY, None)
        assert await db.fsm.get_data(KEY) != {}
        await db.fsm.set_data(KEY, {})
        assert await _rows(db) == 0
        assert await db.fsm.get_data(KEY) == {}
    finally:
        await db.close()
