"""Handler throughput: taps through the real dispatcher, a real SQLite file, a recording session.

    python -m benchmarks.handlers                 # 3,000 taps of the mix, 300 card refreshes
    python -m benchmarks.handlers --quick
    python -m benchmarks.handlers --updates 10000 --refreshes 1000

The bot is built as in production (`bot.app.build_services` + `build_dispatcher`, tracker off)
with tests/harness.py's RecordingSession instead of Telegram, and the sandbox in-process at
zero latency. Caches are warmed first, so the mix (service pages, country pages, opening the
activation card) runs without provider I/O; the card's "Refresh" asks the provider (getStatus)
every time and is reported on its own.

Per workload it also counts aiosqlite round trips ("db hops": every execute, fetch and cursor
close is one hop to the connection's thread) and the SQL behind them (`--sql`), and times the
garbage collector's pauses. After warm-up the heap is frozen (`gc.freeze()`, as the bot should
do after startup; `--no-gc-freeze` to compare) and the recording session's kept calls are
dropped after each tap (the real session keeps none): both left the old run's 200-300 ms maxima,
each a generation-2 collection walking the whole heap. `--profile` runs the taps under cProfile.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks.common import format_table, say, summary_ms, write_results

USER_ID = 111
TOKEN = "123456789:BENCH-token-abcdefghijklmnopqrstuv"


class HopCounter:
    """Counts aiosqlite thread hops (every `Connection._execute`: execute, fetch, cursor close,
    each one a round trip to the connection's worker thread) and the SQL statements among them."""

    def __init__(self) -> None:
        self.hops = 0
        self.statements: dict[str, int] = {}
        self._original: Any = None

    def install(self) -> None:
        import aiosqlite

        original = aiosqlite.Connection._execute
        counter = self

        async def counted(conn: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
            counter.hops += 1
            if args and isinstance(args[0], str):
                sql = " ".join(args[0].split())[:90]
                counter.statements[sql] = counter.statements.get(sql, 0) + 1
            return await original(conn, fn, *args, **kwargs)

        self._original = original
        aiosqlite.Connection._execute = counted  # type: ignore[method-assign]

    def uninstall(self) -> None:
        import aiosqlite

        if self._original is not None:
            aiosqlite.Connection._execute = self._original  # type: ignore[method-assign]
            self._original = None

    def take(self) -> tuple[int, dict[str, int]]:
        """Hops and statements since the last take, and reset."""
        hops, statements = self.hops, self.statements
        self.hops, self.statements = 0, {}
        return hops, statements


class GcWatch:
    """Times the collector's pauses (gc.callbacks), to tell GC pauses from other maxima."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((int(info["generation"]), time.perf_counter() - self._started))

    def take(self) -> dict[str, Any]:
        gen2 = [s for g, s in self.pauses if g == 2]
        summary = {
            "collections": len(self.pauses),
            "gen2": len(gen2),
            "gen2_max_ms": round(max(gen2) * 1000, 1) if gen2 else 0.0,
            "max_ms": round(max((s for _g, s in self.pauses), default=0.0) * 1000, 1),
        }
        self.pauses = []
        return summary


API_CALLS = [0]  # Bot API calls the recording session answered
PROFILER: list[Any] = []  # a cProfile.Profile while --profile measures


async def _feed_all(chat: Any, make: Callable[[int], str], count: int) -> list[float]:
    """Feed `count` taps one after another (as one chat would); seconds per update."""
    seconds: list[float] = []
    session = chat.bot.session
    for i in range(count):
        update = chat.make_callback_update(make(i), chat.last_bot_message())
        started = time.perf_counter()
        if PROFILER:
            PROFILER[0].enable()
        await chat.dp.feed_update(chat.bot, update)
        if PROFILER:
            PROFILER[0].disable()
        seconds.append(time.perf_counter() - started)
        # The recording session keeps every call (a test's evidence); the real session keeps
        # none. Left to grow, they are the heap a full GC pause walks: count and drop them.
        API_CALLS[0] += len(session.requests)
        session.requests.clear()
        session.callback_answers.clear()
    return seconds


def _figures(
    name: str, seconds: list[float], requests: int, hops: HopCounter, gcw: GcWatch
) -> dict[str, Any]:
    total = sum(seconds)
    count, statements = hops.take()
    return {
        "workload": name,
        "updates": len(seconds),
        "updates_per_s": round(len(seconds) / total, 1) if total else None,
        **summary_ms(seconds),
        "provider_requests": requests,
        "db_hops_per_update": round(count / len(seconds), 1) if seconds else None,
        "sql_per_update": {
            sql: round(n / len(seconds), 2) for sql, n in sorted(statements.items())
        },
        "gc": gcw.take(),
    }


async def run(updates: int, refreshes: int, seed: int, freeze_gc: bool = True) -> dict[str, Any]:
    from aiogram import Bot
    from aiogram.client.default import DefaultBotProperties
    from aiogram.enums import ParseMode
    from cryptography.fernet import Fernet

    from bot.app import build_dispatcher, build_services
    from bot.config import load_settings
    from bot.presets import address_policy
    from bot.provider.factory import ProviderFactory
    from handlers.activation import ActivationCb, BuyCb
    from sandbox.server import SandboxServer
    from sandbox.state import SandboxState
    from tests.harness import ChatDriver, RecordingSession

    rng = random.Random(seed)
    sandbox = SandboxServer(SandboxState(), host="127.0.0.1", port=0)
    await sandbox.start()
    tmp = tempfile.TemporaryDirectory(prefix="bench-handlers-")
    services: Any = None
    hops, gcw = HopCounter(), GcWatch()
    rows: list[dict[str, Any]] = []
    full_gc_ms: float | None = None
    try:
        api_key = sandbox.state.create_key(balance="100000")
        settings = load_settings(
            bot_token=TOKEN,
            database_path=Path(tmp.name) / "bot.db",
            secret_key=Fernet.generate_key().decode(),
            sandbox=True,
            sandbox_url=sandbox.url,
            throttle_rate=0,  # the benchmark is one very fast user: no anti-flood pauses
            provider_timeout=5,
        )
        providers = ProviderFactory(timeout=5, address_policy=address_policy(settings))
        services = await build_services(settings, providers=providers)
        bot = Bot(
            TOKEN,
            session=RecordingSession(),
            default=DefaultBotProperties(parse_mode=ParseMode.HTML),
        )
        dp = build_dispatcher(services, bot, with_tracker=False)
        chat = ChatDriver(dp, bot, user_id=USER_ID, language="en")
        await chat.send("/start")
        await services.accounts.add_key(
            USER_ID, base_url=sandbox.url, api_key=api_key, label="bench"
        )
        token = await services.orders.offer_token(
            USER_ID, service="tg", country="0", max_price=Decimal("1000")
        )
        bought = await services.orders.buy(
            USER_ID, token=token, service="tg", country="0",
            max_price=Decimal("1000"), chat_id=USER_ID,
        )  # fmt: skip
        assert bought.activation is not None
        activation_id = bought.activation.id
        codes = sorted(sandbox.state.services)

        await chat.send("/buy")
        taps: list[Callable[[int], str]] = [
            lambda i: BuyCb(action="sp", p=rng.randrange(3)).pack(),
            lambda i: BuyCb(action="s", s=rng.choice(codes)).pack(),
            lambda i: BuyCb(action="cp", s=rng.choice(codes), p=rng.randrange(2)).pack(),
            lambda i: ActivationCb(action="open", id=activation_id).pack(),
        ]
        # Warm every cache the mix touches (names, prices of each service).
        for code in codes:
            await _feed_all(chat, lambda i, c=code: BuyCb(action="s", s=c).pack(), 1)
        await _feed_all(chat, lambda i: BuyCb(action="sp", p=i % 3).pack(), 3)
        # What one full collection of the warmed heap costs: the pause a tap would take
        # if a generation-2 collection fell on it.
        gc.collect()
        started = time.perf_counter()
        gc.collect()
        full_gc_ms = round((time.perf_counter() - started) * 1000, 1)
        if freeze_gc:
            # As a long-lived service should after startup: move everything built so far out
            # of the collector's reach, so a full collection does not walk the whole warmed
            # heap in the middle of a tap.
            gc.freeze()
        hops.install()
        gc.callbacks.append(gcw)
        hops.take()

        before = len(sandbox.state.requests)
        mix = await _feed_all(chat, lambda i: taps[rng.randrange(len(taps))](i), updates)
        rows.append(
            _figures("mix (no provider I/O)", mix, len(sandbox.state.requests) - before, hops, gcw)
        )

        names = ["services page", "service -> countries", "countries page", "open card"]
        for name, tap in zip(names, taps, strict=True):
            before = len(sandbox.state.requests)
            seconds = await _feed_all(chat, tap, max(1, updates // 4))
            rows.append(_figures(name, seconds, len(sandbox.state.requests) - before, hops, gcw))

        before = len(sandbox.state.requests)
        refresh = await _feed_all(
            chat, lambda i: ActivationCb(action="refresh", id=activation_id).pack(), refreshes
        )
        rows.append(
            _figures(
                "card refresh (getStatus, sandbox 0 ms)",
                refresh,
                len(sandbox.state.requests) - before,
                hops,
                gcw,
            )
        )
        api_calls = API_CALLS[0]
    finally:
        hops.uninstall()
        if gcw in gc.callbacks:
            gc.callbacks.remove(gcw)
        if freeze_gc:
            gc.unfreeze()
        if services is not None:
            await services.close()
        await sandbox.stop()
        tmp.cleanup()
    return {
        "rows": rows,
        "bot_api_calls": api_calls,
        "gc_frozen": freeze_gc,
        "full_gc_ms_warmed_heap": full_gc_ms,
    }


COLUMNS = [
    ("workload", "workload"),
    ("updates", "updates"),
    ("updates_per_s", "updates/s"),
    ("p50_ms", "p50 ms"),
    ("p95_ms", "p95 ms"),
    ("max_ms", "max ms"),
    ("provider_requests", "provider req"),
    ("db_hops_per_update", "db hops/update"),
    ("gc_gen2", "gen2 GCs"),
]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.handlers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="a few hundred updates")
    parser.add_argument("--updates", type=int, default=None, help="taps in the mix (3000)")
    parser.add_argument("--refreshes", type=int, default=None, help="card refreshes (300)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-gc-freeze", action="store_true", help="leave the warmed heap to the collector"
    )
    parser.add_argument("--sql", action="store_true", help="print the SQL statements per update")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the measured taps; print the top 40"
    )
    parser.add_argument("--profile-out", type=Path, default=None, help="pstats file to write")
    parser.add_argument("--output", type=Path, default=None, help="JSON path")
    args = parser.parse_args(argv)
    updates = args.updates or (80 if args.quick else 3000)
    refreshes = args.refreshes or (10 if args.quick else 300)
    if args.profile:
        import cProfile

        PROFILER.append(cProfile.Profile())
    data = asyncio.run(run(updates, refreshes, args.seed, freeze_gc=not args.no_gc_freeze))
    if PROFILER:
        import pstats

        profile = PROFILER.pop()
        if args.profile_out:
            profile.dump_stats(str(args.profile_out))
        pstats.Stats(profile).sort_stats("tottime").print_stats(40)
    table = [{**row, "gc_gen2": row["gc"]["gen2"]} for row in data["rows"]]
    say(format_table(table, COLUMNS))
    say(f"\none full GC of the warmed heap: {data['full_gc_ms_warmed_heap']} ms")
    if args.sql:
        for row in data["rows"]:
            say(f"\n{row['workload']}: {row['db_hops_per_update']} hops per update")
            for sql, per in row["sql_per_update"].items():
                say(f"  {per:6.2f}  {sql}")
    path = write_results("handlers", {"quick": args.quick, **data}, args.output)
    say(f"\nJSON: {path}")
    return data


if __name__ == "__main__":
    main()
