"""WatchRepo: arming, the per-user bound, firing once, expiry, removal, owner scoping."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from storage import Database
from tests.storage.helpers import add_key

HOUR = 3600.0


async def _arm(db: Database, user_id: int, key_id: int, clock: Any, **extra: Any) -> Any:
    values: dict[str, Any] = {
        "service": "tg",
        "country": "62",
        "max_price": Decimal("20"),
        "auto_buy": False,
        "chat_id": None,
        "expires_at": clock() + 24 * HOUR,
        "limit": 10,
    }
    values.update(extra)
    return await db.watches.add(user_id=user_id, key_id=key_id, **values)


async def test_armed_watch_is_listed_with_its_provider(db: Database, clock: Any) -> None:
    key = await add_key(db, 1)
    watch = await _arm(db, 1, key.id, clock)
    assert watch is not None and watch.state == "armed" and watch.max_price == Decimal("20")
    assert watch.base_url == "https://provider.test" and watch.chat == 1
    assert [w.id for w in await db.watches.armed_of(1, clock())] == [watch.id]
    assert [w.id for w in await db.watches.armed(clock(), 100)] == [watch.id]


async def test_the_same_offer_again_replaces_the_watch(db: Database, clock: Any) -> None:
    key = await add_key(db, 1)
    first = await _arm(db, 1, key.id, clock)
    again = await _arm(db, 1, key.id, clock, max_price=None, auto_buy=True)
    assert again.id == first.id and again.max_price is None
    assert len(await db.watches.armed_of(1, clock())) == 1


async def test_a_user_has_at_most_limit_armed_watches(db: Database, clock: Any) -> None:
    key = await add_key(db, 1)
    for country in ("0", "1"):
        assert await _arm(db, 1, key.id, clock, country=country, limit=2) is not None
    assert await _arm(db, 1, key.id, clock, country="2", limit=2) is None
    other = await add_key(db, 2)
    assert await _arm(db, 2, other.id, clock, country="2", limit=2) is not None


async def test_a_watch_fires_once_even_when_two_try(db: Database, clock: Any) -> None:
    key = await add_key(db, 1)
    watch = await _arm(db, 1, key.id, clock)
    results = await asyncio.gather(
        db.watches.fire(watch.id, "notified", Decimal("10"), clock()),
        db.watches.fire(watch.id, "buying", Decimal("10"), clock()),
    )
    assert sorted(results) == [False, True]
    assert await db.watches.armed(clock(), 100) == []
    fired = await db.watches.get(1, watch.id)
    assert fired is not None and fired.state in ("notified", "buying")
    assert fired.price == Decimal("10")


async def test_settle_only_moves_a_purchase_under_way(db: Database, clock: Any) -> None:
    key = await add_key(db, 1)
    told = await _arm(db, 1, key.id, clock, country="0")
    buying = await _arm(db, 1, key.id, clock, country="1")
    await db.watches.fire(told.id, "notified", Decimal("5"), clock())
    await db.watches.fire(buying.id, "buying", Decimal("5"), clock())
    await db.watches.settle(told.id, "bought")
    await db.watches.settle(buying.id, "checking")
    assert (await db.watches.get(1, told.id)).state == "notified"
    assert (await db.watches.get(1, buying.id)).state == "checking"
    with pytest.raises(ValueError):
        await db.watches.settle(buying.id, "armed")


async def test_expiry_happens_once_and_an_expired_watch_never_fires(
    db: Database, clock: Any
) -> None:
    key = await add_key(db, 1)
    watch = await _arm(db, 1, key.id, clock, expires_at=clock() + HOUR)
    clock.advance(HOUR)
    assert await db.watches.armed(clock(), 100) == []
    assert not await db.watches.fire(watch.id, "notified", Decimal("1"), clock())
    assert [w.id for w in await db.watches.expire(clock(), 100)] == [watch.id]
    assert await db.watches.expire(clock(), 100) == []
    assert (await db.watches.get(1, watch.id)).state == "expired"


async def test_only_the_owner_sees_or_removes_a_watch(db: Database, clock: Any) -> None:
    key = await add_key(db, 1)
    watch = await _arm(db, 1, key.id, clock)
    assert await db.watches.get(2, watch.id) is None
    assert not await db.watches.remove(2, watch.id)
    assert await db.watches.remove(1, watch.id)
    assert not await db.watches.remove(1, watch.id)
    assert await db.watches.armed_of(1, clock()) == []


async def test_a_deleted_key_is_not_polled_and_erasing_the_user_drops_watches(
    db: Database, clock: Any
) -> None:
    key = await add_key(db, 1)
    await _arm(db, 1, key.id, clock)
    assert await db.keys.delete(1, key.id)
    assert await db.watches.armed(clock(), 100) == []
    await db.userdata.erase(1)
    [(count,)] = await db.connection.execute_fetchall("SELECT COUNT(*) FROM watches")
    assert count == 0
