"""What the tracker tells the chat: the `Notifier` protocol it emits events to.

Every event carries a `Recipient`: the owner and the key as the tracker already holds them
(cached for its pass), so whoever draws the message (the Telegram notifier) reads neither again.
An activation or rental handed over is the stored row as it is after the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

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


class Notifier(Protocol):
    # Deliveries return True only when the chat took the message: the tracker marks the code or
    # SMS delivered only then, and offers it again on a later pass otherwise.
    async def code_received(
        self, activation: Activation, code: ActivationCode, to: Recipient
    ) -> bool: ...
    async def activation_changed(self, activation: Activation, to: Recipient) -> None: ...
    async def activation_ended(
        self, activation: Activation, refunded: bool, to: Recipient
    ) -> None: ...
    async def activation_adopted(self, activation: Activation, to: Recipient) -> None: ...
    async def rental_sms(self, rental: Rental, sms: RentalSms, to: Recipient) -> bool: ...
    async def rental_changed(self, rental: Rental, to: Recipient) -> None: ...
    async def rental_reminder(self, rental: Rental, seconds_left: int, to: Recipient) -> None: ...
    async def rental_ended(self, rental: Rental, to: Recipient) -> None: ...
    async def pending_unresolved(self, pending: PendingPurchase, to: Recipient) -> None: ...
    async def key_revoked(self, key: KeyProfile, to: Recipient) -> None: ...
