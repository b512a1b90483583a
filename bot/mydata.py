"""Your data: what the bot keeps about a user, and deleting all of it on their request.

A live number is money in flight: before anything is deleted each one is ended through the
use cases that own it (a number without a code is cancelled, so its money comes back; one with
a code is finished; a rental is cancelled while the provider still refunds it, else finished).
When one cannot be ended now (the provider's early-cancel lock, a lost answer being checked,
a provider fault) or a purchase is still being settled, nothing is deleted and the user is
told which number holds it up. Only then are the rows deleted, in one transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from bot.errors import CodeReceived, NotFound, Stale, UseCaseError
from bot.orders import OrderService
from bot.provider.errors import ProviderError
from bot.rentals import CancelRefused, RentalService, cancel_block
from storage import Activation, Database, Rental, StillLive, UserDataCounts

log = logging.getLogger(__name__)


class Hold(StrEnum):
    """Why a number cannot be ended now."""

    LOCKED = "locked"  # the provider's early-cancel lock: the cancel is scheduled for `until`
    CHECKING = "checking"  # an answer was lost: the tracker's next poll settles it
    PROVIDER = "provider"  # the provider refused or could not be reached
    PURCHASE = "purchase"  # a purchase is being settled with the provider


@dataclass(frozen=True, slots=True)
class Holdup:
    """A number (or a purchase) that keeps the data from being deleted now."""

    hold: Hold
    phone: str | None = None  # None for a purchase (no number yet)
    until: float | None = None  # LOCKED: when the cancel can go through


@dataclass(frozen=True, slots=True)
class EraseResult:
    erased: bool
    ended: int  # live numbers ended on the way (even when something else held the erase up)
    holdups: tuple[Holdup, ...] = ()


class MyDataService:
    def __init__(
        self,
        db: Database,
        orders: OrderService,
        rentals: RentalService,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._orders = orders
        self._rentals = rentals
        self._clock = clock

    async def summary(self, user_id: int) -> UserDataCounts:
        """How much of each kind the bot keeps about the user."""
        return await self._db.userdata.counts(user_id)

    async def erase(self, user_id: int) -> EraseResult:
        """End the user's live numbers, then delete everything the bot keeps about them: keys
        (with their ciphertext), history, codes and SMS, picks, settings, purchase intents and
        dialogue state. Nothing is deleted while anything holds it up."""
        counts = await self._db.userdata.counts(user_id)
        if counts.open_purchases:
            # Ending numbers would be in vain: the purchase may still bring a number in.
            return EraseResult(erased=False, ended=0, holdups=(Holdup(Hold.PURCHASE),))
        holdups: list[Holdup] = []
        ended = 0
        for activation in await self._orders.live(user_id):
            holdup = await self._end_activation(user_id, activation)
            holdups.extend([holdup] if holdup else [])
            ended += holdup is None
        for rental in await self._rentals.live_rentals(user_id):
            holdup = await self._end_rental(user_id, rental)
            holdups.extend([holdup] if holdup else [])
            ended += holdup is None
        if holdups:
            return EraseResult(erased=False, ended=ended, holdups=tuple(holdups))
        try:
            await self._db.userdata.erase(user_id)
        except StillLive:
            # A number arrived between the ends above and the erase (a purchase in flight).
            return EraseResult(erased=False, ended=ended, holdups=(Holdup(Hold.PURCHASE),))
        return EraseResult(erased=True, ended=ended)

    async def _end_activation(self, user_id: int, a: Activation) -> Holdup | None:
        """Cancel a number without a code (its money comes back), finish one with a code."""
        try:
            if a.codes:
                await self._orders.finish(user_id, a.id)
                return None
            result = await self._orders.cancel(user_id, a.id)
        except CodeReceived:
            return await self._finish_activation(user_id, a)
        except NotFound:
            return None  # it ended meanwhile
        except (UseCaseError, ProviderError) as error:
            log.info("could not end activation %s: %s", a.id, type(error).__name__)
            return await self._activation_holdup(user_id, a)
        if result.scheduled:
            return Holdup(Hold.LOCKED, a.phone, until=a.cancel_allowed_at)
        if result.checking:
            return Holdup(Hold.CHECKING, a.phone)
        return None

    async def _finish_activation(self, user_id: int, a: Activation) -> Holdup | None:
        """A code came in while cancelling: the number is paid for, so it is finished."""
        try:
            await self._orders.finish(user_id, a.id)
        except NotFound:
            return None
        except (UseCaseError, ProviderError) as error:
            log.info("could not finish activation %s: %s", a.id, type(error).__name__)
            return await self._activation_holdup(user_id, a)
        return None

    async def _activation_holdup(self, user_id: int, a: Activation) -> Holdup | None:
        """After a refusal: the provider may have said the number already ended (stored)."""
        fresh = await self._orders.get(user_id, a.id)
        return Holdup(Hold.PROVIDER, a.phone) if fresh is not None and fresh.live else None

    async def _end_rental(self, user_id: int, r: Rental) -> Holdup | None:
        """Cancel a rental the provider still refunds (no SMS, inside the window), else
        finish it (its paid time is not refunded either way)."""
        try:
            has_sms = await self._rentals.has_sms(user_id, r.id)
            if cancel_block(r, self._clock(), has_sms=has_sms) is None:
                try:
                    await self._rentals.cancel(user_id, r.id)
                    return None
                except CancelRefused:
                    pass  # an SMS came in: finished below
            await self._rentals.finish(user_id, r.id)
        except (NotFound, Stale):
            return None  # it ended meanwhile
        except (UseCaseError, ProviderError) as error:
            log.info("could not end rental %s: %s", r.id, type(error).__name__)
            # The provider may have said the rent already ended (stored as such).
            fresh = await self._rentals.get(user_id, r.id)
            return Holdup(Hold.PROVIDER, r.phone) if fresh.live else None
        return None
