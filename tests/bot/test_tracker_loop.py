"""The tracker's loop: a wake brings the next pass forward from `tick`, but no closer than
`wake_gap` to the last pass's start, so wakes coming faster than that share passes (each wake
after a pass used to start a pass of its own: 12 a second under load instead of 5)."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace

from bot.tracker import Tracker
from tests.bot.conftest import FAST, MakeTracker
from tests.harness import until

GAP = 0.3


def _count_passes(tracker: Tracker) -> list[float]:
    """The event loop's time at the start of each pass the loop runs."""
    starts: list[float] = []
    run_pass = tracker._pass

    async def counted(*, wait: bool) -> None:
        starts.append(asyncio.get_running_loop().time())
        await run_pass(wait=wait)

    tracker._pass = counted  # type: ignore[method-assign]
    return starts


async def test_a_wake_is_served_before_the_tick_but_not_before_the_gap(
    make_tracker: MakeTracker,
) -> None:
    # A tick of an hour: any pass after the first comes of a wake.
    tracker = make_tracker(config=replace(FAST, tick=3600.0, wake_gap=GAP))
    starts = _count_passes(tracker)
    await tracker.start()
    try:
        await until(lambda: len(starts) == 1)
        for woken in range(2, 5):
            tracker.wake()
            await until(lambda: len(starts) == woken, guard=60.0)  # noqa: B023
    finally:
        await tracker.stop()
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert len(gaps) == 3
    assert all(gap >= GAP for gap in gaps), gaps
