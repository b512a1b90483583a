"""How the tracker's parts tell the chat: Notifier events addressed to a `Recipient` built from
the shared caches, never allowed to stop tracking (the money side is stored before)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.tracker.directory import Directory
from bot.tracker.notifier import Notifier, Recipient

log = logging.getLogger(__name__)


class Outbox:
    def __init__(self, notifier: Notifier, directory: Directory) -> None:
        self.notifier = notifier
        self._directory = directory

    async def tell(
        self, user_id: int, key_id: int, event: Callable[[Recipient], Awaitable[object]]
    ) -> None:
        """Tell the user, unless they blocked the bot (their numbers are tracked all the same).
        A notifier failure never stops tracking: the money side is already stored."""
        user = await self._directory.fresh_user(user_id)
        if user is not None and user.blocked:
            return
        to = Recipient(user=user, key=await self._directory.key(key_id))
        try:
            await event(to)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("tracker: notifier failed")

    async def deliver(
        self, user_id: int, key_id: int, event: Callable[[Recipient], Awaitable[None]]
    ) -> None:
        """Hand over a code or an SMS (the caller checked the user has not blocked the bot).
        The notifier settles it later (see `Settle`); one that fails to take it settles
        nothing, and the code stays undelivered for a later pass."""
        to = Recipient(
            user=await self._directory.user(user_id), key=await self._directory.key(key_id)
        )
        try:
            await event(to)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("tracker: notifier failed")
