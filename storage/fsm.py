"""FsmRepo: the dialogue state (which screen awaits input, and its data), kept in the database
so that a restart does not forget it: a key pasted at "send your key" after a restart must
still reach the handler that deletes its message."""

from __future__ import annotations

import json
from typing import Any

from storage.base import Store, tx_fetchone

# (bot id, chat id, user id, thread id or 0, business connection id or "", destiny)
FsmKey = tuple[int, int, int, int, str, str]

_WHERE = (
    "bot_id = ? AND chat_id = ? AND user_id = ? AND thread_id = ? AND business = ? AND destiny = ?"
)


def _dump(data: dict[str, Any]) -> str:
    # Handlers keep plain values (ids, strings); anything else is kept as its text rather than
    # failing the user's step.
    return json.dumps(data, default=str, separators=(",", ":"))


def _load(text: str | None) -> dict[str, Any]:
    loaded = json.loads(text) if text else {}
    return loaded if isinstance(loaded, dict) else {}


class FsmRepo:
    def __init__(self, store: Store) -> None:
        self._s = store

    async def get_state(self, key: FsmKey) -> str | None:
        return await self._s.scalar(f"SELECT state FROM fsm_states WHERE {_WHERE}", key)

    async def get_data(self, key: FsmKey) -> dict[str, Any]:
        return _load(await self._s.scalar(f"SELECT data FROM fsm_states WHERE {_WHERE}", key))

    async def set_state(self, key: FsmKey, state: str | None) -> None:
        async with self._s.transaction() as conn:
            row = await tx_fetchone(conn, f"SELECT data FROM fsm_states WHERE {_WHERE}", key)
            await self._store(conn, key, state, _load(row[0]) if row else {})

    async def set_data(self, key: FsmKey, data: dict[str, Any]) -> None:
        async with self._s.transaction() as conn:
            row = await tx_fetchone(conn, f"SELECT state FROM fsm_states WHERE {_WHERE}", key)
            await self._store(conn, key, row[0] if row else None, dict(data))

    async def update_data(self, key: FsmKey, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge `changes` into the data in one transaction (no lost update); the result."""
        async with self._s.transaction() as conn:
            row = await tx_fetchone(conn, f"SELECT state, data FROM fsm_states WHERE {_WHERE}", key)
            state, data = (row[0], _load(row[1])) if row else (None, {})
            data.update(changes)
            await self._store(conn, key, state, data)
        return data

    @staticmethod
    async def _store(conn: Any, key: FsmKey, state: str | None, data: dict[str, Any]) -> None:
        if state is None and not data:
            # Nothing to remember (the usual case after a screen is left): no row at all.
            await conn.execute(f"DELETE FROM fsm_states WHERE {_WHERE}", key)
            return
        await conn.execute(
            "INSERT INTO fsm_states(bot_id, chat_id, user_id, thread_id, business, destiny,"
            " state, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (bot_id, chat_id, user_id, thread_id, business, destiny)"
            " DO UPDATE SET state = excluded.state, data = excluded.data",
            (*key, state, _dump(data)),
        )
