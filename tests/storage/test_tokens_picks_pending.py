"""TokenRepo, PickRepo and PendingRepo behaviour."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from storage import Database
from storage.tokens import PRUNE_EVERY, TOKEN_TTL, offer_key
from tests.harness import SqlTrace
from tests.storage.helpers import add_key

OFFER = offer_key("activation", service="tg", country="0", max_price=None)


async def test_token_claimed_once(db: Database) -> None:
    token = await db.tokens.issue(1, OFFER)
    assert await db.tokens.claim(token, 1, OFFER) == "ok"
    assert await db.tokens.claim(token, 1, OFFER) == "used"
    assert await db.tokens.claim(token, 2, OFFER) == "stale"  # another user can't use it
    other = await db.tokens.issue(1, OFFER)
    assert other != token and await db.tokens.claim(other, 1, OFFER) == "ok"


async def test_token_never_issued_or_for_another_offer_is_stale(db: Database) -> None:
    assert await db.tokens.claim("forged-token", 1, OFFER) == "stale"
    token = await db.tokens.issue(1, OFFER)
    dearer = offer_key("activation", service="tg", country="0", max_price=Decimal("99"))
    assert await db.tokens.claim(token, 1, dearer) == "stale"
    elsewhere = offer_key("activation", service="wa", country="0")
    assert await db.tokens.claim(token, 1, elsewhere) == "stale"
    assert await db.tokens.claim(token, 1, OFFER) == "ok"  # refusals did not use it up


async def test_token_claimed_twice_concurrently_succeeds_once(db: Database) -> None:
    token = await db.tokens.issue(1, OFFER)
    results = await asyncio.gather(*(db.tokens.claim(token, 1, OFFER) for _ in range(20)))
    assert results.count("ok") == 1


async def test_token_claim_across_two_connections(db: Database, db_url: str, cipher: Any) -> None:
    token = await db.tokens.issue(1, OFFER)
    other = await Database.connect(db_url, cipher)  # another process's worth of connections
    try:
        results = await asyncio.gather(
            *(d.tokens.claim(token, 1, OFFER) for d in (db, other, db, other))
        )
    finally:
        await other.close()
    assert results.count("ok") == 1


async def test_token_expires_and_pruning_keeps_used_tokens_refused(
    db: Database, clock: Any
) -> None:
    used = await db.tokens.issue(1, OFFER)
    assert await db.tokens.claim(used, 1, OFFER) == "ok"
    unused = await db.tokens.issue(1, OFFER)
    clock.advance(TOKEN_TTL + 1)
    assert await db.tokens.claim(unused, 1, OFFER) == "stale"  # expired: buys nothing
    fresh = await db.tokens.issue(1, OFFER)  # issuing prunes the expired ones
    assert await db.tokens.prune(clock()) == 0
    for token in (used, unused):
        assert await db.tokens.claim(token, 1, OFFER) == "stale"  # pruned: still refused
    assert await db.tokens.claim(fresh, 1, OFFER) == "ok"


async def test_intent_is_written_with_its_token_claimed_in_one_step(db: Database) -> None:
    key = await add_key(db, 1)
    token = await db.tokens.issue(1, OFFER, price=Decimal("12.5"))
    fields: dict[str, Any] = {
        "offer": OFFER,
        "user_id": 1,
        "key_id": key.id,
        "kind": "activation",
        "service": "tg",
        "country": "0",
        "chat_id": 5,
        "message_id": 77,
    }
    claim, intent = await db.pending.open(token=token, **fields)
    assert claim == "ok" and intent is not None
    assert (intent.expected_cost, intent.message_id, intent.outcome) == (Decimal("12.5"), 77, None)
    assert await db.pending.open(token=token, **fields) == ("used", None)
    assert await db.pending.open(token="never-issued", **fields) == ("stale", None)
    assert [p.id for p in await db.pending.list_all()] == [intent.id]
    assert await db.pending.resolve(intent.id, "not_bought")
    assert not await db.pending.resolve(intent.id, "bought")  # an outcome is final
    stored = await db.pending.get(intent.id)
    assert stored is not None and stored.outcome == "not_bought"


async def test_favourites(db: Database) -> None:
    await db.picks.add_favourite(1, "tg")
    await db.picks.add_favourite(1, "wa", "6")
    await db.picks.add_favourite(1, "wa", "6")  # idempotent
    assert await db.picks.favourites(1) == [("tg", None), ("wa", "6")]
    assert await db.picks.is_favourite(1, "wa", "6") and await db.picks.is_favourite(1, "tg")
    assert not await db.picks.is_favourite(1, "wa") and not await db.picks.is_favourite(2, "tg")
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


async def test_the_pick_at_the_front_already_is_not_written_again(db: Database) -> None:
    for service in ("tg", "wa"):
        await db.picks.add_recent(1, service, "0")
    sql = await SqlTrace.start(db)
    await db.picks.add_recent(1, "wa", "0")  # the same number bought again
    assert [s for s in sql.statements if not s.startswith("SELECT")] == []
    await db.picks.add_recent(1, "tg", "0")  # second: moves to the front
    assert await db.picks.recents(1) == [("tg", "0"), ("wa", "0")]


async def test_issuing_prunes_the_expired_tokens_once_a_minute_at_most(
    db: Database, clock: Any
) -> None:
    expired = await db.tokens.issue(1, OFFER, ttl=1.0)
    clock.advance(2.0)
    sql = await SqlTrace.start(db)
    await db.tokens.issue(1, OFFER)  # within a minute of the last pruning: none
    assert sql.matching("DELETE FROM offer_tokens") == []
    clock.advance(PRUNE_EVERY)
    await db.tokens.issue(1, OFFER)
    assert len(sql.matching("DELETE FROM offer_tokens")) == 1
    assert await db.tokens.claim(expired, 1, OFFER) == "stale"  # pruned: refused as before


async def test_pending_add_list_resolve(db: Database, clock: Any) -> None:
    key = await add_key(db, 1)
    first = await db.pending.add(user_id=1, key_id=key.id, service="tg", country="0", chat_id=5)
    second = await db.pending.add(
        user_id=1, key_id=key.id, service="tg", country="0", chat_id=None, kind="rent"
    )
    assert (first.kind, second.kind, first.created_at) == ("activation", "rent", clock())
    assert [(p.id, p.kind, p.chat_id) for p in await db.pending.list_all()] == [
        (first.id, "activation", 5),
        (second.id, "rent", None),
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
