"""How a number the provider lists (getActiveActivations) becomes a stored activation.

One rule for both ways a listed number is taken in: the tracker adopting the purchase of one
of this bot's own intents whose answer was lost, and a user importing a number they bought
elsewhere with the same key ("Numbers on my provider account"). What the listing says wins;
what it leaves out comes from the caller (the intent's offer, or nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from bot.provider.models import ActiveActivation
from storage import Activation, KeyProfile
from storage.activations import ActivationRepo

# When the provider does not say (the listing carries no deadlines): the protocol's figures.
LISTED_LIFETIME = 1200.0
LISTED_CANCEL_LOCK = 120.0


def provider_time(text: str | None) -> float | None:
    """A zone-less provider timestamp read as if it were UTC (the caller applies the zone)."""
    if not text:
        return None
    try:
        moment = datetime.strptime(text.strip()[:19], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC).timestamp()


@dataclass(frozen=True, slots=True)
class TakeIn:
    """Who the listed number is stored for and from when its deadlines count."""

    user_id: int
    chat_id: int
    created_at: float  # when it was bought, as well as the caller can tell
    now: float  # the tracker polls it from now on
    lifetime: float = LISTED_LIFETIME
    cancel_lock: float = LISTED_CANCEL_LOCK
    # What the listing may leave out, when the caller knows it (an intent's offer).
    service: str = ""
    country: str = ""
    cost: Decimal | None = None
    intent_id: int | None = None


async def store_listed(
    repo: ActivationRepo, key: KeyProfile, item: ActiveActivation, how: TakeIn
) -> Activation:
    """Store the listed number as adopted (the same provider id again returns the stored row:
    its `adopted` flag tells the caller whether this call stored it)."""
    return await repo.add(
        user_id=how.user_id,
        key_id=key.id,
        provider_id=item.activation_id,
        service=item.service or how.service,
        country=item.country or how.country,
        phone=item.phone.lstrip("+"),
        cost=item.cost if item.cost is not None else how.cost,
        currency=key.currency,
        created_at=how.created_at,
        ends_at=how.created_at + how.lifetime,
        cancel_allowed_at=how.created_at + how.cancel_lock,
        can_get_another_sms=item.can_get_another_sms,
        chat_id=how.chat_id,
        adopted=True,
        next_poll_at=how.now,
        intent_id=how.intent_id,
    )
