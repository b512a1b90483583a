"""Read models returned by the repositories (plain dataclasses, no database handles)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

ACTIVATION_LIVE = ("waiting", "retry", "received")
ACTIVATION_ENDED = ("finished", "cancelled", "expired")
ACTIVATION_STATUSES = ACTIVATION_LIVE + ACTIVATION_ENDED

RENTAL_LIVE = ("active",)
RENTAL_ENDED = ("finished", "cancelled", "expired")
RENTAL_STATUSES = RENTAL_LIVE + RENTAL_ENDED

PENDING_KINDS = ("activation", "rental")


def mask_secret(secret: str) -> str:
    """Show only enough of a key to recognise it: the last four characters."""
    if len(secret) <= 8:
        return "****"
    return "****" + secret[-4:]


@dataclass(slots=True)
class User:
    id: int
    language: str | None
    auto_cancel: bool
    auto_cancel_margin: int  # seconds before expiry at which a codeless number is cancelled
    timezone: str
    blocked: bool
    created_at: float


@dataclass(slots=True, repr=False)
class KeyProfile:
    id: int
    user_id: int
    label: str
    base_url: str
    api_key: str  # decrypted; never printed (see __repr__)
    active: bool
    balance: Decimal | None
    currency: str | None
    created_at: float
    deleted_at: float | None = None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    def __repr__(self) -> str:
        return (
            f"KeyProfile(id={self.id}, user_id={self.user_id}, label={self.label!r}, "
            f"base_url={self.base_url!r}, api_key={mask_secret(self.api_key)!r}, "
            f"active={self.active}, balance={self.balance!r}, currency={self.currency!r}, "
            f"created_at={self.created_at}, deleted_at={self.deleted_at})"
        )

    __str__ = __repr__


@dataclass(slots=True)
class ActivationCode:
    round: int
    code: str
    text: str | None
    received_at: float
    delivered: bool


@dataclass(slots=True)
class Activation:
    id: int
    user_id: int
    key_id: int
    provider_id: str
    service: str
    country: str
    phone: str
    cost: Decimal | None
    currency: str | None
    status: str  # waiting | retry | received | finished | cancelled | expired
    sms_sent: bool
    round: int  # number of "another code" requests
    codes: list[ActivationCode]
    created_at: float
    ends_at: float
    cancel_allowed_at: float
    cancel_requested: bool
    can_get_another_sms: bool | None
    chat_id: int | None
    message_id: int | None
    next_poll_at: float
    ended_at: float | None
    adopted: bool
    # A status change sent whose outcome is unknown ("cancel", "another"): being checked.
    pending_change: str | None = None

    @property
    def live(self) -> bool:
        return self.status in ACTIVATION_LIVE


@dataclass(slots=True)
class Rental:
    id: int
    user_id: int
    key_id: int
    provider_id: str
    service: str
    country: str
    phone: str
    hours: int
    cost: Decimal | None
    status: str  # active | finished | cancelled | expired
    created_at: float
    ends_at: float
    chat_id: int | None
    message_id: int | None
    reminders_sent: frozenset[str]
    next_poll_at: float
    ended_at: float | None

    @property
    def live(self) -> bool:
        return self.status in RENTAL_LIVE


@dataclass(slots=True)
class RentalSms:
    id: int
    rental_id: int
    dedup_key: str
    phone_from: str
    text: str
    date: str | None
    received_at: float
    delivered: bool


@dataclass(slots=True)
class PendingPurchase:
    id: int
    user_id: int
    key_id: int
    service: str
    country: str
    chat_id: int | None
    created_at: float
    kind: str = field(default="activation")  # activation | rental
