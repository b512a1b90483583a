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

# What a purchase intent buys: a one-time number, a rental, or more time on a rental.
PENDING_KINDS = ("activation", "rent", "extend")
# How an intent ended: the number was bought, it provably was not, or nobody can tell.
INTENT_OUTCOMES = ("bought", "not_bought", "unknown")


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
    blocked: bool  # the user blocked the bot (Telegram refused a message); cleared on return
    created_at: float
    suspended: bool = False  # the operator's decision: the bot refuses the user's updates


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


@dataclass(frozen=True, slots=True)
class RentalPeriod:
    """One paid period of a rental: the first rent or an extension."""

    kind: str  # rent | extend
    hours: int
    cost: Decimal | None  # None: the price was not known when it was paid
    currency: str | None
    paid_at: float
    ends_at: float


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
    periods: tuple[RentalPeriod, ...] = ()  # oldest first

    @property
    def live(self) -> bool:
        return self.status in RENTAL_LIVE

    @property
    def paid_total(self) -> Decimal | None:
        """What the known periods cost together (the rental's own price before any period
        was recorded); None when no price is known at all."""
        known = [p.cost for p in self.periods if p.cost is not None]
        if not self.periods:
            return self.cost
        return sum(known, Decimal(0)) if known else None

    @property
    def paid_known(self) -> bool:
        """Every period's price is known, so `paid_total` is the whole of what was paid."""
        if not self.periods:
            return self.cost is not None
        return all(p.cost is not None for p in self.periods)


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
    """A purchase intent: written, with its token claimed, BEFORE the provider is called, and
    resolved with an outcome once the answer (or reconciliation with the provider) tells."""

    id: int
    user_id: int
    key_id: int
    service: str
    country: str
    chat_id: int | None
    created_at: float
    kind: str = field(default="activation")  # activation | rent | extend
    max_price: Decimal | None = None
    expected_cost: Decimal | None = None  # the price the confirm screen showed
    hours: int | None = None  # rent / extend
    rental_id: int | None = None  # extend
    message_id: int | None = None  # the message that says "checking": the result edits it
    balance_before: Decimal | None = None  # the key's balance just before the purchase
    unknown_at: float | None = None  # the provider call ended without a clear answer
    outcome: str | None = None  # None while open; bought | not_bought | unknown
    provider_id: str | None = None  # what was bought, once known
    # rent: the key's rental ids just before the purchase (None: the provider lists none)
    rent_snapshot: tuple[str, ...] | None = None


PurchaseIntent = PendingPurchase


@dataclass(frozen=True, slots=True)
class DatabaseCounts:
    """Numbers of the whole database, for monitoring: what is live now, and what only grows."""

    live_activations: int
    live_rentals: int
    users: int
    pending_purchases: int  # intents still open: a purchase in flight or being reconciled
    codes_delivered: int
    rental_sms_delivered: int
    activations_bought: int
    rentals_bought: int
