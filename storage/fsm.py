"""FsmRepo: the dialogue state (which screen awaits input, and its data), kept in the database
so that a restart does not forget it: a key pasted at "send your key" after a restart must
still reach the handler that deletes its message."""

from __future__ import annotations

import json
from typing import Any

from storage.base import Store

# (bot id, chat id, user id, thread id or 0, business connection id or "", destiny)
FsmKey = tuple[int, int, int, int, str, str]
FsmRecord = tuple[str | None, dict[str, Any]]  # (state, data)

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

    async def get(self, key: FsmKey) -> FsmRecord:
        """State and data in one read; (None, {}) when nothing is stored."""
        row = await self._s.fetchone(f"SELECT state, data FROM fsm_states WHERE {_WHERE}", key)
        return (None, {}) if row is None else (row[0], _load(row[1]))

    async def put(self, key: FsmKey, state: str | None, data: dict[str, Any]) -> None:
        """Replace the record in one statement; a cleared one (no state, no data) leaves no
        row behind (the usual case once a screen is left)."""
        if state is None and not data:
            await self._s.side_write(f"DELETE FROM fsm_states WHERE {_WHERE}", key)
            return
        await self._s.side_write(
            "INSERT INTO fsm_states(bot_id, chat_id, user_id, thread_id, business, destiny,"
            " state, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (bot_id, chat_id, user_id, thread_id, business, destiny)"
            " DO UPDATE SET state = excluded.state, data = excluded.data",
            (*key, state, _dump(data)),
        )
