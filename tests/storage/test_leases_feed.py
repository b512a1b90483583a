"""Key leases and the change feed, on both backends: two workers on two connections split the
keys, never claim a live lease, take over an expired one; the feed is read by id and pruned."""

from __future__ import annotations

from typing import Any

from storage import Database, KeyCipher
from tests.harness import SqlTrace
from tests.storage.helpers import add_key

TTL = 10.0


async def test_two_workers_on_two_connections_split_the_keys_and_take_over_expired_leases(
    db: Database, db_url: str, cipher: KeyCipher, clock: Any
) -> None:
    keys = [(await add_key(db, user_id)).id for user_id in (11, 12, 13, 14)]
    other = await Database.connect(db_url, cipher, clock=clock)
    try:
        now = clock()
        first = await db.leases.renew_and_claim("w1", now, TTL, share=2)
        second = await other.leases.renew_and_claim("w2", now, TTL, share=4)
        assert len(first) == 2 and sorted(first + second) == keys  # never a held one
        census = await other.leases.heartbeat("w2", now, TTL)
        assert census.keys == 4 and census.eldest == "w2"
        clock.advance(TTL)  # w1 stopped renewing; w2 renews and takes w1's expired leases
        taken = await other.leases.renew_and_claim("w2", clock(), TTL, share=4)
        assert taken == keys
        assert set((await db.leases.holders(clock())).values()) == {"w2"}
        await other.leases.release("w2", [keys[0]])
        assert await db.leases.renew_and_claim("w1", clock(), TTL, share=1) == [keys[0]]
    finally:
        await other.close()


async def test_the_change_feed_is_read_by_id_and_pruned(db: Database, clock: Any) -> None:
    start = await db.feed.last_id()
    await db.feed.append([("activation", 5), ("rental_opened", 6)])
    entries = await db.feed.after(start, 10)
    assert [(e.kind, e.row_id) for e in entries] == [("activation", 5), ("rental_opened", 6)]
    assert await db.feed.after(entries[-1].id, 10) == []
    clock.advance(61)
    assert await db.feed.prune(clock() - 60) == 2


async def test_a_renewal_with_nothing_to_claim_takes_no_place_in_the_writers_queue(
    db: Database, clock: Any
) -> None:
    keys = [(await add_key(db, user_id)).id for user_id in (21, 22, 23)]
    assert await db.leases.renew_and_claim("w1", clock(), TTL, share=3) == keys
    trace = await SqlTrace.start(db)
    clock.advance(TTL / 2)

    assert await db.leases.renew_and_claim("w1", clock(), TTL, share=3) == keys
    # A share beyond the keys there are (workers' shares round up): nothing free, no claim.
    assert await db.leases.renew_and_claim("w1", clock(), TTL, share=5) == keys
    census = await db.leases.heartbeat("w1", clock(), TTL)

    assert census.keys == 3 and census.workers == 1 and census.eldest == "w1"
    assert trace.matching("BEGIN") == []  # side writes and reads only
    # Renewed: still held after the first lease would have expired.
    clock.advance(TTL * 0.75)
    assert await db.leases.holders(clock()) == dict.fromkeys(keys, "w1")
