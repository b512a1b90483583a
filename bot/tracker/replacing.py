"""Auto-replace as the tracker sees it: the `Replacer` port (the use case behind it decides and
buys; the tracker never imports a use case's service) and `Replacing`, which runs its steps
beside the key jobs and tells the chat what they did.

A chain's silent number is cancelled by the activation watcher like any other (its deadline,
from `Replacer.silent_deadlines`, joins the cancel rule in `ActivationTiming`); its end is
handed to `Replacer.number_ended` in a task of its own, so a purchase never holds a key's
pass. At start the chains resume (`Replacer.resume`); a step whose purchase answer was lost
waits for the reconciler (`Replacer.settle`, each pass while some chain waits).

A tracker worker resumes and settles only the chains on keys its share holds, resumes those of
the keys it takes over, and lets a key go once the steps running then have ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Protocol

from bot.tracker.leases import AllKeys, KeyShare
from bot.tracker.outbox import Outbox
from storage.chains import ReplaceEvent
from storage.models import Activation

log = logging.getLogger(__name__)

STEPS_MAX = 256  # replacement tasks alive at once; beyond, an end waits for a free one


class Replacer(Protocol):
    async def silent_deadlines(self, activation_ids: list[int]) -> dict[int, float]: ...
    async def number_ended(self, activation: Activation) -> ReplaceEvent | None: ...
    async def resume(self, holds: Callable[[int], bool]) -> list[ReplaceEvent]: ...
    async def settle(self, holds: Callable[[int], bool]) -> list[ReplaceEvent]: ...
    @property
    def waiting(self) -> bool: ...


class Replacing:
    def __init__(
        self,
        replacer: Replacer | None,
        outbox: Outbox,
        clock: Callable[[], float],
        share: KeyShare | None = None,
    ) -> None:
        self.replacer = replacer
        self._share: KeyShare = share or AllKeys()
        self._outbox = outbox
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._room = asyncio.Semaphore(STEPS_MAX)
        self._settling: asyncio.Task[None] | None = None

    async def deadlines(self, activation_ids: list[int]) -> dict[int, float]:
        if self.replacer is None or not activation_ids:
            return {}
        try:
            return await self.replacer.silent_deadlines(activation_ids)
        except asyncio.CancelledError:
            raise
        except Exception:  # without a deadline the number is only auto-cancelled as usual
            log.exception("tracker: auto-replace deadlines unavailable")
            return {}

    async def ended(self, activation: Activation) -> None:
        """A number ended: its chain (if any) steps in a task of its own."""
        replacer = self.replacer
        if replacer is not None:
            await self._spawn(lambda: replacer.number_ended(activation))

    async def resume(self, key_ids: Collection[int] | None = None) -> None:
        """The chains of the keys held (of `key_ids` among them: keys just taken over) go on
        where they stopped."""
        replacer, holds = self.replacer, self._share.holds
        if replacer is None:
            return
        if key_ids is None:
            await self._spawn(lambda: replacer.resume(holds))
        else:
            gained = frozenset(key_ids)
            await self._spawn(lambda: replacer.resume(lambda key: key in gained and holds(key)))

    def settle_soon(self) -> None:
        """Once per pass: chains waiting for a purchase intent look at it again."""
        replacer = self.replacer
        if replacer is None or not replacer.waiting:
            return
        if self._settling is None or self._settling.done():
            holds = self._share.holds
            self._settling = asyncio.create_task(self._tell_all(lambda: replacer.settle(holds)))

    async def _spawn(
        self,
        work: Callable[[], Awaitable[ReplaceEvent | list[ReplaceEvent] | None]],
    ) -> None:
        await self._room.acquire()
        task = asyncio.create_task(self._tell_all(work))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._room.release()

    async def _tell_all(
        self, work: Callable[[], Awaitable[ReplaceEvent | list[ReplaceEvent] | None]]
    ) -> None:
        try:
            result = await work()
        except asyncio.CancelledError:
            raise
        except Exception:  # the chain stays as stored: a restart resumes it
            log.exception("tracker: auto-replace step failed")
            return
        events = result if isinstance(result, list) else [] if result is None else [result]
        for event in events:
            await self._tell(event)

    async def _tell(self, event: ReplaceEvent) -> None:
        chain, bought = event.chain, event.bought
        if bought is not None:
            await self._outbox.tell(
                bought.user_id,
                bought.key_id,
                lambda to: self._outbox.notifier.activation_adopted(bought, to),
            )
        else:
            await self._outbox.tell(
                chain.user_id,
                chain.key_id,
                lambda to: self._outbox.notifier.replace_stopped(chain, to),
            )

    async def running_now(self) -> None:
        """Wait for the steps running now, not for those started meanwhile (before a key is
        given to another worker: no step of this worker is then in flight on it)."""
        pending = [*self._tasks]
        if self._settling is not None:
            pending.append(self._settling)
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def idle(self) -> None:
        """Wait for the steps running now (tests; a pass never waits for them)."""
        while self._tasks or (self._settling is not None and not self._settling.done()):
            pending = [*self._tasks]
            if self._settling is not None:
                pending.append(self._settling)
            await asyncio.gather(*pending, return_exceptions=True)

    async def stop(self) -> None:
        """Steps cut short keep their chain as stored (reserved, with its intent written or
        not): the next start settles them before anything else is bought."""
        tasks = [*self._tasks]
        if self._settling is not None:
            tasks.append(self._settling)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
