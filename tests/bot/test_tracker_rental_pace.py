"""The rental watcher's pace: every `poll_rental` normally, every `poll_rental_fast` for
`rental_fast_window` after the user rents, opens or extends a rental (issue 15, item 7), told
through the Changes port by the rentals use case."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.changes import Changes
from bot.provider.factory import ProviderFactory
from bot.rentals import RentalService
from bot.tracker import Tracker
from storage import Database
from storage.models import KeyProfile
from tests.bot.conftest import FAST, USER, RecordingNotifier, rent

CONFIG = replace(FAST, poll_rental_fast=3.0, rental_fast_window=180.0)


def _polls(sandbox: Any, provider_id: str, since: int = 0) -> int:
    return sum(
        1
        for record in sandbox.state.requests[since:]
        if record["action"] == "getRentStatus" and record["params"].get("id") == provider_id
    )


async def _next_poll(db: Database, rental_id: int) -> float:
    stored = await db.rentals.get_any(rental_id)
    assert stored is not None
    return stored.next_poll_at


async def _step(tracker: Tracker, clock: Any, seconds: float, step: float) -> None:
    elapsed = 0.0
    while elapsed < seconds:
        clock.advance(step)
        elapsed += step
        await tracker.tick()


async def test_an_opened_rental_is_polled_fast_for_a_while_then_as_usual(
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    changes = Changes()
    tracker = Tracker(tdb, tproviders, notes, CONFIG, clock=clock, changes=changes)
    rentals = RentalService(tdb, tproviders, clock=clock, changes=changes)
    r = await rent(tdb, tproviders, tkey, clock)
    await tracker.tick()
    assert await _next_poll(tdb, r.id) == clock() + CONFIG.poll_rental  # nobody looks

    clock.advance(1)
    await rentals.opened(USER, r.id)  # the user opens the card
    assert await _next_poll(tdb, r.id) <= clock()  # looked at now...
    start = len(sandbox.state.requests)
    await tracker.tick()
    assert _polls(sandbox, r.provider_id, start) == 1
    assert await _next_poll(tdb, r.id) == clock() + CONFIG.poll_rental_fast  # ...then often

    # an SMS during the window shows within one fast interval
    sandbox.state.deliver_rent_sms(r.provider_id, "code 2718")
    await _step(tracker, clock, CONFIG.poll_rental_fast, 1.0)
    assert [sms.text for _r, sms in notes.of("rental_sms")] == ["code 2718"]

    # the window: about window / fast polls, then the usual pace again
    start = len(sandbox.state.requests)
    await _step(tracker, clock, CONFIG.rental_fast_window, 1.0)
    fast = _polls(sandbox, r.provider_id, start)
    assert fast >= CONFIG.rental_fast_window / CONFIG.poll_rental_fast - 2
    start = len(sandbox.state.requests)
    await _step(tracker, clock, 10 * CONFIG.poll_rental, 1.0)
    assert _polls(sandbox, r.provider_id, start) <= 11


async def test_finished_and_unopened_rentals_keep_the_usual_pace(
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    changes = Changes()
    tracker = Tracker(tdb, tproviders, notes, CONFIG, clock=clock, changes=changes)
    rentals = RentalService(tdb, tproviders, clock=clock, changes=changes)
    watched = await rent(tdb, tproviders, tkey, clock)
    other = await rent(tdb, tproviders, tkey, clock)
    await rentals.opened(USER, watched.id)
    await tracker.tick()
    assert await _next_poll(tdb, watched.id) == clock() + CONFIG.poll_rental_fast
    assert await _next_poll(tdb, other.id) == clock() + CONFIG.poll_rental


async def test_the_watched_rentals_are_bounded(
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    changes = Changes()
    config = replace(CONFIG, rental_fast_max=2)
    tracker = Tracker(tdb, tproviders, notes, config, clock=clock, changes=changes)
    rentals = RentalService(tdb, tproviders, clock=clock, changes=changes)
    first, second, third = [await rent(tdb, tproviders, tkey, clock) for _ in range(3)]
    for r in (first, second, third):
        await rentals.opened(USER, r.id)
    await tracker.tick()
    # the oldest was forgotten: it keeps the usual pace; the two latest are watched
    assert await _next_poll(tdb, first.id) == clock() + config.poll_rental
    for r in (second, third):
        assert await _next_poll(tdb, r.id) == clock() + config.poll_rental_fast
