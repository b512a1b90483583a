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

The load (`benchmarks.load_model`): NUMBERS live numbers on KEYS keys (one user per key), bought
at times spread over their 20-minute life; their SMS arrive as in life (most within 2 minutes
of the purchase, some later, some never); numbers keep being bought at the steady-state rate
(NUMBERS / 1200 per second: one a second through the handlers, the rest through the same use
case, `OrderService.buy`), and each new one gets its SMS the same way. Meanwhile about 100
handler updates a second (page taps, card taps, a purchase) are fed to the same dispatcher.
Handler updates answer through a recording session: what is timed is the bot's own work, not
a Telegram round trip; the tracker's messages go over HTTP to the fake Bot API.

Code latency runs from the SMS at the provider to the sendMessage carrying the code accepted
by the Bot API, split by the number's age at the SMS (fast window: younger than 120 s). A code
not delivered by the end of the run counts as infinitely late: it is never dropped from a
percentile. The naive baseline (`benchmarks.tracker.NaivePoller`, one getStatus per number
every 5 s, at most as many requests in flight as the tracker) polls the same numbers with the
same SMS plan, without Telegram: its requests/s and latency are the yardstick.
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
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.common import cpu_seconds, log_progress, percentile, say, write_results
from benchmarks.load_model import LIFETIME, CodeDelays, code_for
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


@dataclass(slots=True)
class LoadSpec:
    numbers: int
    keys: int
    mode: str = "bot"  # "bot" (the real thing) or "naive" (the baseline poller)
    duration: float = 60.0  # the measured window
    warmup: float = 10.0
    drain: float | None = None  # after the window, for the last codes (POLL_SLOW + 10 s)
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
    census: bool = False  # print where the tasks wait, mid-window (stderr of the worker)
    # The tracker in its own process (`python -m bot tracker` on the same SQLite file), the
    # worker holding the web role (dispatcher + use cases, changes relayed through the feed).
    split: bool = False

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
    def drain_seconds(self) -> float:
        return self.drain if self.drain is not None else self.poll_slow + 10.0


# ---------------------------------------------------------------------- neighbour processes


@contextlib.contextmanager
def neighbour(command: list[str]) -> Iterator[str]:
    """A helper process that prints "READY <url>"; stopped (SIGTERM, then kill) on the way out."""
    proc = subprocess.Popen([sys.executable, "-m", *command], stdout=subprocess.PIPE, text=True)
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


def sms_plan(
    seeded: Seeded, spec: LoadSpec, seeded_at: float, t0: float, t_end: float
) -> list[list[Any]]:
    """[provider id, wall time] of each seeded number's SMS that falls inside the run. With
    --quick every number gets one inside the short window (else almost none would)."""
    rng = random.Random(spec.seed + 1)
    delays = CodeDelays()
    plan: list[list[Any]] = []
    for _index, _key, provider_id, _phone, age in seeded.numbers():
        if spec.quick:
            plan.append([provider_id, rng.uniform(t0, t_end)])
            continue
        delay = delays.draw(rng)
        if delay is None:
            continue
        at = seeded_at - age + delay
        if seeded_at < at <= t_end:
            plan.append([provider_id, at])
    return plan


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
            driver, screen, ids = self.drivers[n % len(self.drivers)]
            if n % purchase_every == purchase_every - 1:
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

    async def _feed(self, driver: Any, screen: Any, data: str) -> None:
        await self.dp.feed_update(self.bot, driver.make_callback_update(data, screen))

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
        while not stop.is_set():
            if len(alive) < 100:
                task = asyncio.create_task(buy(rng.choice(users)))
                alive.add(task)
                task.add_done_callback(alive.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), rng.expovariate(rate))
    counts["unfinished"] = len(alive)
    for task in alive:
        task.cancel()
    await asyncio.gather(*alive, return_exceptions=True)
    return counts


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


def task_census() -> list[tuple[int, str]]:
    """Where the live tasks wait, innermost frame first: (tasks, place), most first. A
    queue shows as many tasks waiting at one line (diagnostics: `--census`)."""
    places: dict[str, int] = {}
    for task in asyncio.all_tasks():
        frames = awaited_frames(task.get_coro())
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
    return sorted(((n, place) for place, n in places.items()), reverse=True)


async def census_at(at: float, stop: asyncio.Event) -> None:
    """Print the task census to stderr at wall time `at` (mid-window)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(0.0, at - time.time()))
    for n, place in task_census()[:25]:
        print(f"census {n:5d} {place}", file=sys.stderr, flush=True)


async def sample_rss(samples: Samples, stop: asyncio.Event) -> None:
    import psutil

    process = psutil.Process()
    while not stop.is_set():
        samples.rss_mb.append(process.memory_info().rss / 2**20)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def seed_database(
    services: Any, seeded: Seeded, base_url: str, now: float, spec: LoadSpec
) -> tuple[list[int], dict[int, list[int]]]:
    """Users, keys and live numbers as purchases would have left them; (user ids, user id ->
    activation ids)."""
    rng = random.Random(spec.seed + 4)
    db = services.db
    users: list[int] = []
    owned: dict[int, list[int]] = {}
    key_ids: dict[int, int] = {}
    for index, entry in enumerate(seeded.keys):
        user_id = 100_000 + index
        await db.users.get_or_create(user_id, "en")
        key = await db.keys.add(user_id, label=f"k{index}", base_url=base_url, api_key=entry["key"])
        key_ids[index] = key.id
        users.append(user_id)
    for index, _api_key, provider_id, phone, age in seeded.numbers():
        user_id = users[index]
        created = now - age
        fast = age < FAST_WINDOW
        interval = float(spec.settings.get("poll_fast", 2.5)) if fast else spec.poll_slow
        activation = await db.activations.add(
            user_id=user_id,
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
            chat_id=user_id,
            next_poll_at=now + rng.uniform(0, interval),
        )
        owned.setdefault(user_id, []).append(activation.id)
    return users, owned


@contextlib.contextmanager
def tracker_process(settings: Any, spec: LoadSpec) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m bot tracker` on the worker's database and neighbours (the split run)."""
    import os

    env = {
        **os.environ,
        "BOT_TOKEN": settings.bot_token,
        "TELEGRAM_API_URL": settings.telegram_api_url,
        "DATABASE_PATH": str(settings.database_path),
        "SECRET_KEY": str(settings.secret_key),
        "SANDBOX": "true",
        "SANDBOX_URL": str(settings.sandbox_url),
        "PROVIDER_TIMEOUT": "15",
        "LOG_LEVEL": "WARNING",
        "HEALTH_PORT": str(free_port()),  # a worker always serves /healthz: never a fixed port
        **{name.upper(): str(value) for name, value in spec.settings.items()},
    }
    proc = subprocess.Popen([sys.executable, "-m", "bot", "tracker"], env=env)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def process_cpu_seconds(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def sample_process_rss(pid: int, peak: list[float], stop: asyncio.Event) -> None:
    import psutil

    process = psutil.Process(pid)
    while not stop.is_set():
        with contextlib.suppress(psutil.Error):
            peak[0] = max(peak[0], process.memory_info().rss / 2**20)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def run_bot(spec: LoadSpec) -> dict[str, Any]:
    from aiogram import Bot
    from aiogram.client.default import DefaultBotProperties
    from aiogram.enums import ParseMode
    from cryptography.fernet import Fernet

    from bot.app import build_bot, build_dispatcher, build_services
    from bot.config import load_settings
    from bot.main import freeze_startup_heap
    from bot.relay import DatabaseRelay
    from sandbox.state import SandboxState
    from tests.harness import RecordingSession

    tmp = tempfile.TemporaryDirectory(prefix="bench-load-")
    telegram_cmd = [
        "benchmarks.telegram_proc", "--token", TOKEN,
        "--latency", str(spec.telegram_latency),
        "--per-bot", str(spec.telegram_per_bot), "--per-chat", str(spec.telegram_per_chat),
    ]  # fmt: skip
    samples = Samples()
    with (
        neighbour(["benchmarks.sandbox_proc", "--port", "0"]) as sandbox,
        neighbour(telegram_cmd) as telegram,
        contextlib.ExitStack() as stack,
    ):
        http = aiohttp.ClientSession()
        setup_started = time.time()
        seeded = await populate(http, sandbox, spec)
        base_url = f"{sandbox}/stubs/handler_api.php"
        settings = load_settings(
            bot_token=TOKEN,
            database_path=Path(tmp.name) / "bot.db",
            secret_key=Fernet.generate_key().decode(),
            telegram_api_url=telegram,
            sandbox=True,  # the provider lives on 127.0.0.1: loopback allowed, as in sandbox mode
            sandbox_url=base_url,
            provider_timeout=15,
            **spec.settings,
        )
        services = await build_services(settings)
        seeded_at = time.time()
        users, owned = await seed_database(services, seeded, base_url, seeded_at, spec)
        setup_seconds = time.time() - setup_started
        bot = build_bot(settings)
        tracker_proc: subprocess.Popen[bytes] | None = None
        tracker_rss = [0.0]
        if spec.split:
            relay = DatabaseRelay(services.db.feed)
            services.changes.listen(relay.publish)
            tracker_proc = stack.enter_context(tracker_process(settings, spec))
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
        background_rate = max(0.0, spec.numbers / LIFETIME - spec.handler_purchases_per_s)
        drivers = [
            asyncio.create_task(handlers.run(stop)),
            asyncio.create_task(
                background_purchases(services, users, background_rate, stop, spec.seed)
            ),
            asyncio.create_task(sample_rss(samples, stop)),
        ]
        if tracker_proc is not None:
            drivers.append(
                asyncio.create_task(sample_process_rss(tracker_proc.pid, tracker_rss, stop))
            )
        if spec.census:
            drivers.append(asyncio.create_task(census_at(t0 + spec.duration / 2, stop)))
        try:
            await asyncio.sleep(max(0.0, t0 - time.time()))
            cpu0 = cpu_seconds()
            tracker_cpu0 = process_cpu_seconds(tracker_proc.pid) if tracker_proc else 0.0
            before = await get(http, f"{sandbox}/bench/stats")
            await asyncio.sleep(max(0.0, t_end - time.time()))
            cpu = cpu_seconds() - cpu0
            tracker_cpu = (
                process_cpu_seconds(tracker_proc.pid) - tracker_cpu0 if tracker_proc else 0.0
            )
            elapsed = time.time() - t0
            after = await get(http, f"{sandbox}/bench/stats")
            stop.set()
            results = await asyncio.gather(*drivers)
            bought = results[1]
            if tracker_proc is not None and tracker_proc.poll() is not None:
                raise RuntimeError(f"the tracker process exited ({tracker_proc.returncode})")
            # The last codes: the tracker keeps running, the load has stopped.
            await asyncio.sleep(spec.drain_seconds)
            final = await get(http, f"{sandbox}/bench/stats")
            telegram_stats = (await get(http, f"{telegram}/bot{TOKEN}/benchStats"))["result"]
        finally:
            stop.set()
            for task in drivers:
                task.cancel()
            await dp.emit_shutdown(bot=bot)
            gc.unfreeze()
            await bot.session.close()
            await services.close()
            await http.close()
            tmp.cleanup()

    accepted: dict[str, float] = telegram_stats["code_at"]
    codes = code_latencies(
        final, t0, t_end, lambda pid: accepted.get(code_for(pid)), tapping_keys(seeded)
    )
    requests = after["total"] - before["total"]
    return {
        "shape": spec.shape,
        "mode": "bot",
        "numbers": spec.per_key * spec.keys,
        "keys": spec.keys,
        "window_s": round(elapsed, 1),
        "setup_s": round(setup_seconds, 1),
        **code_figures(codes),
        "provider_req_per_s": round(requests / elapsed, 1),
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
        # The split run: the tracker process's own (the figures above are the web role's).
        "tracker_cpu_pct": round(100 * tracker_cpu / elapsed, 1) if spec.split else None,
        "tracker_rss_peak_mb": round(tracker_rss[0], 1) if spec.split else None,
        "series": {
            "codes": [[round(at - t0, 3), lat, fast] for at, lat, fast in codes],
            "handlers": [[round(at - t0, 3), round(s * 1000, 2)] for at, s in samples.local],
        },
    }


# ---------------------------------------------------------------------- the naive baseline


async def run_naive(spec: LoadSpec) -> dict[str, Any]:
    from benchmarks.tracker import NaivePoller, RecordingNotifier
    from bot.provider.factory import ProviderFactory
    from bot.provider.guard import AddressPolicy
    from bot.tracker import TrackerConfig

    with neighbour(["benchmarks.sandbox_proc", "--port", "0"]) as sandbox:
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
            for _index, api_key, provider_id, _phone, _age in seeded.numbers():
                by_key.setdefault(api_key, []).append(provider_id)
            poller.start(f"{sandbox}/stubs/handler_api.php", by_key)
            await asyncio.sleep(max(0.0, t0 - time.time()))
            before = await get(http, f"{sandbox}/bench/stats")
            await asyncio.sleep(max(0.0, t_end - time.time()))
            elapsed = time.time() - t0
            after = await get(http, f"{sandbox}/bench/stats")
            await asyncio.sleep(spec.drain_seconds)
            final = await get(http, f"{sandbox}/bench/stats")
        finally:
            await poller.stop()
            await providers.close()
            await http.close()
    codes = code_latencies(final, t0, t_end, notifier.code_at.get, tapping_keys(seeded))
    return {
        "shape": spec.shape,
        "mode": "naive",
        "provider_req_per_s": round((after["total"] - before["total"]) / elapsed, 1),
        **code_figures(codes),
    }


# ---------------------------------------------------------------------- figures


def code_latencies(
    stats: dict[str, Any],
    t0: float,
    t_end: float,
    seen_at: Callable[[str], float | None],
    tapping: set[str],
) -> list[tuple[float, float | None, bool]]:
    """(SMS time, latency or None = missed, fast window?) of every SMS inside the window, but
    those to the tapping users' keys."""
    rows = []
    for provider_id, at in stats["sms_at"].items():
        if not t0 <= at <= t_end or stats["sms_key"].get(provider_id) in tapping:
            continue
        seen = seen_at(provider_id)
        age = stats["sms_age"].get(provider_id, 0.0)
        rows.append((at, None if seen is None else max(0.0, seen - at), age < FAST_WINDOW))
    return sorted(rows)


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


def handler_figures(samples: Samples, t0: float, t_end: float) -> dict[str, float | None]:
    local = [s for at, s in samples.local if t0 <= at <= t_end]
    provider = [s for at, s in samples.provider if t0 <= at <= t_end]

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)

    return {
        "handler_p50_ms": ms(percentile(local, 50)),
        "handler_p95_ms": ms(percentile(local, 95)),
        "handler_p99_ms": ms(percentile(local, 99)),
        "handler_max_ms": ms(max(local, default=None)),
        "handler_provider_p95_ms": ms(percentile(provider, 95)),
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
        "| slow p50 / p95 / p99 s | handler updates/s, p95 / p99 / max ms | provider req/s "
        "| naive req/s | naive fast p95 s / missed | Telegram 429s | CPU % of a core | RSS MB |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        naive = r.get("naive") or {}
        lines.append(
            f"| {r['shape']} | {r['codes']} ({r['codes_fast']}/{r['codes_slow']}) | {r['missed']} "
            f"| {_s(r['fast_p50_s'])} / {_s(r['fast_p95_s'])} / {_s(r['fast_p99_s'])} "
            f"| {_s(r['slow_p50_s'])} / {_s(r['slow_p95_s'])} / {_s(r['slow_p99_s'])} "
            f"| {r['handler_updates_per_s']}, {_ms(r['handler_p95_ms'])} "
            f"/ {_ms(r['handler_p99_ms'])} / {_ms(r['handler_max_ms'])} "
            f"| {r['provider_req_per_s']} | {naive.get('provider_req_per_s', '-')} "
            f"| {_s(naive.get('fast_p95_s'))} / {naive.get('missed', '-')} "
            f"| {r['telegram_429']} | {_per_process(r, 'cpu_pct', 'tracker_cpu_pct')} "
            f"| {_per_process(r, 'rss_peak_mb', 'tracker_rss_peak_mb')} |"
        )
    return "\n".join(lines)


def _per_process(row: dict[str, Any], bot: str, tracker: str) -> str:
    """One figure, or "web + tracker" for a split run."""
    if row.get("split"):
        return f"{row[bot]} web + {row[tracker]} tracker"
    return str(row[bot])


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
        codes_ax.set_title(f"{row['shape']}: code latency (SMS → sendMessage accepted)")
        codes_ax.set_xlabel("seconds into the window")
        codes_ax.set_ylabel("seconds")
        codes_ax.legend(loc="upper left", fontsize=7)
        handler_points = series["handlers"]
        if handler_points:
            handler_ax.scatter(*zip(*handler_points, strict=True), s=2, c="tab:green")
            handler_ax.set_yscale("log")
        handler_ax.set_title(f"{row['shape']}: handler updates (no provider call)")
        handler_ax.set_xlabel("seconds into the window")
        handler_ax.set_ylabel("ms")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------- orchestration


def run_worker(spec: LoadSpec) -> dict[str, Any]:
    """One run in a fresh process (CPU and memory are that run's alone); its last stdout line
    is the JSON result."""
    command = [sys.executable, "-m", "benchmarks.load", "--worker", json.dumps(asdict(spec))]
    timeout = spec.warmup + spec.duration + spec.drain_seconds + 600
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"worker failed ({done.returncode}): {done.stderr[-3000:]}")
    if spec.census:
        say("\n".join(line for line in done.stderr.splitlines() if line.startswith("census ")))
    return json.loads(lines[-1])


def parse_shape(text: str) -> tuple[int, int]:
    numbers, keys = text.lower().split("x")
    return int(numbers), int(keys)


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
        "--census", action="store_true", help="print where the tasks wait, mid-window"
    )
    parser.add_argument(
        "--split", action="store_true",
        help="the tracker in its own process (python -m bot tracker), the bot as the web role",
    )  # fmt: skip
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return parser


def specs_from(args: argparse.Namespace) -> list[LoadSpec]:
    shapes = args.shape or (["20x20"] if args.quick else list(SHAPES))
    specs = []
    for text in shapes:
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
            split=args.split,
            # Slow-window numbers are polled every POLL_SLOW: short, so the quick run's
            # few seconds see every code.
            settings={"poll_slow": 2.0, "poll_fast": 1.0} if args.quick else {},
            drain=8.0 if args.quick else None,
            # A tiny shape sends a code and its card into one chat at once: Telegram allows
            # such short bursts, and the smoke run must not wait out retry_after pauses.
            telegram_per_chat=3 if args.quick else 1,
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


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    if args.worker is not None:
        spec = LoadSpec(**json.loads(args.worker))
        import_aiogram()  # the worker is the bot process: aiogram imported as `python -m bot` does
        # The bot's warnings on stderr, as `python -m bot` logs them (a failed run shows them).
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        with asyncio.Runner(loop_factory=loop_factory(spec.loop)) as runner:
            result = runner.run(run_naive(spec) if spec.mode == "naive" else run_bot(spec))
        print(json.dumps(result, default=str), flush=True)
        return result
    rows: list[dict[str, Any]] = []
    for spec in specs_from(args):
        for run in range(args.repeat):
            log_progress(f"load: {spec.shape}, run {run + 1}…")
            started = time.time()
            row = run_worker(spec)
            if not args.no_naive:
                naive_spec = LoadSpec(**{**asdict(spec), "mode": "naive"})
                row["naive"] = run_worker(naive_spec)
            row["run"] = run + 1
            row["runtime_s"] = round(time.time() - started, 1)
            log_progress(f"load: {spec.shape}, run {run + 1}: {row['runtime_s']} s")
            rows.append(row)
    table = markdown_table(rows)
    say(table)
    plot_path = args.plot or Path(tempfile.gettempdir()) / "bench-load" / "load.png"
    plot(rows, plot_path)
    say(f"\nplot: {plot_path}")
    data = {
        "config": {
            k: v for k, v in asdict(specs_from(args)[0]).items() if k not in ("numbers", "keys")
        },
        "table": table,
        "results": [{k: v for k, v in row.items() if k != "series"} for row in rows],
        "plot": str(plot_path),
    }
    path = write_results("load", data, args.output)
    say(f"JSON: {path}")
    return data


if __name__ == "__main__":
    main()
