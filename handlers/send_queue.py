"""The send queue: every message the tracker's events put in a chat goes through it, outside the
key jobs, within Telegram's limits.

Telegram lets a bot send about 30 messages a second in all, one a second to one chat and 20 a
minute to one group; beyond them it answers 429 with a `retry_after`. A key job that waited for
Telegram would stall that key's polling (a 429 holds for up to 30 s), so the notifier only
*puts* jobs here and returns; a worker task (started and stopped with the dispatcher) sends them:

- codes and rental SMS first (`Priority.DELIVERY`), then plain notices, then card edits;
- a card's edits are coalesced: one job per (chat, message), replaced in place while it waits,
  so only the newest state of a card is sent;
- a 429 for one chat holds that chat; 429s for several chats at once mean the bot as a whole is
  limited, and hold every chat;
- a call that used its chat's turn without finishing (a card's edit that found the message
  gone) raises `NextTurn`: it goes again on the chat's next turn, never a second message at once;
- a delivery is settled once: `settle(True)` after Telegram took every part (the tracker marks
  it delivered then), `settle(False)` when it was refused (offered again on a later pass);
- bounded: at most `capacity` jobs wait. A full queue makes room for a more important job by
  dropping the newest less important one (card edits first, then notices); a delivery that
  finds no room is refused (`settle(False)`: it stays undelivered in the database, and the
  tracker offers it again), so a code is never lost, only later;
- with several processes (REDIS_URL), each message also takes its share of the budget they
  share (`SharedBudget`, `handlers.redis_limits.RedisSendBudget`) before it goes.

The pacing itself is `SendSchedule`, synchronous and driven by the clock it is given, so the
limits are tested with a fake clock.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Protocol

from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError, TelegramRetryAfter

log = logging.getLogger(__name__)

Call = Callable[[], Awaitable[bool]]  # one Telegram request; True when it did what it should
Settle = Callable[[bool], Awaitable[None]]
OnBlocked = Callable[[int], Awaitable[None]]  # the user (id) blocked the bot


class SharedBudget(Protocol):
    """Telegram's send budget shared by the bot's processes (`handlers.redis_limits`): take
    the chat's next message's share of it, 0 when taken, else the seconds until it may be (then
    nothing was taken). Never raises (0 when it cannot say: this process's pace decides)."""

    async def take(self, chat_id: int) -> float: ...


CAPACITY = 10_000  # jobs waiting at most (a job is a few hundred bytes plus its text)
IN_FLIGHT = 8  # Telegram requests at once (the global pace is what limits the rate)
GLOBAL_SIGNAL = 3  # 429s for this many different chats within RETRY_WINDOW: the bot is limited
RETRY_WINDOW = 1.0
STOP_GRACE = 10.0  # seconds the requests on their way get to finish at shutdown


class Priority(IntEnum):
    DELIVERY = 0  # a code or a rental SMS: never dropped
    NOTICE = 1  # a message of its own (ended, refunded, reminder, outcome)
    CARD = 2  # a card edit: only the newest state matters, may be dropped when full


@dataclass(frozen=True, slots=True)
class SendLimits:
    """Telegram's limits for one bot, with a margin; 0 turns a pace off (tests that are not
    about pacing). The margin: two messages sent exactly one interval apart may arrive closer
    together (the first delayed on its way), and Telegram counts arrivals: each 429 costs its
    chat at least a whole second, and several at once pause the whole queue (GLOBAL_SIGNAL).
    Measured with the fake Bot API's exact limits, the exact pace met 48-70 429s a minute."""

    per_second: float = 28.0  # messages a second, all chats together (Telegram: about 30)
    chat_interval: float = 1.1  # seconds between two messages to one private chat (1)
    group_interval: float = 3.2  # ... to one group (20 a minute: 3)

    def interval(self, chat_id: int) -> float:
        return self.group_interval if chat_id < 0 else self.chat_interval


TELEGRAM_LIMITS = SendLimits()
UNPACED = SendLimits(per_second=0.0, chat_interval=0.0, group_interval=0.0)


class NextTurn(Exception):
    """Raised by a call whose request used its chat's turn without doing the job (a card's edit
    that found the message gone): the job goes again at the head of its chat's line on the
    chat's next turn. The call must have changed what it does next (send instead of edit):
    two messages to one chat at once would be refused, and the refused one's retry would
    repeat the first."""


class Put(StrEnum):
    QUEUED = "queued"
    ALREADY = "already"  # the same job waits or is being sent: not queued twice
    REFUSED = "refused"  # full, and nothing less important to drop


@dataclass(eq=False, slots=True)
class Job:
    """Messages for one chat, sent in order one per turn of the chat (a long SMS is several)."""

    user_id: int
    chat_id: int
    key: Hashable
    priority: Priority
    calls: list[Call]
    settle: Settle | None = None
    seq: int = 0
    done: int = 0  # calls Telegram took so far
    dropped: bool = False
    in_flight: bool = False
    newer: list[Call] | None = None  # a card's newer state that came while this one was sent


@dataclass(eq=False, slots=True)
class _Chat:
    ready_at: float = float("-inf")
    busy: bool = False  # a request to this chat is on its way: the next waits for its answer
    lines: tuple[deque[Job], deque[Job], deque[Job]] = field(
        default_factory=lambda: (deque(), deque(), deque())
    )
    entry: tuple[float, int, int] | None = None  # its one valid entry in a heap

    def head(self) -> Job | None:
        for line in self.lines:
            while line and line[0].dropped:
                line.popleft()
            if line:
                return line[0]
        return None


class SendSchedule:
    """Which job may go now: the most important, oldest job of a chat whose pace allows it,
    within the bot's pace. Synchronous; `now` comes from the caller's clock."""

    def __init__(self, limits: SendLimits = TELEGRAM_LIMITS, capacity: int = CAPACITY) -> None:
        self.limits = limits
        self.capacity = capacity
        self._jobs: dict[Hashable, Job] = {}
        # Waiting jobs by priority, oldest first: the newest of the least important is dropped.
        self._waiting: tuple[OrderedDict[Hashable, Job], ...] = tuple(
            OrderedDict() for _ in Priority
        )
        self._chats: dict[int, _Chat] = {}
        self._ready: list[tuple[float, int, int]] = []  # (priority, seq, chat)
        self._held: list[tuple[float, int, int]] = []  # (ready at, 0, chat)
        self._seq = 0
        self._next_any = float("-inf")  # the bot's pace
        self._all_held_until = float("-inf")  # a 429 for the whole bot
        self._recent_429: deque[tuple[float, int]] = deque(maxlen=GLOBAL_SIGNAL * 4)

    def __len__(self) -> int:
        return len(self._jobs)

    def holds(self, key: Hashable) -> bool:
        return key in self._jobs

    # ------------------------------------------------------------------ in

    def put(self, job: Job, now: float) -> tuple[Put, Job | None]:
        """Queue `job`; returns what happened and the job dropped to make room, if any."""
        known = self._jobs.get(job.key)
        if known is not None:
            if known.priority is not Priority.CARD:
                return Put.ALREADY, None
            # A card: its newest state replaces the one waiting (in place, same turn).
            if known.in_flight:
                known.newer = job.calls
            else:
                known.calls, known.done = job.calls, 0
            return Put.QUEUED, None
        dropped: Job | None = None
        if len(self._jobs) >= self.capacity:
            dropped = self._drop_one_below(job.priority)
            if dropped is None:
                return Put.REFUSED, None
        self._seq += 1
        job.seq = self._seq
        self._jobs[job.key] = job
        self._waiting[job.priority][job.key] = job
        chat = self._chats.setdefault(job.chat_id, _Chat())
        chat.lines[job.priority].append(job)
        self._enter(chat, job.chat_id, now)
        return Put.QUEUED, dropped

    def _drop_one_below(self, priority: Priority) -> Job | None:
        for level in reversed(Priority):
            if level <= priority:
                return None
            waiting = self._waiting[level]
            if waiting:
                _key, victim = waiting.popitem(last=True)
                self._forget(victim)
                return victim
        return None

    def purge(self, chat_id: int) -> list[Job]:
        """Drop every job waiting for `chat_id` (the bot was blocked there); returns them."""
        chat = self._chats.get(chat_id)
        if chat is None:
            return []
        purged = [job for line in chat.lines for job in line if not job.dropped]
        for job in purged:
            self._waiting[job.priority].pop(job.key, None)
            self._forget(job)
        return purged

    def _forget(self, job: Job) -> None:
        job.dropped = True
        if self._jobs.get(job.key) is job:
            del self._jobs[job.key]

    # ------------------------------------------------------------------ out

    def take(self, now: float) -> tuple[Job | None, float | None]:
        """The job to send now, or (None, when something may go next; None: nothing waits)."""
        not_before = max(self._next_any, self._all_held_until)
        if now < not_before:
            return None, not_before if self._jobs else None
        while self._held and self._held[0][0] <= now:
            entry = heapq.heappop(self._held)
            chat = self._chats.get(entry[2])
            if chat is not None and chat.entry is entry:
                chat.entry = None
                self._enter(chat, entry[2], now)
        while self._ready:
            entry = heapq.heappop(self._ready)
            chat_id = entry[2]
            chat = self._chats.get(chat_id)
            if chat is None or chat.entry is not entry:
                continue
            chat.entry = None
            job = chat.head()
            if job is None:
                self._chats.pop(chat_id, None)
                continue
            if (job.priority, job.seq) != (entry[0], entry[1]):
                self._enter(chat, chat_id, now)  # its head changed: queue it as it is now
                continue
            chat.lines[job.priority].popleft()
            self._waiting[job.priority].pop(job.key, None)
            job.in_flight = True
            chat.busy = True
            chat.ready_at = now + self.limits.interval(chat_id)
            if self.limits.per_second > 0:
                self._next_any = now + 1.0 / self.limits.per_second
            return job, None
        if self._held and self._jobs:
            return None, max(self._held[0][0], not_before)
        return None, None

    def finished(self, job: Job, taken: bool, now: float) -> bool:
        """The request for `job` came back. True when the job is over (every call taken, or
        one refused): its settle is due. A card with a newer state goes again."""
        job.in_flight = False
        chat = self._chats.setdefault(job.chat_id, _Chat())
        chat.busy = False
        over = False
        if job.newer is not None:
            job.calls, job.done, job.newer = job.newer, 0, None
            self._back(job, chat)
        elif not taken:
            over = True
        else:
            job.done += 1
            over = job.done >= len(job.calls)
            if not over:
                self._back(job, chat)
        if over and self._jobs.get(job.key) is job:
            del self._jobs[job.key]
        self._enter(chat, job.chat_id, now)
        return over

    def again(self, job: Job, now: float) -> None:
        """The call for `job` used its chat's turn and must go again (`NextTurn`): at the head
        of the chat's line, on the chat's next turn (its pace was set when it was taken)."""
        job.in_flight = False
        chat = self._chats.setdefault(job.chat_id, _Chat())
        chat.busy = False
        if job.newer is not None:
            job.calls, job.done, job.newer = job.newer, 0, None
        self._back(job, chat)
        self._enter(chat, job.chat_id, now)

    def retry_after(self, job: Job, seconds: float, now: float) -> None:
        """Telegram said 429 for `job`: the same request goes again after `seconds`; the chat
        waits, and every chat waits when several were refused at once."""
        chat = self._chats.setdefault(job.chat_id, _Chat())
        chat.ready_at = max(chat.ready_at, now + seconds)
        self._recent_429.append((now, job.chat_id))
        chats = {c for at, c in self._recent_429 if at > now - RETRY_WINDOW}
        if len(chats) >= GLOBAL_SIGNAL:
            self._all_held_until = max(self._all_held_until, now + seconds)
        self.again(job, now)

    def _back(self, job: Job, chat: _Chat) -> None:
        """At the head of its chat's line, keeping its turn."""
        if job.dropped:
            return
        chat.lines[job.priority].appendleft(job)
        self._waiting[job.priority][job.key] = job

    def _enter(self, chat: _Chat, chat_id: int, now: float) -> None:
        """Give an idle chat its entry: ready now, or held until its pace allows."""
        if chat.busy:
            return
        job = chat.head()
        if chat.ready_at <= now:
            if job is None:
                self._chats.pop(chat_id, None)  # nothing waits and its pace allows: forget it
                return
            entry = (float(job.priority), job.seq, chat_id)
            if chat.entry == entry:
                return
            chat.entry = entry
            heapq.heappush(self._ready, entry)
        else:
            # Held until its pace allows, even with nothing waiting: then it is forgotten.
            if chat.entry is not None and chat.entry[0] == chat.ready_at and chat.entry[1] == 0:
                return
            entry = (chat.ready_at, 0, chat_id)
            chat.entry = entry
            heapq.heappush(self._held, entry)
        self._tidy()

    def _tidy(self) -> None:
        """Stale heap entries are skipped when met; rebuild when they outnumber live ones."""
        limit = 4 * (len(self._chats) + 16)
        if len(self._ready) + len(self._held) <= limit:
            return
        self._ready = [e for e in self._ready if self._live(e)]
        self._held = [e for e in self._held if self._live(e)]
        heapq.heapify(self._ready)
        heapq.heapify(self._held)

    def _live(self, entry: tuple[float, int, int]) -> bool:
        chat = self._chats.get(entry[2])
        return chat is not None and chat.entry is entry


class SendQueue:
    """The worker around `SendSchedule`: sends, honours 429s, settles deliveries."""

    def __init__(
        self,
        on_blocked: OnBlocked,
        *,
        limits: SendLimits = TELEGRAM_LIMITS,
        capacity: int = CAPACITY,
        in_flight: int = IN_FLIGHT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_depth: Callable[[int], None] | None = None,
        on_drop: Callable[[], None] | None = None,
        budget: SharedBudget | None = None,
    ) -> None:
        self.schedule = SendSchedule(limits, capacity)
        # With several processes (REDIS_URL), every message also waits its turn in the budget
        # they share; the schedule above still orders and paces this process's own queue.
        self._budget = budget
        self._on_blocked = on_blocked
        self._clock = clock
        self._sleep = sleep
        self._on_depth = on_depth  # the metrics' gauge and counter, when given
        self._on_drop = on_drop
        self._slots = asyncio.Semaphore(in_flight)
        self._sending: set[asyncio.Task[None]] = set()
        self._wakeup = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self.dropped = 0  # jobs dropped because the queue was full (cards, notices)
        self.refused = 0  # deliveries refused because it was full (offered again later)

    # ------------------------------------------------------------------ life

    async def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._pump(until_idle=False))

    async def stop(self) -> None:
        """Stop sending; requests on their way get STOP_GRACE to finish. What waits is left:
        codes and SMS stay undelivered in the database and are offered again after the
        restart (a card edit waiting is lost: the next change draws the card again)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        if self._sending:
            _done, late = await asyncio.wait(set(self._sending), timeout=STOP_GRACE)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def drain(self) -> None:
        """Send everything waiting now and return when nothing is left (tests; the running
        worker does the sending when there is one)."""
        if self._worker is None:
            await self._pump(until_idle=True)
            return
        while len(self.schedule) or self._sending:
            self._wakeup.clear()
            await self._wakeup.wait()

    # ------------------------------------------------------------------ in

    def holds(self, key: Hashable) -> bool:
        return self.schedule.holds(key)

    async def put(self, job: Job) -> Put:
        outcome, dropped = self.schedule.put(job, self._clock())
        if dropped is not None:
            self._count_drop()
            log.warning("send queue full: a %s was dropped", dropped.priority.name.lower())
        if outcome is Put.REFUSED:
            if job.settle is not None:
                self.refused += 1
                await self._settle(job.settle, False)
            else:
                self._count_drop()
            log.warning("send queue full: a %s was not queued", job.priority.name.lower())
        self._depth()
        self._wakeup.set()
        return outcome

    # ------------------------------------------------------------------ out

    async def _pump(self, *, until_idle: bool) -> None:
        while True:
            job, at = self.schedule.take(self._clock())
            if job is not None:
                await self._slots.acquire()
                task = asyncio.create_task(self._send(job))
                self._sending.add(task)
                task.add_done_callback(self._sent)
                continue
            if until_idle and at is None and not self._sending:
                return
            self._wakeup.clear()
            if at is None:
                await self._wakeup.wait()
            else:
                await self._nap(at - self._clock())

    async def _nap(self, seconds: float) -> None:
        """Sleep until the next job may go, or until a new one (or an answer) arrives."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        woken = asyncio.ensure_future(self._wakeup.wait())
        slept = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.wait({woken, slept}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
            slept.cancel()

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        self._slots.release()
        self._wakeup.set()

    async def _send(self, job: Job) -> None:
        call = job.calls[job.done]
        try:
            if self._budget is not None:
                while (wait := await self._budget.take(job.chat_id)) > 0:
                    await self._sleep(wait)
            taken = await call()
        except NextTurn:
            self.schedule.again(job, self._clock())
            return
        except TelegramRetryAfter as error:
            self.schedule.retry_after(job, float(error.retry_after), self._clock())
            return
        except TelegramForbiddenError:
            await self._blocked(job)
            taken = False
        except TelegramAPIError as error:
            log.warning("send queue: Telegram refused a message: %s", type(error).__name__)
            taken = False
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("send queue: a message failed")
            taken = False
        if self.schedule.finished(job, taken, self._clock()) and job.settle is not None:
            await self._settle(job.settle, taken)
        self._depth()

    async def _blocked(self, job: Job) -> None:
        """The user blocked the bot: what waits for that chat would be refused too."""
        log.info("send queue: user %s blocked the bot; their numbers stay tracked", job.user_id)
        for purged in self.schedule.purge(job.chat_id):
            if purged.settle is not None:
                await self._settle(purged.settle, False)
        try:
            await self._on_blocked(job.user_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("send queue: could not record a blocked user")

    async def _settle(self, settle: Settle, taken: bool) -> None:
        try:
            await settle(taken)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("send queue: settling a delivery failed")

    def _count_drop(self) -> None:
        self.dropped += 1
        if self._on_drop is not None:
            self._on_drop()

    def _depth(self) -> None:
        if self._on_depth is not None:
            self._on_depth(len(self.schedule))
