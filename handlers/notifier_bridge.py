"""TEMPORARY, until part T's tracker emits the new `Notifier` protocol (events with `to`).

Today's tracker calls the notifier without a `Recipient` and may hand over a row read before
the change. `StoredRecipients` is the Telegram notifier with the old call shape on top: it reads
the fresh row, the owner and the key, then calls the new protocol. When the tracker passes `to`
itself, `bot/app.build_dispatcher` constructs `TelegramNotifier` directly and this file goes
(the tests that build it through `tests.harness.stored_recipients` switch to
`handlers.notifier.TelegramNotifier`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiogram import Bot

from bot.catalog import CatalogService
from bot.config import Settings
from bot.i18n import Translator
from bot.orders import OrderService
from bot.rentals import RentalService
from bot.tracker.notifier import Recipient
from handlers.notifier import TelegramNotifier
from storage import Database
from storage.models import (
    Activation,
    ActivationCode,
    KeyProfile,
    PendingPurchase,
    Rental,
    RentalSms,
)


class StoredRecipients(TelegramNotifier):
    def __init__(
        self,
        bot: Bot,
        db: Database,
        translator: Translator,
        catalog: CatalogService | None,
        *,
        orders: OrderService,
        rentals: RentalService,
        clock: Callable[[], float] = time.time,
        settings: Settings | None = None,
        max_retry_after: float = 30.0,
    ) -> None:
        async def on_blocked(user_id: int) -> None:
            await db.users.set_blocked(user_id, True)

        super().__init__(
            bot,
            translator,
            catalog,
            orders=orders,
            rentals=rentals,
            on_blocked=on_blocked,
            clock=clock,
            max_retry_after=max_retry_after,
            settings=settings,
        )
        self._db = db

    async def _to(self, user_id: int, key_id: int) -> Recipient:
        return Recipient(await self._db.users.get(user_id), await self._db.keys.get_any(key_id))

    async def _fresh(self, a: Activation) -> Activation:
        return await self._db.activations.get_any(a.id) or a

    async def code_received(
        self, activation: Activation, code: ActivationCode, to: Recipient | None = None
    ) -> bool:
        to = to or await self._to(activation.user_id, activation.key_id)
        return await super().code_received(await self._fresh(activation), code, to)

    async def activation_changed(self, activation: Activation, to: Recipient | None = None) -> None:
        to = to or await self._to(activation.user_id, activation.key_id)
        await super().activation_changed(await self._fresh(activation), to)

    async def activation_ended(
        self, activation: Activation, refunded: bool, to: Recipient | None = None
    ) -> None:
        to = to or await self._to(activation.user_id, activation.key_id)
        await super().activation_ended(activation, refunded, to)

    async def activation_adopted(self, activation: Activation, to: Recipient | None = None) -> None:
        to = to or await self._to(activation.user_id, activation.key_id)
        await super().activation_adopted(activation, to)

    async def rental_sms(self, rental: Rental, sms: RentalSms, to: Recipient | None = None) -> bool:
        to = to or await self._to(rental.user_id, rental.key_id)
        return await super().rental_sms(rental, sms, to)

    async def rental_changed(self, rental: Rental, to: Recipient | None = None) -> None:
        to = to or await self._to(rental.user_id, rental.key_id)
        await super().rental_changed(await self._db.rentals.get_any(rental.id) or rental, to)

    async def rental_reminder(
        self, rental: Rental, seconds_left: int, to: Recipient | None = None
    ) -> None:
        to = to or await self._to(rental.user_id, rental.key_id)
        await super().rental_reminder(rental, seconds_left, to)

    async def rental_ended(self, rental: Rental, to: Recipient | None = None) -> None:
        to = to or await self._to(rental.user_id, rental.key_id)
        await super().rental_ended(rental, to)

    async def pending_unresolved(
        self, pending: PendingPurchase, to: Recipient | None = None
    ) -> None:
        to = to or await self._to(pending.user_id, pending.key_id)
        await super().pending_unresolved(pending, to)

    async def key_revoked(self, key: KeyProfile, to: Recipient | None = None) -> None:
        to = to or await self._to(key.user_id, key.id)
        await super().key_revoked(key, to)
