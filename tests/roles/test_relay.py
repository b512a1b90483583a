"""The change relay: what one process's use cases change reaches the tracker in another
through the database (no Redis)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.changes import Change, Changed, ChangeRelay, Changes
from bot.relay import DatabaseRelay
from tests.harness import until


async def test_changes_published_by_one_process_are_delivered_in_another(
    open_db: Callable[[], Any],
) -> None:
    web_db, tracker_db = await open_db(), await open_db()
    sender = DatabaseRelay(web_db.feed)
    receiver = DatabaseRelay(tracker_db.feed, every=0.01)
    got: list[Change] = []
    await receiver.start(got.append)
    web = Changes()
    web.listen(sender.publish)
    web.activation_changed(7)
    web.purchase_unknown(8)
    web.rental_opened(9)
    await until(lambda: len(got) == 3)
    assert got == [
        Change(Changed.ACTIVATION, 7),
        Change(Changed.PENDING, 8),
        Change(Changed.RENTAL_OPENED, 9),
    ]
    await sender.stop()
    await receiver.stop()


async def test_a_received_change_wakes_the_tracker_side_as_a_local_one_would() -> None:
    tracker_side = Changes()
    woken: list[Change] = []
    hurried: list[int] = []
    tracker_side.listen(woken.append)
    tracker_side.listen_rentals_opened(hurried.append)
    tracker_side.deliver(Change(Changed.RENTAL_OPENED, 4))
    tracker_side.deliver(Change(Changed.ACTIVATION, 5))
    assert hurried == [4]  # the rental's polls hurry, as when opened in this process
    assert woken == [Change(Changed.RENTAL_OPENED, 4), Change(Changed.ACTIVATION, 5)]


async def test_a_receiver_starts_from_now_and_old_rows_are_pruned(
    open_db: Callable[[], Any], clock: Any
) -> None:
    db = await open_db()
    relay = DatabaseRelay(db.feed, clock=clock, keep=60.0)
    relay.publish(Change(Changed.ACTIVATION, 1))
    await relay.flush()
    got: list[Change] = []
    await relay.start(got.append)  # a tracker started later: the old change is not replayed
    relay.publish(Change(Changed.ACTIVATION, 2))
    await relay.flush()
    assert await relay.receive(got.append) == 1 and got == [Change(Changed.ACTIVATION, 2)]
    clock.advance(61)
    assert await db.feed.prune(clock() - 60) == 2
    await relay.stop()


async def test_publishing_never_blocks_nor_grows_without_bound(
    open_db: Callable[[], Any],
) -> None:
    from bot.relay import BUFFER_MAX

    db = await open_db()
    relay = DatabaseRelay(db.feed)
    for row_id in range(BUFFER_MAX + 50):  # no await between: the writer cannot run
        relay.publish(Change(Changed.ACTIVATION, row_id))
    got: list[Change] = []
    await relay.start(got.append)
    await relay.stop()  # flushes what is buffered: the newest BUFFER_MAX
    assert await db.feed.last_id() == BUFFER_MAX


def test_the_database_relay_is_a_change_relay(open_db: Any) -> None:
    def accepts(relay: ChangeRelay) -> ChangeRelay:
        return relay

    assert accepts(DatabaseRelay(object()))  # type: ignore[arg-type]


async def test_the_feed_stays_small_when_no_tracker_reads_it(
    open_db: Callable[[], Any], clock: Any
) -> None:
    from bot.relay import PRUNE_EVERY

    db = await open_db()
    relay = DatabaseRelay(db.feed, clock=clock, keep=60.0)
    relay.publish(Change(Changed.ACTIVATION, 1))
    await relay.flush()
    clock.advance(max(PRUNE_EVERY, 60.0) + 1)
    relay.publish(Change(Changed.ACTIVATION, 2))
    await relay.flush()  # what the writer task does after each write
    assert [entry.row_id for entry in await db.feed.after(0, 10)] == [2]
    await relay.stop()
