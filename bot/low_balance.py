"""Low-balance notices: a per-key threshold, and one notice when the balance falls under it.

One rule (`notice_due`) decides for every path that learns a balance: right after a purchase
that took the balance from at or above the threshold to under it, the notice goes at once;
any other reading under it (the key screen, the confirm screen, a purchase that was already
under) notifies at most once a day. When the notice went out is kept in the database, so a
restart does not send it again. The notice itself is sent by whoever listens (the Telegram
face); use cases only say that it is due.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from bot.errors import NotFound
from storage import Database, KeyProfile

log = logging.getLogger(__name__)

QUIET = 24 * 3600.0  # at most one notice a day, but right after a purchase that crossed it
THRESHOLD_LIMIT = Decimal("1000000")


@dataclass(frozen=True, slots=True)
class LowBalanceNotice:
    user_id: int
    key_id: int
    key_label: str
    balance: Decimal
    threshold: Decimal
    currency: str | None
    language: str | None


Listener = Callable[[LowBalanceNotice], Awaitable[None]]


def parse_threshold(text: str) -> Decimal | None:
    """A typed threshold: a positive amount (comma or dot), at most THRESHOLD_LIMIT; else None."""
    try:
        value = Decimal((text or "").strip().replace(",", ".").replace(" ", ""))
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite() or value <= 0 or value > THRESHOLD_LIMIT:
        return None
    return value


def notice_due(
    balance: Decimal | None,
    threshold: Decimal | None,
    *,
    before: Decimal | None = None,
) -> bool | None:
    """Is a notice due for this balance? True: now, whatever the last one (a purchase took the
    balance from `before`, at or above the threshold, to under it); None: only if none was
    sent in the last day; False: no (no threshold, balance unknown or not under it)."""
    if threshold is None or balance is None or balance >= threshold:
        return False
    if before is not None and before >= threshold:
        return True
    return None


class LowBalanceService:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._listener: Listener | None = None

    def listen(self, listener: Listener) -> None:
        """`listener(notice)` is awaited for each notice due (the Telegram face sends it). One
        listener: a dispatcher built again over the same services replaces the old one."""
        self._listener = listener

    async def threshold(self, user_id: int, key_id: int) -> Decimal | None:
        return await self._db.keys.low_balance(user_id, key_id)

    async def set_threshold(self, user_id: int, key_id: int, threshold: Decimal | None) -> None:
        if not await self._db.keys.set_low_balance(user_id, key_id, threshold):
            raise NotFound()

    async def balance_read(self, key: KeyProfile) -> None:
        """The bot read this key's balance (key screen, confirm screen): notify if due."""
        await self._check(key, key.balance, before=None)

    async def after_purchase(
        self, key: KeyProfile, before: Decimal | None, cost: Decimal | None
    ) -> None:
        """A purchase with this key just cost `cost`; `before` is the balance read just before
        it (None when unknown: then only the daily notice can go)."""
        if before is None or cost is None:
            return
        await self._check(key, before - cost, before=before)

    async def _check(
        self, key: KeyProfile, balance: Decimal | None, *, before: Decimal | None
    ) -> None:
        if self._listener is None or balance is None:
            return
        threshold = await self._db.keys.low_balance(key.user_id, key.id)
        due = notice_due(balance, threshold, before=before)
        if due is False or threshold is None:
            return
        now = self._clock()
        quiet_since = now if due else now - QUIET
        if not await self._db.keys.claim_low_balance_notice(key.id, now, quiet_since):
            return
        user = await self._db.users.get(key.user_id)
        notice = LowBalanceNotice(
            user_id=key.user_id,
            key_id=key.id,
            key_label=key.label,
            balance=balance,
            threshold=threshold,
            currency=key.currency,
            language=user.language if user else None,
        )
        try:
            await self._listener(notice)
        except Exception as error:  # a notice never breaks the purchase or screen that read it
            log.info("low-balance notice not sent (%s)", type(error).__name__)
