"""A seeded history for the history, export and your-data tests: one user's numbers of every
kind and outcome, stored through the repositories as the use cases would leave them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

DAY = 86400.0


@dataclass(frozen=True)
class Seeded:
    """Local ids of the seeded numbers, by name; `newest_first` in the history's order."""

    ids: dict[str, int]
    newest_first: list[tuple[str, int]]  # (kind, id)


async def _activation(
    db: Any,
    user_id: int,
    key_id: int,
    *,
    n: int,
    service: str,
    country: str,
    created_at: float,
    cost: str,
    status: str,
    code: str | None = None,
) -> int:
    a = await db.activations.add(
        user_id=user_id,
        key_id=key_id,
        provider_id=f"h{user_id}-{n}",
        service=service,
        country=country,
        phone=f"7{user_id:03d}{n:07d}",
        cost=Decimal(cost),
        currency="RUB",
        created_at=created_at,
        ends_at=created_at + 1200,
        cancel_allowed_at=created_at + 120,
    )
    if code is not None:
        assert await db.activations.store_code(a.id, 0, code, f"Your code {code}", created_at + 60)
    if status != "waiting":
        assert await db.activations.set_status(a.id, status, ended_at=created_at + 300)
    return int(a.id)


async def _rental(
    db: Any,
    user_id: int,
    key_id: int,
    *,
    n: int,
    service: str,
    country: str,
    created_at: float,
    cost: str,
    status: str,
    sms: tuple[str, ...] = (),
    extension: str | None = None,
) -> int:
    r = await db.rentals.add(
        user_id=user_id,
        key_id=key_id,
        provider_id=f"r{user_id}-{n}",
        service=service,
        country=country,
        phone=f"8{user_id:03d}{n:07d}",
        hours=4,
        cost=Decimal(cost),
        created_at=created_at,
        ends_at=created_at + 4 * 3600,
        currency="RUB",
    )
    if extension is not None:
        await db.rentals.extend(r.id, created_at + 8 * 3600, 4, cost=Decimal(extension))
    for i, text in enumerate(sms):
        await db.rentals.add_sms(
            r.id,
            dedup_key=f"{n}-{i}",
            phone_from="Service",
            text=text,
            date=None,
            received_at=created_at + 600 * (i + 1),
        )
    if status != "active":
        assert await db.rentals.set_status(r.id, status, ended_at=created_at + 3600)
    return int(r.id)


async def seed_history(db: Any, user_id: int, key_id: int, now: float) -> Seeded:
    """Seven numbers over 50 days: activations with a code, refunded, expired, and one live;
    rentals with SMS (extended once) and refunded."""
    ids: dict[str, int] = {}
    a = _activation
    ids["live"] = await a(
        db,
        user_id,
        key_id,
        n=1,
        service="tg",
        country="0",
        created_at=now - 60,
        cost="9",
        status="waiting",
    )
    ids["code"] = await a(
        db,
        user_id,
        key_id,
        n=2,
        service="tg",
        country="0",
        created_at=now - 1 * DAY,
        cost="10.5",
        status="finished",
        code="11111",
    )
    ids["refunded"] = await a(
        db,
        user_id,
        key_id,
        n=3,
        service="tg",
        country="0",
        created_at=now - 2 * DAY,
        cost="10.5",
        status="cancelled",
    )
    ids["rental_sms"] = await _rental(
        db,
        user_id,
        key_id,
        n=4,
        service="wa",
        country="0",
        created_at=now - 3 * DAY,
        cost="30",
        status="finished",
        sms=("WhatsApp code 424242", "WhatsApp code 434343"),
        extension="20",
    )
    ids["expired"] = await a(
        db,
        user_id,
        key_id,
        n=5,
        service="wa",
        country="187",
        created_at=now - 10 * DAY,
        cost="12",
        status="expired",
    )
    ids["old_code"] = await a(
        db,
        user_id,
        key_id,
        n=6,
        service="vk",
        country="0",
        created_at=now - 40 * DAY,
        cost="5",
        status="finished",
        code="22222",
    )
    ids["rental_refunded"] = await _rental(
        db,
        user_id,
        key_id,
        n=7,
        service="tg",
        country="187",
        created_at=now - 50 * DAY,
        cost="40",
        status="cancelled",
    )
    order = [
        ("activation", "live"),
        ("activation", "code"),
        ("activation", "refunded"),
        ("rental", "rental_sms"),
        ("activation", "expired"),
        ("activation", "old_code"),
        ("rental", "rental_refunded"),
    ]
    return Seeded(ids=ids, newest_first=[(kind, ids[name]) for kind, name in order])


async def database_rows(db: Any, user_id: int) -> list[dict[str, Any]]:
    """The user's numbers read straight from the tables (not through the history's query),
    newest first: what an export must hold."""
    conn = db.connection
    rows: list[dict[str, Any]] = []
    async with conn.execute(
        "SELECT id, service, country, phone, status, cost, created_at, ended_at FROM activations"
        " WHERE user_id = ?",
        (user_id,),
    ) as cur:
        for row in await cur.fetchall():
            async with conn.execute(
                "SELECT code FROM activation_codes WHERE activation_id = ? ORDER BY round",
                (row[0],),
            ) as codes:
                found = [c[0] for c in await codes.fetchall()]
            rows.append(
                {
                    "kind": "activation",
                    "id": row[0],
                    "service": row[1],
                    "country": row[2],
                    "phone": "+" + row[3],
                    "status": row[4],
                    "cost": Decimal(row[5]),
                    "created_at": row[6],
                    "ended_at": row[7],
                    "codes": found,
                }
            )
    async with conn.execute(
        "SELECT id, service, country, phone, status, created_at, ended_at FROM rentals"
        " WHERE user_id = ?",
        (user_id,),
    ) as cur:
        for row in await cur.fetchall():
            async with conn.execute(
                "SELECT cost FROM rental_periods WHERE rental_id = ?", (row[0],)
            ) as periods:
                paid = sum((Decimal(p[0]) for p in await periods.fetchall()), Decimal(0))
            rows.append(
                {
                    "kind": "rental",
                    "id": row[0],
                    "service": row[1],
                    "country": row[2],
                    "phone": "+" + row[3],
                    "status": row[4],
                    "cost": paid,
                    "created_at": row[5],
                    "ended_at": row[6],
                    "codes": [],
                }
            )
    rows.sort(key=lambda r: (-r["created_at"], r["kind"], -r["id"]))
    return rows
