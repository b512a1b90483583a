"""NumbersService: what a user owns, live and ended (paged), and the operator's overview."""

from __future__ import annotations

from typing import Any

from bot.numbers import NumberKind, NumbersService

ALICE, BOB = 1, 2


async def _activation(db: Any, user_id: int, key_id: int, n: int, now: float) -> Any:
    return await db.activations.add(
        user_id=user_id, key_id=key_id, provider_id=f"p{user_id}-{n}", service="tg", country="0",
        phone=f"7900000000{n}", cost=None, currency=None, created_at=now + n, ends_at=now + 1200,
        cancel_allowed_at=now + 120,
    )  # fmt: skip


async def test_live_history_and_overview(services: Any, sandbox: Any, clock: Any) -> None:
    numbers: NumbersService = services.numbers
    db, now = services.db, clock()
    key = await db.keys.add(ALICE, label="k", base_url=sandbox.url, api_key="key-a-0123456789")
    other = await db.keys.add(BOB, label="k", base_url=sandbox.url, api_key="key-b-0123456789")
    mine = [await _activation(db, ALICE, key.id, n, now) for n in range(1, 8)]
    await _activation(db, BOB, other.id, 9, now)
    for a in mine[:6]:
        await db.activations.set_status(a.id, "finished", ended_at=now)

    live = await numbers.live(ALICE)
    assert [a.id for a in live.activations] == [mine[6].id] and live.rentals == []

    first = await numbers.history(ALICE, NumberKind.ACTIVATIONS, 0, 4)
    assert (first.page, first.pages) == (0, 2)
    assert [a.phone for a in first.items] == [f"7900000000{n}" for n in (6, 5, 4, 3)]
    last = await numbers.history(ALICE, NumberKind.ACTIVATIONS, 99, 4)  # a crafted page
    assert (last.page, len(last.items)) == (1, 2)
    assert (await numbers.history(ALICE, NumberKind.RENTALS, 0, 4)).items == []
    assert (await numbers.history(BOB, NumberKind.ACTIVATIONS, 0, 4)).items == []

    overview = await numbers.overview()
    assert (overview.live_activations, overview.live_rentals) == (2, 0)
    assert overview.pending_purchases == 0
