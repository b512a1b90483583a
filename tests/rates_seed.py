"""A seeded week of purchases for the success-rate tests: several users, known outcomes.

Telegram ("tg"), counting only numbers whose outcome is known, in the last 7 days:
- Poland (15): 12 known (9 with a code, 3 cancelled) + 2 still waiting      -> 9/12 = 75 %
- United Kingdom (16): 10 known (8 with a code)                             -> 8/10 = 80 %
- Ukraine (1): 9 known, all with a code: under the threshold of 10          -> not shown
- India (22): 10 known (5 with a code) + 20 more 8 days ago (all failed)    -> 5/10 = 50 %
- WhatsApp ("wa") in Poland: 10, none with a code: another service, not counted for tg.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

DAY = 86400.0
USERS = (501, 502, 503)


async def seed_rates(db: Any, now: float) -> None:
    keys = [
        (await db.keys.add(user, label="k", base_url="http://x", api_key=f"key-{user}-abcdef")).id
        for user in USERS
    ]
    owners = itertools.cycle(zip(USERS, keys, strict=True))
    serial = itertools.count(1)

    async def bought(
        service: str, country: str, outcome: str, count: int, age: float = DAY
    ) -> None:
        for _ in range(count):
            user, key = next(owners)
            n = next(serial)
            at = now - age + n  # distinct times, all `age` ago
            a = await db.activations.add(
                user_id=user,
                key_id=key,
                provider_id=f"r{n}",
                service=service,
                country=country,
                phone=f"48{n:09d}",
                cost=Decimal("10"),
                currency="RUB",
                created_at=at,
                ends_at=at + 1200,
                cancel_allowed_at=at + 120,
            )
            if outcome == "code":
                assert await db.activations.store_code(a.id, 0, "1234", "code 1234", at + 30)
                assert await db.activations.set_status(a.id, "finished", ended_at=at + 60)
            elif outcome in ("cancelled", "expired"):
                assert await db.activations.set_status(a.id, outcome, ended_at=at + 300)

    await bought("tg", "15", "code", 9)
    await bought("tg", "15", "cancelled", 2)
    await bought("tg", "15", "expired", 1)
    await bought("tg", "15", "waiting", 2, age=60)
    await bought("tg", "16", "code", 8)
    await bought("tg", "16", "cancelled", 2, age=6.5 * DAY)
    await bought("tg", "1", "code", 9)
    await bought("tg", "22", "code", 5)
    await bought("tg", "22", "cancelled", 5)
    await bought("tg", "22", "cancelled", 20, age=8 * DAY)
    await bought("wa", "15", "cancelled", 10)
