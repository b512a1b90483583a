"""What the tracker tells the chat: the `Notifier` protocol it emits events to.

Every event carries a `Recipient`: the owner and the key as the tracker already holds them
(cached for its pass), so whoever draws the message (the Telegram notifier) reads neither again.
An activation or rental handed over is the stored row as it is after the change.

A code or a rental SMS is handed over with a `Settle`: the notifier only takes it (a key's job
never waits for the chat) and calls it once, later, with True when the chat took the message
(the tracker marks it delivered then: a crash in between repeats at most that one message) or
False when it did not (it stays undelivered and is offered again on a later pass). The notifier
does not take the same code or SMS twice while one is on its way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from storage.chains import ReplaceChain
from storage.models import (
    Activation,
    ActivationCode,
    KeyProfile,
    PendingPurchase,
    Rental,
    RentalSms,
    User,
)


@dataclass(frozen=True, slots=True)
class Recipient:
    """Whom an event is for: the owner (language, time zone, margin) and the key whose provider
    names the service and country and sets the zone of its timestamps. Either may be None when
    its row is gone; the message then falls back to defaults (raw codes, the default language)."""

    user: User | None
    key: KeyProfile | None


Settle = Callable[[bool], Awaitable[None]]  # True: the chat took it; False: offer it again


class Notifier(Protocol):
    async def code_received(
        self, activation: Activation, code: ActivationCode, to: Recipient, settle: Settle
    ) -> None: ...
    async def activation_changed(self, activation: Activation, to: Recipient) -> None: ...
    async def activation_ended(
        self, activation: Activation, refunded: bool, to: Recipient
    ) -> None: ...
    async def activation_adopted(self, activation: Activation, to: Recipient) -> None: ...
    async def rental_sms(
        self, rental: Rental, sms: RentalSms, to: Recipient, settle: Settle
    ) -> None: ...
    async def rental_changed(self, rental: Rental, to: Recipient) -> None: ...
    async def rental_reminder(self, rental: Rental, seconds_left: int, to: Recipient) -> None: ...
    async def rental_ended(self, rental: Rental, to: Recipient) -> None: ...
    async def pending_unresolved(self, pending: PendingPurchase, to: Recipient) -> None: ...
    async def key_revoked(self, key: KeyProfile, to: Recipient) -> None: ...
    async def replace_stopped(self, chain: ReplaceChain, to: Recipient) -> None: ...
