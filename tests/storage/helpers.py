"""Helpers that build rows for storage tests."""

from __future__ import annotations

from typing import Any

from storage import Database

API_KEY = "d4f1e2c3b4a5968778695a4b3c2d1e0f"


async def add_key(db: Database, user_id: int, label: str = "main", api_key: str = API_KEY) -> Any:
    return await db.keys.add(
        user_id, label=label, base_url="https://provider.test", api_key=api_key
    )


async def add_activation(
    db: Database,
    user_id: int,
    key_id: int,
    provider_id: str = "1001",
    *,
    created_at: float = 1000.0,
    next_poll_at: float | None = None,
) -> Any:
    return await db.activations.add(
        user_id=user_id,
        key_id=key_id,
        provider_id=provider_id,
        service="tg",
        country="0",
        phone="79990001122",
        cost=None,
        currency=None,
        created_at=created_at,
        ends_at=created_at + 1200,
        cancel_allowed_at=created_at + 120,
        next_poll_at=next_poll_at,
    )


async def add_rental(
    db: Database,
    user_id: int,
    key_id: int,
    provider_id: str = "5001",
    *,
    created_at: float = 1000.0,
) -> Any:
    return await db.rentals.add(
        user_id=user_id,
        key_id=key_id,
        provider_id=provider_id,
        service="tg",
        country="0",
        phone="79990003344",
        hours=4,
        cost=None,
        created_at=created_at,
        ends_at=created_at + 4 * 3600,
    )
