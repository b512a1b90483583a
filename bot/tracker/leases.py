"""Which API keys this tracker polls: every key (one process does all the work), or the keys
whose leases this worker holds (`python -m bot tracker`, several workers on one database).

Leases live in the database (`storage.leases`): a worker renews its own every `renew_every`
seconds and claims free or expired ones up to its share (keys ÷ live workers, rounded up),
giving back what it holds beyond its share so a newcomer gets keys. A lease lasts `ttl`: the
keys of a worker that died are claimed by the others within `ttl + renew_every` seconds. A
worker stops trusting its leases `renew_every` before they expire when it cannot renew them
(a database outage), so two workers never poll one key at once. The eldest live worker also
runs the work only one may do (the watch poller).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

from storage.leases import LeaseRepo

log = logging.getLogger(__name__)

LEASE_TTL = 10.0  # a dead worker's keys are claimed by another within ttl + renew_every
RENEW_EVERY = 2.5


class KeyShare(Protocol):
    """What the tracker asks before polling a key."""

    def holds(self, key_id: int) -> bool: ...


class AllKeys:
    """The all-in-one process polls every key: nobody else polls, so no lease is written."""

    def holds(self, key_id: int) -> bool:
        return True


def worker_name() -> str:
    """Unique per process and readable in the table: host, pid and a random tail."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


async def _nothing(_keys: list[int]) -> None:
    return None


class KeyLeases:
    """This worker's leases: `holds` answers from memory; `renew` (every `renew_every` in
    its own task once started) talks to the database."""

    def __init__(
        self,
        repo: LeaseRepo,
        worker: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        ttl: float = LEASE_TTL,
        renew_every: float = RENEW_EVERY,
    ) -> None:
        if renew_every * 2 >= ttl:
            raise ValueError("leases must be renewed at least twice per ttl")
        self.worker = worker or worker_name()
        self._repo = repo
        self._clock = clock
        self._ttl = ttl
        self._renew_every = renew_every
        self._held: frozenset[int] = frozenset()
        self._trusted_until = float("-inf")
        self.eldest = False
        self._task: asyncio.Task[None] | None = None
        self._releasing: set[int] = set()  # given back, waiting for their jobs to end
        self._giving_back: set[asyncio.Task[None]] = set()
        # Set by the composition: keys gained are polled at once; keys given back wait for
        # their running jobs to end first; the eldest starts and stops the one-worker work.
        self.on_gain: Callable[[list[int]], None] = lambda _keys: None
        self.before_release: Callable[[list[int]], Awaitable[None]] = _nothing
        self.on_eldest: Callable[[bool], Awaitable[None]] | None = None

    def holds(self, key_id: int) -> bool:
        return key_id in self._held and self._clock() < self._trusted_until

    @property
    def held(self) -> frozenset[int]:
        return self._held if self._clock() < self._trusted_until else frozenset()

    async def renew(self) -> None:
        """One round: say this worker lives, give back keys beyond its share, renew the rest
        and claim free or expired ones up to it."""
        now = self._clock()
        census = await self._repo.heartbeat(self.worker, now, self._ttl)
        share = math.ceil(census.keys / census.workers)
        if len(self._held) > share:
            excess = sorted(self._held)[share:]
            self._held = self._held.difference(excess)  # not polled from now on
            self._give_back(excess)
        before = self._held if now < self._trusted_until else frozenset()
        # A key being given back may be released while the renewal reads (its give-back runs
        # in a task of its own): the read still lists it, the set of keys releasing no longer.
        # Only this method adds to that set, so the keys releasing as the read starts are all.
        releasing = frozenset(self._releasing)
        claimed = await self._repo.renew_and_claim(self.worker, now, self._ttl, share)
        held = frozenset(claimed).difference(releasing)
        self._held = held
        self._trusted_until = now + self._ttl - self._renew_every
        gained = sorted(held - before)
        if gained:
            self.on_gain(gained)
        eldest = census.eldest == self.worker
        if eldest != self.eldest:
            self.eldest = eldest
            if self.on_eldest is not None:
                await self.on_eldest(eldest)

    def _give_back(self, key_ids: list[int]) -> None:
        """Release these keys once their running jobs ended, in a task of its own: the
        renewals go on meanwhile (a job may take up to the tracker's key timeout, longer
        than a lease lives), and the keys stay leased, unpolled, until then."""
        self._releasing.update(key_ids)

        async def give_back() -> None:
            try:
                await self.before_release(key_ids)
                await self._repo.release(self.worker, key_ids)
            except asyncio.CancelledError:
                raise
            except Exception:  # they expire by themselves after the ttl
                log.exception("tracker: giving back key leases failed")
            finally:
                self._releasing.difference_update(key_ids)

        task = asyncio.create_task(give_back())
        self._giving_back.add(task)
        task.add_done_callback(self._giving_back.discard)

    async def idle(self) -> None:
        """Wait until the keys being given back are released (tests)."""
        while self._giving_back:
            await asyncio.gather(*self._giving_back, return_exceptions=True)

    async def start(self) -> None:
        """The first round now (the tracker starts with its keys), then one every
        `renew_every` seconds."""
        await self.renew()
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="key-leases")

    async def stop(self, *, release: bool = True) -> None:
        """Stop renewing; give the leases back (another worker takes them at once) unless
        `release` is False (a crash, in tests: they expire after the ttl)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._held = frozenset()
        for giving_back in list(self._giving_back):
            giving_back.cancel()
        await asyncio.gather(*self._giving_back, return_exceptions=True)
        if self.eldest and self.on_eldest is not None:
            self.eldest = False
            await self.on_eldest(False)
        if release:
            await self._repo.release(self.worker)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._renew_every)
            try:
                await self.renew()
            except asyncio.CancelledError:
                raise
            except Exception:  # the next round tries again; meanwhile the leases age
                log.exception("tracker: renewing key leases failed")
