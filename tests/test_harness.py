"""The test harness's own guard: a hang becomes a failure that names what still runs."""

from __future__ import annotations

import asyncio

import pytest

from tests.harness import hang_guard


async def test_a_hang_fails_with_the_stacks_of_what_still_runs() -> None:
    never = asyncio.Event()

    async def stuck_somewhere() -> None:
        await never.wait()

    task = asyncio.create_task(stuck_somewhere(), name="the-stuck-one")
    with pytest.raises(AssertionError) as failed:
        async with hang_guard(guard=0.01):
            await task
    assert "the-stuck-one" in str(failed.value) and "stuck_somewhere" in str(failed.value)
    task.cancel()


async def test_work_that_ends_passes_through() -> None:
    async with hang_guard():
        await asyncio.sleep(0)
