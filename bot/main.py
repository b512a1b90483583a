"""`python -m bot`: load settings, wire everything, run long polling or a webhook server."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sqlite3
import sys

import asyncpg
from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramNetworkError,
    TelegramUnauthorizedError,
)
from redis.exceptions import RedisError

from bot.app import (
    Services,
    build_background,
    build_bot,
    build_dispatcher,
    build_services,
    build_telegram_models,
    redis_prefix,
    run_polling,
)
from bot.changes import ChangeRelay
from bot.config import Settings, SettingsError, load_settings
from bot.provider.redact import redact
from bot.redis_relay import RedisChangeRelay
from bot.relay import DatabaseRelay
from bot.roles import Role, lower_cpu_priority, parse_role
from bot.tracker.config import OWN_CORE
from bot.tracker.leases import KeyLeases
from bot.web import run_webhook, start_health_server
from handlers import publish_profile
from sandbox.server import SandboxServer
from sandbox.state import SandboxState
from storage import SecretKeyError, SecretMismatch

log = logging.getLogger("bot")

# Seconds for the first getMe: an address that swallows packets must not hold the start-up
# for aiogram's default minute.
TELEGRAM_CHECK_TIMEOUT = 10


class RedactingFilter(logging.Filter):
    """Masks API keys in every log record, whatever logged it (aiohttp, aiogram, ours)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            # Tracebacks are rendered later from exc_info; render now, redacted.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
            record.msg = f"{record.msg}\n{record.exc_text}"
            record.exc_text = None
        return True


# The collector's thresholds once running (CPython's are 700, 10, 10). A tracker keeps
# thousands of key jobs waiting for the request budget: their tasks, coroutines and futures
# live for seconds, so young collections find them alive and move them on, and they die old.
# At 10,000 numbers on 5,000 keys the tracker worker made about 2,900 young, 265 middle and 24
# full collections a run (7.6-8.3 s of pauses in ~100 s, the full ones up to 270 ms each);
# collecting the young every 50,000 net allocations: 9-10 collections, 0.66 s, and 9 % less
# CPU per provider request (docs/performance.md, "A card in fewer reads, and the garbage
# collector's thresholds").
GC_THRESHOLDS = (50_000, 20, 10)


def freeze_startup_heap() -> None:
    """Build the Telegram models in use, move everything built at start-up out of the garbage
    collector's sight, and collect less often from then on (`GC_THRESHOLDS`).

    A full collection of the warmed heap pauses the loop for 100–300 ms (benchmarks/handlers);
    objects that live for the whole run never need scanning."""
    build_telegram_models()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


class StartupError(Exception):
    """The bot cannot start; the message names the cause (a setting or an address) in one line
    and never contains a secret."""


async def check_telegram(bot: Bot, settings: Settings) -> None:
    """Ask Telegram who we are before anything else talks to it: a rejected token or an
    unreachable server ends the start-up here, with one line naming the cause."""
    address = settings.telegram_api_url
    try:
        await bot.get_me(request_timeout=TELEGRAM_CHECK_TIMEOUT)
    except TelegramUnauthorizedError:
        raise StartupError(
            f"BOT_TOKEN was rejected by the Telegram Bot API at {address} (401 Unauthorized): "
            "check the token @BotFather gave you"
        ) from None
    except TelegramNetworkError as exc:
        cause = _one_line_cause(exc.message, settings.bot_token)
        raise StartupError(
            f"cannot reach the Telegram Bot API at {address} (TELEGRAM_API_URL): {cause}"
        ) from None
    except TelegramAPIError as exc:
        cause = _one_line_cause(exc.message, settings.bot_token)
        raise StartupError(
            f"the Telegram Bot API at {address} (TELEGRAM_API_URL) refused getMe: {cause}"
        ) from None
    except ClientDecodeError:
        raise StartupError(
            f"{address} (TELEGRAM_API_URL) answered getMe with something that is not "
            "the Telegram Bot API"
        ) from None


def _one_line_cause(message: str, token: str) -> str:
    cleaned = message.removeprefix("HTTP Client says - ").replace(token, "***")
    return " ".join(cleaned.split()) or "no answer"


async def open_services(settings: Settings) -> Services:
    """The database and the services; a file that cannot be opened is one line naming it."""
    try:
        return await build_services(settings)
    except (sqlite3.Error, asyncpg.PostgresError, OSError, TimeoutError) as exc:
        # The location without its password; the cause as one line.
        where = settings.database.path or settings.database.redacted()
        raise StartupError(
            f"cannot open the database {where} ({settings.database_setting}): "
            f"{' '.join(str(exc).split()) or type(exc).__name__}"
        ) from None
    except RedisError as exc:
        # The class only: the URL (and so its password) never reaches the message.
        raise StartupError(f"cannot reach Redis (REDIS_URL): {type(exc).__name__}") from None


async def run(settings: Settings, role: Role = Role.ALL) -> None:
    # Everything built is closed on the way out, whatever failed after it (an open database
    # keeps a thread alive: the process would hang instead of exiting).
    async with contextlib.AsyncExitStack() as stack:
        if settings.sandbox and not settings.sandbox_url:
            if role is not Role.ALL:
                raise StartupError(
                    f"the {role} role needs SANDBOX_URL: the sandbox inside the process is "
                    "for the all-in-one bot only (every process must see one sandbox)"
                )
            settings = await _start_inner_sandbox(settings, stack)
        bot = build_bot(settings)
        stack.push_async_callback(bot.session.close)
        await check_telegram(bot, settings)  # before the database: a wrong token creates nothing
        services = await open_services(settings)
        stack.push_async_callback(services.close)
        if role is Role.TRACKER:
            await run_tracker_worker(services, bot, stack)
            return
        if role is Role.WEB:
            # What the use cases change reaches the tracker workers through the database.
            relay = change_relay(services, bot)
            services.changes.listen(relay.publish)
            stack.push_async_callback(relay.stop)
        dp = build_dispatcher(services, bot, web_only=role is Role.WEB)
        # Commands and descriptions per language; a refusal is logged, never fatal.
        await publish_profile(bot, services.translator)
        freeze_startup_heap()
        if settings.webhook_mode:
            await run_webhook(bot, dp, services)
            return
        if settings.health_port is not None:
            health = await start_health_server(services, settings.listen_host, settings.health_port)
            stack.push_async_callback(health.cleanup)
        await bot.delete_webhook(drop_pending_updates=False)
        log.info("long polling started")
        await run_polling(bot, dp)


def change_relay(services: Services, bot: Bot) -> ChangeRelay:
    """How the web role's changes reach the tracker workers: Redis pub/sub when REDIS_URL is
    set, else the database's change feed (no Redis needed)."""
    if services.redis is not None:
        return RedisChangeRelay(services.redis, f"{redis_prefix(bot)}:changes")
    return DatabaseRelay(services.db.feed)


async def run_tracker_worker(
    services: Services, bot: Bot, stack: contextlib.AsyncExitStack
) -> None:
    """`python -m bot tracker`: poll the keys this worker holds leases on, until cancelled.
    Stops in reverse order: the tracker ends its jobs before the leases are given back.

    The worker first lowers its CPU priority (TRACKER_NICE): beside the web role on one
    machine, a tap is a user waiting on the next few milliseconds, a pass can start a few
    milliseconds late (docs/performance.md, "Taps ahead of passes")."""
    settings = services.settings
    niceness = lower_cpu_priority(settings.tracker_nice)
    if niceness is not None:
        log.info("tracker worker runs at niceness %d (TRACKER_NICE)", niceness)
    elif settings.tracker_nice:
        log.warning("tracker worker keeps its CPU priority: this system refused TRACKER_NICE")
    leases = KeyLeases(services.db.leases)
    background = build_background(services, bot, keys=leases, cadence=OWN_CORE)
    tracker, watch_poller = background.tracker, background.watch_poller
    leases.on_gain = tracker.took_over
    leases.before_release = tracker.let_go

    async def eldest(is_eldest: bool) -> None:
        # Watches may buy: exactly one worker polls them, the eldest.
        await (watch_poller.start() if is_eldest else watch_poller.stop())

    leases.on_eldest = eldest
    relay = change_relay(services, bot)
    await background.queue.start()
    stack.push_async_callback(background.queue.stop)
    await leases.start()
    stack.push_async_callback(leases.stop)
    await tracker.start()
    stack.push_async_callback(tracker.stop)
    stack.push_async_callback(watch_poller.stop)
    await relay.start(services.changes.deliver)
    stack.push_async_callback(relay.stop)
    # /healthz and /metrics always: a worker is watched like a replica (HEALTH_PORT, else the
    # LISTEN_PORT a webhook replica would use).
    port = settings.health_port if settings.health_port is not None else settings.listen_port
    health = await start_health_server(services, settings.listen_host, port)
    stack.push_async_callback(health.cleanup)
    freeze_startup_heap()
    log.info("tracker worker %s started with %d keys", leases.worker, len(leases.held))
    await asyncio.Event().wait()  # until the signal handler cancels the run


async def _start_inner_sandbox(settings: Settings, stack: contextlib.AsyncExitStack) -> Settings:
    """Try-without-money mode: the sandbox runs inside this process."""
    state = SandboxState()
    sandbox_server = SandboxServer(state, host="127.0.0.1", port=settings.sandbox_port)
    try:
        await sandbox_server.start()
    except OSError as exc:
        raise StartupError(
            f"cannot start the sandbox on 127.0.0.1:{settings.sandbox_port} (SANDBOX_PORT): "
            f"{' '.join(str(exc).split())}"
        ) from None
    stack.push_async_callback(sandbox_server.stop)
    demo_key = state.create_key(balance="100")
    log.info("sandbox provider on %s, demo API key: %s", sandbox_server.base, demo_key)
    return settings.model_copy(update={"sandbox_url": sandbox_server.url})


def main(argv: list[str] | None = None) -> None:
    role = parse_role(sys.argv[1:] if argv is None else argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    setup_logging(settings.log_level)

    async def runner() -> None:
        task = asyncio.create_task(run(settings, role))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            log.info("stopped")

    try:
        asyncio.run(runner())
    except (SecretKeyError, SecretMismatch) as exc:
        # Both messages name the setting or file and never contain the secret itself.
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
