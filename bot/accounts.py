"""AccountService: a user's provider API keys and their balances.

A key is only stored after the provider accepted it (getBalance answered), so a typo never
becomes a profile. Every method takes the user id and only touches that user's keys.
"""

from __future__ import annotations

import asyncio
import re

from bot.errors import NoActiveKey, NotFound
from bot.low_balance import LowBalanceService
from bot.provider.errors import ProviderError
from bot.provider.factory import ProviderFactory
from storage import Database, KeyProfile

MAX_LABEL = 32
MIN_KEY = 8
MAX_KEY = 128


def clean_label(text: str) -> str:
    """A label as stored: the first line, printable characters only, at most MAX_LABEL long."""
    first_line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    # Tabs and other spaces become one space; invisible characters (zero-width, controls) go.
    spaced = " ".join(first_line.split())
    return "".join(ch for ch in spaced if ch.isprintable()).strip()[:MAX_LABEL]


def looks_like_key(text: str) -> bool:
    """An API key is one token of visible ASCII; anything else is not worth a provider call."""
    key = (text or "").strip()
    return (
        MIN_KEY <= len(key) <= MAX_KEY
        and key.isascii()
        and key.isprintable()
        and not any(ch.isspace() for ch in key)
    )


# A provider API key as people paste it: one long run of letters and digits (and - or _),
# e.g. 32 hex characters. Long and mixed, so that words, phone numbers, prices and labels a
# screen asks for are never taken for one.
_API_KEY_RUN = re.compile(r"[A-Za-z0-9_-]{24,}")
_MAX_API_KEY = 128


def looks_like_api_key(text: str) -> bool:
    """Does this message carry an API key, alone, among words or inside a URL (api_key=...)?
    A message that does is deleted wherever it arrives: a key must not stay in the chat."""
    for run in _API_KEY_RUN.findall(text or ""):
        if (
            len(run) <= _MAX_API_KEY
            and sum(ch.isdigit() for ch in run) >= 4
            and sum(ch.isalpha() for ch in run) >= 4
        ):
            return True
    return False


class AccountService:
    def __init__(
        self,
        db: Database,
        providers: ProviderFactory,
        *,
        low_balance: LowBalanceService | None = None,
    ) -> None:
        self._db = db
        self._providers = providers
        self._low_balance = low_balance or LowBalanceService(db)

    async def add_key(self, user_id: int, *, base_url: str, api_key: str, label: str) -> KeyProfile:
        """Check the key with getBalance, then store it as the active key.

        ProviderError propagates (BAD_KEY, provider down, ...). The same key at the same
        provider is not stored twice: the existing profile is refreshed and made active (and,
        had the provider refused it lately, the tracker resumes its numbers at once)."""
        api_key = api_key.strip()
        balance = await self._providers.client(base_url, api_key).get_balance()
        for existing in await self._db.keys.list(user_id):
            if existing.api_key == api_key and existing.base_url == base_url:
                await self._db.keys.update_balance(user_id, existing.id, balance.amount, None)
                await self._db.keys.clear_revoked(existing.id)
                await self._db.keys.set_active(user_id, existing.id)
                return await self._require(user_id, existing.id)
        return await self._db.keys.add(
            user_id,
            label=clean_label(label) or "API key",
            base_url=base_url,
            api_key=api_key,
            balance=balance.amount,
        )

    async def refresh_balance(self, user_id: int, key_id: int | None = None) -> KeyProfile:
        """Ask the provider for the balance of a key (the active one by default) and store it.
        An answer proves the provider accepts the key: the tracker resumes it if it had not."""
        key = await self._key(user_id, key_id)
        balance = await self._providers.client(key.base_url, key.api_key).get_balance()
        await self._db.keys.update_balance(user_id, key.id, balance.amount, None)
        await self._db.keys.clear_revoked(key.id)
        fresh = await self._require(user_id, key.id)
        await self._low_balance.balance_read(fresh)  # a notice if it fell under the threshold
        return fresh

    async def list_keys(self, user_id: int) -> list[KeyProfile]:
        return await self._db.keys.list(user_id)

    async def with_known_balance(self, key: KeyProfile) -> KeyProfile:
        """The key with a true balance. Whatever the bot spends or gets back makes the stored
        balance unknown (storage does it where the money movement is recorded); it is asked
        again here, when next shown. A provider that does not answer leaves it unknown ("—")
        rather than showing a figure that is no longer true."""
        if key.balance is not None or key.deleted:
            return key
        try:
            return await self.refresh_balance(key.user_id, key.id)
        except (ProviderError, NotFound):
            return key

    async def list_keys_with_balances(self, user_id: int) -> list[KeyProfile]:
        keys = await self.list_keys(user_id)
        return list(await asyncio.gather(*(self.with_known_balance(key) for key in keys)))

    async def get_key(self, user_id: int, key_id: int) -> KeyProfile:
        return await self._require(user_id, key_id)

    async def find_active(self, user_id: int) -> KeyProfile | None:
        """The user's active key, or None when they have none yet."""
        return await self._db.keys.get_active(user_id)

    async def active_key(self, user_id: int) -> KeyProfile:
        key = await self.find_active(user_id)
        if key is None:
            raise NoActiveKey()
        return key

    async def set_active(self, user_id: int, key_id: int) -> KeyProfile:
        if not await self._db.keys.set_active(user_id, key_id):
            raise NotFound()
        return await self._require(user_id, key_id)

    async def rename(self, user_id: int, key_id: int, label: str) -> KeyProfile:
        cleaned = clean_label(label)
        if not cleaned or not await self._db.keys.rename(user_id, key_id, cleaned):
            raise NotFound()
        return await self._require(user_id, key_id)

    async def delete(self, user_id: int, key_id: int) -> None:
        if not await self._db.keys.delete(user_id, key_id):
            raise NotFound()

    async def _key(self, user_id: int, key_id: int | None) -> KeyProfile:
        if key_id is None:
            return await self.active_key(user_id)
        return await self._require(user_id, key_id)

    async def _require(self, user_id: int, key_id: int) -> KeyProfile:
        key = await self._db.keys.get(user_id, key_id)
        if key is None:
            raise NotFound()
        return key
