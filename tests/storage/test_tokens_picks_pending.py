"""TokenRepo, PickRepo and PendingRepo behaviour."""

from __future__ import annotations

import asyncio
from typing import Any

from storage import Database
from tests.storage.helpers import add_key


async def test_token_claimed_once(db: Database) -> None:
    assert await db.tokens.claim("tok-1", 1) is True
    assert await db.tokens.claim("tok-1", 1) is False
    assert await db.tokens.claim("tok-1", 2) is False  # another user can't reuse it either
    assert await db.tokens.claim("tok-2", 1) is True


async def test_token_claimed_twice_concurrently_succeeds_once(db: Database) -> None:
    results = await asyncio.gather(*(db.tokens.claim("same", 1) for _ in range(20)))
    assert results.count(True) == 1


async def test_token_claim_across_two_connections(db: Database, db_path: Any, cipher: Any) -> None:
    # Two bot instances on one database file: still exactly one winner.
    other = await Database.open(db_path, cipher)
    try:
        results = await asyncio.gather(
            *(d.tokens.claim("shared", 1) for d in (db, other, db, other))
        )
    finally:
        await other.close()
    assert results.count(True) == 1


async def test_token_prune(db: Database, clock: Any) -> None:
    await db.tokens.claim("old", 1)
    clock.advance(100)
    await db.tokens.claim("new", 1)
    assert await db.tokens.prune(older_than=clock() - 50) == 1
    assert await db.tokens.claim("old", 1) is True
    assert await db.tokens.claim("new", 1) is False


async def test_favourites(db: Database) -> None:
    await db.picks.add_favourite(1, "tg")
    await db.picks.add_favourite(1, "wa", "6")
    await db.picks.add_favourite(1, "wa", "6")  # idempotent
    assert await db.picks.favourites(1) == [("tg", None), ("wa", "6")]
    await db.picks.remove_favourite(1, "wa")  # a different (service, any-country) pick
    assert await db.picks.favourites(1) == [("tg", None), ("wa", "6")]
    await db.picks.remove_favourite(1, "wa", "6")
    await db.picks.remove_favourite(1, "tg", None)
    assert await db.picks.favourites(1) == []


async def test_recents_keep_last_ten_most_recent_first(db: Database) -> None:
    for i in range(12):
        await db.picks.add_recent(1, f"s{i}", "0")
    await db.picks.add_recent(1, "s5", "0")  # used again: moves to the front
    assert await db.picks.recents(1) == [
        ("s5", "0"),
        ("s11", "0"),
        ("s10", "0"),
        ("s9", "0"),
        ("s8", "0"),
    ]
    everything = await db.picks.recents(1, limit=100)
    assert len(everything) == 10
    assert ("s0", "0") not in everything and ("s1", "0") not in everything
    assert ("s2", "0") in everything  # re-using s5 moved it, it did not take an extra slot
    await db.picks.add_recent(1, "s12", "0")
    assert ("s2", "0") not in await db.picks.recents(1, limit=100)


async def test_pending_add_list_resolve(db: Database, clock: Any) -> None:
    key = await add_key(db, 1)
    first = await db.pending.add(user_id=1, key_id=key.id, service="tg", country="0", chat_id=5)
    second = await db.pending.add(
        user_id=1, key_id=key.id, service="tg", country="0", chat_id=None, kind="rental"
    )
    assert (first.kind, second.kind, first.created_at) == ("activation", "rental", clock())
    assert [(p.id, p.kind, p.chat_id) for p in await db.pending.list_all()] == [
        (first.id, "activation", 5),
        (second.id, "rental", None),
    ]
    await db.pending.resolve(first.id)
    await db.pending.resolve(first.id)  # idempotent
    assert [p.id for p in await db.pending.list_all()] == [second.id]


async def test_favourites_and_recents_in_one_read_match_the_separate_reads(db: Database) -> None:
    await db.picks.add_favourite(1, "wa", "6")
    await db.picks.add_favourite(1, "tg")
    await db.picks.add_favourite(1, "ab", "2")
    for i in range(7):
        await db.picks.add_recent(1, f"s{i}", str(i))
    await db.picks.add_recent(1, "s2", "2")  # moved to the front
    await db.picks.add_favourite(2, "zz", "9")  # another user's picks stay out
    await db.picks.add_recent(2, "yy", "8")
    for limit in (1, 4, 10):
        favourites, recents = await db.picks.favourites_and_recents(1, recent_limit=limit)
        assert favourites == await db.picks.favourites(1)
        assert recents == await db.picks.recents(1, limit=limit)
    favourites, recents = await db.picks.favourites_and_recents(1, recent_limit=3)
    assert favourites == [("ab", "2"), ("tg", None), ("wa", "6")]
    assert recents == [("s2", "2"), ("s6", "6"), ("s5", "5")]
    assert await db.picks.favourites_and_recents(3) == ([], [])
