"""RentalRepo behaviour."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from storage import Database
from tests.storage.helpers import add_key, add_rental


@pytest.fixture
async def key(db: Database) -> Any:
    return await add_key(db, 1)


async def test_add_readd_get(db: Database, key: Any) -> None:
    r = await db.rentals.add(
        user_id=1,
        key_id=key.id,
        provider_id="0042",
        service="tg",
        country="6",
        phone="628123",
        hours=4,
        cost=Decimal("12.00"),
        created_at=10.0,
        ends_at=14410.0,
        chat_id=9,
    )
    assert (r.provider_id, r.status, r.hours, r.cost, r.reminders_sent) == (
        "0042",
        "active",
        4,
        Decimal("12.00"),
        frozenset(),
    )
    assert r.live and r.next_poll_at == 10.0 and r.chat_id == 9
    assert (await add_rental(db, 1, key.id, "0042")).id == r.id
    assert (await db.rentals.get_any(r.id)).phone == "628123"  # type: ignore[union-attr]


async def test_status_extend_reminders(db: Database, key: Any, clock: Any) -> None:
    r = await add_rental(db, 1, key.id)
    assert await db.rentals.add_reminder(r.id, "3600") is True
    assert await db.rentals.add_reminder(r.id, "3600") is False
    assert await db.rentals.add_reminder(r.id, "600") is True
    assert (await db.rentals.get(1, r.id)).reminders_sent == {"3600", "600"}  # type: ignore[union-attr]
    await db.rentals.extend(r.id, 99999.0, 24)
    got = await db.rentals.get(1, r.id)
    assert got is not None and (got.ends_at, got.hours, got.reminders_sent) == (
        99999.0,
        28,
        frozenset(),
    )
    await db.rentals.set_card(r.id, 1, 2)
    assert await db.rentals.set_status(r.id, "finished") is True
    assert await db.rentals.set_status(r.id, "active") is False
    done = await db.rentals.get(1, r.id)
    assert done is not None and done.status == "finished" and done.ended_at == clock()
    assert (done.chat_id, done.message_id) == (1, 2) and not done.live
    with pytest.raises(ValueError):
        await db.rentals.set_status(r.id, "bogus")


async def test_sms_dedup_paging_delivery(db: Database, key: Any) -> None:
    r = await add_rental(db, 1, key.id)
    stored = []
    for i in range(7):
        sms = await db.rentals.add_sms(
            r.id,
            dedup_key=f"k{i}",
            phone_from="Telegram",
            text=f"code {i}",
            date=None,
            received_at=100.0 + i,
        )
        assert sms is not None and sms.rental_id == r.id and not sms.delivered
        stored.append(sms)
    dup = await db.rentals.add_sms(
        r.id, dedup_key="k3", phone_from="X", text="other", date="2026-01-01", received_at=1.0
    )
    assert dup is None
    page, total = await db.rentals.list_sms(1, r.id)
    assert total == 7 and [s.text for s in page] == [
        "code 6",
        "code 5",
        "code 4",
        "code 3",
        "code 2",
    ]
    page2, _ = await db.rentals.list_sms(1, r.id, offset=5, limit=5)
    assert [s.id for s in page2] == [stored[1].id, stored[0].id]
    await db.rentals.mark_sms_delivered(stored[0].id)
    assert [s.id for s in await db.rentals.undelivered_sms(r.id)] == [s.id for s in stored[1:]]


async def test_due_for_poll_and_lists(db: Database, key: Any) -> None:
    a = await add_rental(db, 1, key.id, "1", created_at=10.0)
    b = await add_rental(db, 1, key.id, "2", created_at=20.0)
    c = await add_rental(db, 1, key.id, "3", created_at=30.0)
    await db.rentals.set_next_poll(a.id, 50.0)
    await db.rentals.set_status(c.id, "cancelled")
    await db.rentals.add_reminder(b.id, "600")
    due = await db.rentals.due_for_poll(40.0)
    assert [r.id for r in due] == [b.id] and due[0].reminders_sent == {"600"}
    assert [r.id for r in await db.rentals.due_for_poll(60.0)] == [b.id, a.id]
    assert [r.id for r in await db.rentals.list_live(1)] == [b.id, a.id]
    ended, total = await db.rentals.list_ended(1)
    assert total == 1 and [r.id for r in ended] == [c.id]
    assert [r.id for r in await db.rentals.live_for_key(key.id)] == [a.id, b.id]
    assert await db.rentals.count_live() == 2
    await db.rentals.set_next_poll(a.id, 1000.0)
    await db.rentals.set_next_poll(b.id, 1000.0)
    assert await db.rentals.due_for_poll(999.0) == []
    assert len(await db.rentals.due_for_poll(1000.0)) == 2


# ------------------------------------------------------------------ what each period cost (item 8)


async def test_each_paid_period_is_recorded_and_totalled(db: Database, key: Any) -> None:
    r = await db.rentals.add(
        user_id=1,
        key_id=key.id,
        provider_id="77",
        service="tg",
        country="6",
        phone="628123",
        hours=4,
        cost=Decimal("8.00"),
        currency="RUB",
        created_at=10.0,
        ends_at=14410.0,
    )
    assert [(p.kind, p.hours, p.cost, p.currency) for p in r.periods] == [
        ("rent", 4, Decimal("8.00"), "RUB")
    ]
    await db.rentals.extend(r.id, 14410.0 + 12 * 3600, 12, cost=Decimal("24"), currency="RUB")
    await db.rentals.extend(r.id, 14410.0 + 36 * 3600, 24, cost=None)  # price not known
    got = await db.rentals.get(1, r.id)
    assert got is not None
    assert [(p.kind, p.hours, p.cost) for p in got.periods] == [
        ("rent", 4, Decimal("8.00")),
        ("extend", 12, Decimal("24")),
        ("extend", 24, None),
    ]
    assert got.periods[1].ends_at == 14410.0 + 12 * 3600
    assert got.paid_total == Decimal("32.00") and not got.paid_known
    assert got.cost == Decimal("8.00")  # the first period's price stays what it was
    # batch loads carry the periods too
    assert [len(x.periods) for x in await db.rentals.list_live(1)] == [3]


async def test_a_rental_re_added_records_one_period(db: Database, key: Any) -> None:
    first = await add_rental(db, 1, key.id, "0042")
    again = await add_rental(db, 1, key.id, "0042")
    assert first.id == again.id and len(again.periods) == 1
