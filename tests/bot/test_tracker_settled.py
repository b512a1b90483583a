"""A number that awaits nothing (its code came and was delivered) is looked at every
`poll_settled` seconds and at its end, not every `poll_slow`: the provider has nothing more to
tell of it until then, and a naive poller stops asking once the code came."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.provider.factory import ProviderFactory
from bot.tracker import Tracker
from storage import Database
from storage.models import KeyProfile
from tests.bot.conftest import FAST, MakeTracker, RecordingNotifier, actions, buy


async def _ticks(tracker: Tracker, clock: Any, seconds: float) -> None:
    """Passes every poll_slow seconds for `seconds`."""
    for _ in range(int(seconds // FAST.poll_slow)):
        clock.advance(FAST.poll_slow)
        await tracker.tick()


async def test_a_delivered_code_s_number_is_asked_every_poll_settled_and_at_its_end(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    settled = 500.0
    tracker = make_tracker(config=replace(FAST, poll_settled=settled))
    number = await buy(tdb, tproviders, tkey, clock)
    sandbox.state.deliver_sms(number.provider_id, "code 424242")
    await tracker.tick()
    assert notes.codes() == ["424242"]
    coded_at = clock()
    asked_at: list[float] = []
    while clock() < number.ends_at + FAST.expiry_grace + FAST.poll_slow:
        start = len(sandbox.state.requests)
        clock.advance(FAST.poll_slow)
        await tracker.tick()
        asked_at += [clock() - coded_at for _ in actions(sandbox, start)]
    # Every poll_settled, then at its end (the sandbox's numbers live 1,200 s) and once the
    # grace for a late SMS is over, when it has ended; then no more.
    ends_in = number.ends_at - coded_at
    assert asked_at == [settled, 2 * settled, ends_in, ends_in + FAST.expiry_grace]
    stored = await tdb.activations.get_any(number.id)
    assert stored is not None and not stored.live and stored.codes[0].delivered


async def test_a_key_with_a_number_still_awaiting_its_code_is_listed_every_poll_slow(
    make_tracker: MakeTracker,
    tdb: Database,
    tproviders: ProviderFactory,
    tkey: KeyProfile,
    sandbox: Any,
    sandbox_key: str,
    clock: Any,
    notes: RecordingNotifier,
) -> None:
    sandbox.state.set_balance(sandbox_key, "1000")
    coded = await buy(tdb, tproviders, tkey, clock)
    await buy(tdb, tproviders, tkey, clock)
    sandbox.state.deliver_sms(coded.provider_id, "code 515151")
    tracker = make_tracker()
    await tracker.tick()
    assert notes.codes() == ["515151"]
    clock.advance(FAST.fast_window)  # the other number leaves its fast window
    await tracker.tick()
    start = len(sandbox.state.requests)
    await _ticks(tracker, clock, 3 * FAST.poll_slow)
    # One listing covers both numbers: the key goes at the pace of the one awaiting its code.
    assert actions(sandbox, start) == ["getActiveActivations"] * 3
