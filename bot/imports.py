"""ImportService: numbers bought with the active key elsewhere (the provider's website, another
client) that the bot does not know, listed on request and taken in one by one as the user
chooses.

Nothing is taken in, and nothing cancelled, unless the user picked it: the listing is only
shown. What the user picks is checked against a fresh listing (a tap names provider ids the
screen showed; only those still live on the user's own active key are stored), stored through
the same rule as the tracker's adoption (`bot.listed`), and the tracker is told, so the number
is then tracked, auto-cancelled and its code delivered like any other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from bot.changes import Changes
from bot.errors import NoActiveKey, PurchaseChecking
from bot.listed import LISTED_LIFETIME, TakeIn, provider_time, store_listed
from bot.provider.factory import ProviderFactory
from bot.provider.models import ActiveActivation
from storage import Activation, Database, KeyProfile

MAX_LISTED = 20  # numbers one screen offers (a provider account may list hundreds)


@dataclass(frozen=True, slots=True)
class ImportResult:
    adopted: list[Activation]
    gone: int  # picked, but no longer live on the key (ended, or taken in meanwhile)


class ImportService:
    def __init__(
        self,
        db: Database,
        providers: ProviderFactory,
        clock: Callable[[], float] = time.time,
        *,
        changes: Changes | None = None,
    ) -> None:
        self._db = db
        self._providers = providers
        self._clock = clock
        self._changes = changes or Changes()

    async def _key(self, user_id: int) -> KeyProfile:
        """The active key, when nothing bought on it is still being checked: a listed number
        may be such a purchase, and only the tracker's adoption may take that in (it links the
        number to its intent and its "checking" message). PurchaseChecking until then."""
        key = await self._db.keys.get_active(user_id)
        if key is None:
            raise NoActiveKey()
        if await self._db.pending.open_on_key(key.id):
            raise PurchaseChecking()
        return key

    async def _unknown(self, key: KeyProfile) -> list[ActiveActivation]:
        """The key's live numbers at the provider that are not stored (ProviderError
        propagates: BAD_ACTION when the provider has no such listing)."""
        listing = await self._providers.client(key.base_url, key.api_key).get_active_activations()
        unknown: list[ActiveActivation] = []
        seen: set[str] = set()
        for item in listing:
            if item.activation_id in seen:
                continue
            seen.add(item.activation_id)
            if await self._db.activations.get_by_provider_id(key.id, item.activation_id) is None:
                unknown.append(item)
        return unknown

    async def foreign_numbers(self, user_id: int) -> list[ActiveActivation]:
        """Up to MAX_LISTED numbers live on the active key that the bot does not know."""
        return (await self._unknown(await self._key(user_id)))[:MAX_LISTED]

    async def adopt(
        self, user_id: int, provider_ids: Collection[str], chat_id: int
    ) -> ImportResult:
        """Store the picked numbers that are still live and unknown on the user's active key,
        and have the tracker follow them."""
        key = await self._key(user_id)
        wanted = set(provider_ids)
        now = self._clock()
        adopted: list[Activation] = []
        for item in await self._unknown(key):
            if item.activation_id not in wanted:
                continue
            how = TakeIn(user_id=user_id, chat_id=chat_id, created_at=bought_at(item, now), now=now)
            activation = await store_listed(self._db.activations, key, item, how)
            if activation.adopted and activation.user_id == user_id:
                adopted.append(activation)
                self._changes.activation_changed(activation.id)
        return ImportResult(adopted=adopted, gone=len(wanted) - len(adopted))


def bought_at(item: ActiveActivation, now: float) -> float:
    """When the number was bought: the listing's time read as UTC when that is plausible
    (in the past, within a number's lifetime), else now. A provider in a zone ahead of UTC
    reads as the future, so its numbers count from now: the bot's auto-cancel may then come
    after the provider's own expiry, which refunds them anyway."""
    listed = provider_time(item.activation_time)
    if listed is None or listed > now or listed < now - LISTED_LIFETIME:
        return now
    return listed
