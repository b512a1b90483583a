"""ActivationRepo behaviour."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from storage import ACTIVATION_LIVE, Database
from tests.harness import SqlTrace
from tests.storage.helpers import add_activation, add_key


@pytest.fixture
async def key(db: Database) -> Any:
    return await add_key(db, 1)


async def test_add_and_idempotent_readd(db: Database, key: Any) -> None:
    a = await db.activations.add(
        user_id=1,
        key_id=key.id,
        provider_id="000123",
        service="tg",
        country="0",
        phone="79990001122",
        cost=Decimal("0.150"),
        currency="RUB",
        created_at=100.0,
        ends_at=1300.0,
        cancel_allowed_at=220.0,
        can_get_another_sms=True,
        chat_id=77,
        adopted=True,
    )
    assert (a.provider_id, a.status, a.round, a.codes, a.cost) == (
        "000123",
        "waiting",
        0,
        [],
        Decimal("0.150"),
    )
    assert (a.can_get_another_sms, a.chat_id, a.adopted, a.next_poll_at) == (True, 77, True, 100.0)
    assert a.live and not a.sms_sent and not a.cancel_requested and a.ended_at is None
    again = await add_activation(db, 1, key.id, "000123")
    assert again.id == a.id and again.cost == Decimal("0.150")
    assert await db.activations.count_live() == 1
    assert (await db.activations.get_by_provider_id(key.id, "000123")).id == a.id  # type: ignore[union-attr]
    assert await db.activations.get_by_provider_id(key.id, "123") is None  # leading zeros kept


async def test_a_stored_number_comes_back_from_its_insert_as_a_read_finds_it(
    db: Database, key: Any
) -> None:
    sql = await SqlTrace.start(db)
    a = await db.activations.add(
        user_id=1, key_id=key.id, provider_id="77", service="wa", country="6",
        phone="6281", cost=Decimal("9.5"), currency="643", created_at=50.0, ends_at=1250.0,
        cancel_allowed_at=170.0, can_get_another_sms=False, chat_id=5, next_poll_at=55.0,
    )  # fmt: skip
    assert [s for s in sql.statements if s.startswith("SELECT")] == []  # not read back
    assert a == await db.activations.get_by_provider_id(key.id, "77")


async def test_status_transitions_no_resurrection(db: Database, key: Any, clock: Any) -> None:
    a = await add_activation(db, 1, key.id)
    assert await db.activations.set_status(a.id, "received") is True
    assert await db.activations.set_status(a.id, "finished") is True
    ended = await db.activations.get(1, a.id)
    assert ended is not None and ended.status == "finished" and ended.ended_at == clock()
    assert not ended.live
    assert await db.activations.set_status(a.id, "waiting") is False
    assert await db.activations.set_status(a.id, "cancelled", ended_at=5.0) is False
    assert (await db.activations.get(1, a.id)).status == "finished"  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        await db.activations.set_status(a.id, "bogus")


async def test_explicit_ended_at(db: Database, key: Any) -> None:
    a = await add_activation(db, 1, key.id)
    assert await db.activations.set_status(a.id, "expired", ended_at=1234.5)
    assert (await db.activations.get_any(a.id)).ended_at == 1234.5  # type: ignore[union-attr]


async def test_retry_and_codes(db: Database, key: Any) -> None:
    a = await add_activation(db, 1, key.id)
    assert await db.activations.add_code(a.id, 0, "11111", "Your code 11111", 10.0) is True
    assert await db.activations.add_code(a.id, 0, "99999", None, 11.0) is False
    assert await db.activations.start_retry(a.id) == 1
    assert await db.activations.add_code(a.id, 1, "22222", None, 20.0) is True
    got = await db.activations.get(1, a.id)
    assert got is not None and got.status == "retry" and got.round == 1
    assert [(c.round, c.code, c.text, c.delivered) for c in got.codes] == [
        (0, "11111", "Your code 11111", False),
        (1, "22222", None, False),
    ]
    await db.activations.mark_code_delivered(a.id, 0)
    assert [c.round for c in await db.activations.undelivered_codes(a.id)] == [1]
    await db.activations.set_status(a.id, "finished")
    assert await db.activations.start_retry(a.id) == 1  # ended: unchanged
    assert (await db.activations.get_any(a.id)).status == "finished"  # type: ignore[union-attr]


async def test_card_sms_sent_cancel_request(db: Database, key: Any) -> None:
    a = await add_activation(db, 1, key.id)
    await db.activations.set_card(a.id, 500, 42)
    await db.activations.set_sms_sent(a.id)
    assert await db.activations.request_cancel(1, a.id) is True
    got = await db.activations.get(1, a.id)
    assert got is not None
    assert (got.chat_id, got.message_id, got.sms_sent, got.cancel_requested) == (
        500,
        42,
        True,
        True,
    )
    assert await db.activations.request_cancel(1, a.id, requested=False) is True
    assert (await db.activations.get(1, a.id)).cancel_requested is False  # type: ignore[union-attr]
    await db.activations.set_status(a.id, "cancelled")
    assert await db.activations.request_cancel(1, a.id) is False


async def test_live_and_live_after_give_live_numbers_only_with_codes(
    db: Database, key: Any
) -> None:
    """The tracker's reads of its schedule: every live number at start (`live`), the ones
    stored since at each pass (`live_after`); ended ones never."""
    first = await add_activation(db, 1, key.id, "1")
    ended = await add_activation(db, 1, key.id, "2")
    await db.activations.set_status(ended.id, "cancelled")
    later = await add_activation(db, 1, key.id, "3")
    await db.activations.add_code(first.id, 0, "123", None, 1.0)
    live = await db.activations.live()
    assert [a.id for a in live] == [first.id, later.id]
    assert [c.code for c in live[0].codes] == ["123"] and live[1].codes == []
    assert [a.id for a in await db.activations.live_after(first.id)] == [later.id]
    assert await db.activations.live_after(later.id) == []
    assert await db.activations.count_live() == 2


async def test_list_live_and_ended_paging(db: Database, key: Any) -> None:
    made = [await add_activation(db, 1, key.id, str(i), created_at=100.0 + i) for i in range(25)]
    for a in made[:23]:
        await db.activations.set_status(a.id, "finished")
    live = await db.activations.list_live(1)
    assert [a.id for a in live] == [made[24].id, made[23].id]
    assert all(a.status in ACTIVATION_LIVE for a in live)
    page, total = await db.activations.list_ended(1)
    assert total == 23 and len(page) == 10 and page[0].id == made[22].id
    page3, total = await db.activations.list_ended(1, offset=20, limit=10)
    assert total == 23 and [a.id for a in page3] == [made[2].id, made[1].id, made[0].id]


async def test_live_for_key_scoped_to_key(db: Database, key: Any) -> None:
    other = await add_key(db, 1, "other")
    a = await add_activation(db, 1, key.id, "1")
    b = await add_activation(db, 1, other.id, "1")  # same provider id, other key: a new row
    assert a.id != b.id
    assert [x.id for x in await db.activations.live_for_key(key.id)] == [a.id]
    assert [x.id for x in await db.activations.live_for_key(other.id)] == [b.id]
