"""The user's settings and standing with the bot: what a user can change about themselves.

Language, auto-cancel and its margin, time zone; registration (the first contact), and the
bot's membership in their chat (they blocked it, or came back). Every value is checked against
the choices the settings screens offer, here, once: a crafted callback cannot store anything a
keyboard would not have produced (`Stale` says so).
"""

from __future__ import annotations

from bot.errors import Stale
from bot.formatting import utc_offset_label
from bot.i18n import LANGUAGES
from storage import Database, KeyProfile, User

# Seconds before expiry at which a number without a code is cancelled.
MARGINS: tuple[int, ...] = (30, 60, 120, 180, 300)
# Whole hours from UTC-12 to UTC+14, and the half/quarter-hour zones in use (minutes from UTC).
TZ_OFFSETS: tuple[int, ...] = tuple(
    sorted({h * 60 for h in range(-12, 15)} | {-210, 210, 270, 330, 345, 390, 525, 570, 630})
)


class UserSettingsService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def register(self, user_id: int, language: str) -> User:
        """The user as stored, created on first contact with Telegram's language."""
        user, _key = await self.register_with_active_key(user_id, language)
        return user

    async def register_with_active_key(
        self, user_id: int, language: str
    ) -> tuple[User, KeyProfile | None]:
        """The user as stored (created on first contact with Telegram's language) and their
        active key. A known user costs one read and no write (every update comes through
        here, and most need the key)."""
        user, key = await self._db.keys.owner_and_active(user_id)
        if user is None:
            return await self._db.users.get_or_create(user_id, language), None
        return user, key

    async def get(self, user_id: int) -> User | None:
        return await self._db.users.get(user_id)

    async def set_language(self, user_id: int, language: str) -> User:
        if language not in LANGUAGES:
            raise Stale()
        return await self._db.users.update(user_id, language=language)

    async def set_auto_cancel(self, user_id: int, enabled: bool) -> User:
        return await self._db.users.update(user_id, auto_cancel=enabled)

    async def set_margin(self, user_id: int, seconds: int) -> User:
        if seconds not in MARGINS:
            raise Stale()
        return await self._db.users.update(user_id, auto_cancel_margin=seconds)

    async def set_timezone(self, user_id: int, minutes: int) -> User:
        """Minutes from UTC, one of TZ_OFFSETS; stored as its label (`UTC+05:30`)."""
        if minutes not in TZ_OFFSETS:
            raise Stale()
        return await self._db.users.update(user_id, timezone=utc_offset_label(minutes))

    async def mark_blocked(self, user_id: int) -> None:
        """The user blocked the bot (Telegram's my_chat_member, or a Forbidden answer): nothing
        can be sent to them; their numbers are still tracked (and cancelled when due)."""
        await self._db.users.set_blocked(user_id, True)

    async def clear_blocked(self, user_id: int) -> bool:
        """The user is back: True only for the one call that found them marked, so a return is
        acted on once however many of their updates arrive together."""
        return await self._db.users.clear_blocked(user_id)
