"""TokenRepo: one-time purchase tokens, so one confirmation tap buys at most one number."""

from __future__ import annotations

from storage.base import Store


class TokenRepo:
    def __init__(self, store: Store) -> None:
        self._s = store

    async def claim(self, token: str, user_id: int) -> bool:
        """True exactly once per token: the token is the PRIMARY KEY, so a second INSERT OR
        IGNORE changes nothing — across coroutines, processes and restarts alike."""
        changed = await self._s.write(
            "INSERT OR IGNORE INTO purchase_tokens(token, user_id, claimed_at) VALUES (?, ?, ?)",
            (token, user_id, self._s.clock()),
        )
        return changed == 1

    async def prune(self, older_than: float) -> int:
        """Forget tokens claimed before `older_than` (callback buttons that old are stale)."""
        return await self._s.write(
            "DELETE FROM purchase_tokens WHERE claimed_at < ?", (older_than,)
        )
