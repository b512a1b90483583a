"""A purchase history written through the real repositories, for the spending tests.

Each helper stores a number the way the bot does (bought, codes stored round by round, ended
with a status) at a chosen moment, so the figures of a test can be checked by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from itertools import count
from typing import Any

from storage import Activation, Database, Rental

_ids = count(1)


def at(text: str, tz: tzinfo = UTC) -> float:
    """`2027-01-11 10:00` in `tz`, as epoch seconds."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=tz).timestamp()


async def bought(
    db: Database,
    *,
    user: int,
    key: int,
    when: float,
    cost: str | None,
    currency: str | None = "RUB",
    service: str = "tg",
    country: str = "0",
    codes: int = 0,
    end: str | None = None,
) -> Activation:
    """A one-time number bought at `when`, with `codes` codes (one per round), then ended with
    `end` (finished / cancelled / expired) or left live."""
    activation = await db.activations.add(
        user_id=user,
        key_id=key,
        provider_id=f"A{next(_ids)}",
        service=service,
        country=country,
        phone="79000000000",
        cost=None if cost is None else Decimal(cost),
        currency=currency,
        created_at=when,
        ends_at=when + 1200,
        cancel_allowed_at=when + 120,
    )
    for round_ in range(codes):
        if round_:
            await db.activations.start_retry(activation.id, expected_round=round_ - 1)
        assert await db.activations.store_code(activation.id, round_, f"{round_}1234", None, when)
    if end is not None:
        assert await db.activations.set_status(activation.id, end, ended_at=when + 600)
    found = await db.activations.get_any(activation.id)
    assert found is not None
    return found


async def rented(
    db: Database,
    *,
    user: int,
    key: int,
    when: float,
    cost: str | None,
    currency: str | None = "RUB",
    service: str = "tg",
    country: str = "0",
    hours: int = 4,
    extensions: tuple[tuple[float, str | None], ...] = (),
    end: str | None = None,
    clock: Any = None,
) -> Rental:
    """A rental paid at `when`, extended at each (moment, cost), then ended with `end`.
    Extensions need the database's FakeClock (`clock`): the repository stamps its now."""
    rental = await db.rentals.add(
        user_id=user,
        key_id=key,
        provider_id=f"R{next(_ids)}",
        service=service,
        country=country,
        phone="79000000001",
        hours=hours,
        cost=None if cost is None else Decimal(cost),
        currency=currency,
        created_at=when,
        ends_at=when + hours * 3600,
    )
    ends_at = rental.ends_at
    for moment, price in extensions:
        ends_at += hours * 3600
        await _extend_at(db, clock, rental.id, moment, ends_at, hours, price, currency)
    if end is not None:
        assert await db.rentals.set_status(rental.id, end, ended_at=ends_at)
    found = await db.rentals.get(user, rental.id)
    assert found is not None
    return found


async def _extend_at(
    db: Database,
    clock: Any,
    rental_id: int,
    moment: float,
    ends_at: float,
    hours: int,
    price: str | None,
    currency: str | None,
) -> None:
    """RentalRepo.extend stamps the clock's now: the clock is moved to `moment` for it."""
    before = clock.now
    clock.now = moment
    try:
        await db.rentals.extend(
            rental_id,
            ends_at,
            hours,
            cost=None if price is None else Decimal(price),
            currency=currency,
        )
    finally:
        clock.now = before
