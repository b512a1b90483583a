"""The bot's HTTP face: the Telegram webhook, `/healthz` and `/metrics`.

Long polling stays the default. With WEBHOOK_URL set, `run_webhook` feeds the dispatcher the
updates Telegram posts to WEBHOOK_PATH, refusing any request without the secret Telegram was
given in setWebhook. `/healthz` and `/metrics` live on the same server; in polling mode
`start_health_server` serves them alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import sqlite3
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping

import asyncpg
from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from aiogram.webhook.aiohttp_server import setup_application
from aiohttp import web
from prometheus_client.exposition import choose_encoder

from bot.app import UPDATES_ALIVE, Services
from storage.url import DatabaseUrlError, parse_database_url, sqlite_url

log = logging.getLogger(__name__)

SERVICES_KEY = web.AppKey("services", Services)
WEBHOOK_KEY = web.AppKey("webhook", bool)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def webhook_secret(services: Services) -> str:
    """The configured secret, or one made up for this run (Telegram is told it in setWebhook)."""
    secret = services.settings.webhook_secret
    if not secret:
        secret = services.webhook_secret
        if not secret:
            # Telegram allows 1-256 characters of A-Z a-z 0-9 _ -.
            secret = secrets.token_urlsafe(32)
            services.webhook_secret = secret
            log.warning("WEBHOOK_SECRET is not set: using a random secret for this run")
    return str(secret)


def build_web_app(
    bot: Bot, dp: Dispatcher, services: Services, *, webhook: bool
) -> web.Application:
    """The aiohttp application: health and metrics always; the webhook route when `webhook`.

    With `webhook`, the dispatcher's startup/shutdown (and so the tracker) follow the app's, and
    setWebhook is called at startup with the secret.
    """
    app = web.Application()
    app[SERVICES_KEY] = services
    app[WEBHOOK_KEY] = webhook
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    if webhook:
        settings = services.settings
        if not settings.webhook_url:
            raise ValueError("webhook mode needs WEBHOOK_URL")
        url = webhook_url(settings.webhook_url, settings.webhook_path)
        secret = webhook_secret(services)
        BoundedRequestHandler(dp, bot, secret_token=secret).register(
            app, path=settings.webhook_path
        )
        setup_application(app, dp, bot=bot)

        async def set_webhook(app: web.Application) -> None:
            await bot.set_webhook(
                url,
                secret_token=secret,
                allowed_updates=dp.resolve_used_update_types(),
                drop_pending_updates=False,
            )
            log.info("webhook set; listening on %s:%s", settings.listen_host, settings.listen_port)

        # After setup_application's startup hook: the tracker runs before updates arrive.
        app.on_startup.append(set_webhook)
    return app


class BoundedRequestHandler:
    """Telegram's webhook requests, with at most `limit` updates alive at once.

    Each update is handled in a task of its own after Telegram got its answer; with `limit`
    tasks alive, the next request waits for one to finish before it is read, so Telegram
    (which keeps at most its max_connections requests open) slows down instead of the bot
    piling updates up in memory. Polling has the same bound (`bot.app.run_polling`).

    Written on the dispatcher's public `feed_raw_update` rather than as a subclass of aiogram's
    SimpleRequestHandler: the bound has to hold the update's whole life, which only aiogram's
    private background-task method sees."""

    def __init__(
        self, dispatcher: Dispatcher, bot: Bot, *, secret_token: str, limit: int = UPDATES_ALIVE
    ) -> None:
        if not secret_token:
            raise ValueError("a webhook needs a secret token")
        self.dispatcher = dispatcher
        self.bot = bot
        self.secret_token = secret_token
        self._alive = asyncio.Semaphore(max(1, limit))
        self._tasks: set[asyncio.Task[None]] = set()  # strong references while they run

    def register(self, app: web.Application, /, path: str) -> None:
        app.router.add_post(path, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        if not secrets.compare_digest(request.headers.get(SECRET_HEADER, ""), self.secret_token):
            return web.Response(body="Unauthorized", status=401)
        await self._alive.acquire()
        try:
            update = await request.json(loads=self.bot.session.json_loads)
        except BaseException:
            self._alive.release()
            raise
        task = asyncio.create_task(self._feed(update))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.json_response({}, dumps=self.bot.session.json_dumps)

    async def _feed(self, update: dict[str, object]) -> None:
        try:
            result = await self.dispatcher.feed_raw_update(self.bot, update)
            if isinstance(result, TelegramMethod):
                # A handler returned a method as its answer: there is no request left to
                # carry it back, so it is called.
                await self.dispatcher.silent_call_request(self.bot, result)
        except Exception:  # the task has no awaiter: say it here, not at garbage collection
            log.exception("webhook: an update failed")
        finally:
            self._alive.release()


def webhook_url(base: str, path: str) -> str:
    """WEBHOOK_URL may be the public base or already end with the path; never doubled."""
    base = base.rstrip("/")
    path = "/" + path.lstrip("/")
    return base if base.endswith(path) else base + path


async def run_webhook(bot: Bot, dp: Dispatcher, services: Services) -> None:
    """Serve the webhook (plus /healthz and /metrics) until cancelled."""
    settings = services.settings
    app = build_web_app(bot, dp, services, webhook=True)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.listen_host, settings.listen_port)
        await site.start()
        await asyncio.Event().wait()  # until the task is cancelled (SIGTERM / SIGINT)
    finally:
        await runner.cleanup()  # runs the shutdown hooks: the tracker stops


async def start_health_server(services: Services, host: str, port: int) -> web.AppRunner:
    """Polling mode: serve /healthz and /metrics only. Stop with `await runner.cleanup()`."""
    app = web.Application()
    app[SERVICES_KEY] = services
    app[WEBHOOK_KEY] = False
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


# --- /healthz ----------------------------------------------------------------------------------


async def db_reachable(services: Services) -> bool:
    try:
        return await services.db.schema_version() > 0
    except Exception:  # any failure means "not reachable"; the reason goes to the log
        log.warning("health check: database unreachable", exc_info=True)
        return False


def tracker_running(services: Services) -> bool | None:
    """True/False when this process has a tracker; None when it has none."""
    tracker = services.tracker
    return None if tracker is None else bool(tracker.running)


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES_KEY]
    db_ok = await db_reachable(services)
    tracker_ok = tracker_running(services)
    healthy = db_ok and tracker_ok is not False
    body = {
        "status": "ok" if healthy else "fail",
        "db": db_ok,
        "tracker": tracker_ok,
        "mode": "webhook" if request.app[WEBHOOK_KEY] else "polling",
    }
    return web.json_response(body, status=200 if healthy else 503)


# --- /metrics ----------------------------------------------------------------------------------


async def metrics(request: web.Request) -> web.Response:
    """The registry of `services.metrics`, with what is read at scrape time set first: the
    database's numbers and whether the tracker runs."""
    services = request.app[SERVICES_KEY]
    registry = services.metrics
    started = time.monotonic()
    try:
        counts = await services.db.counts()
    except Exception:  # an unreadable database must not take /metrics down with it
        log.warning("metrics: database counts failed", exc_info=True)
        counts = None
    registry.database.show(counts)
    registry.scrape_duration.set(time.monotonic() - started)
    registry.tracker_running.set(1 if tracker_running(services) else 0)
    # The library picks the format (and its content type) from what the scraper accepts.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return web.Response(body=encode(registry.registry), headers={"Content-Type": content_type})


# --- container health check (`python -m bot.web --check`) --------------------------------------


def health_check_target(env: Mapping[str, str]) -> str | None:
    """The /healthz URL this process serves, or None when it serves none (plain polling)."""
    port = env.get("HEALTH_PORT") or (
        env.get("LISTEN_PORT", "8080") if env.get("WEBHOOK_URL") else ""
    )
    return f"http://127.0.0.1:{port}/healthz" if port else None


def check_health(env: Mapping[str, str], timeout: float = 5.0) -> bool:
    """True when the bot is healthy: /healthz answers 200, or (no health server) the DB opens."""
    url = health_check_target(env)
    if url is not None:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False
    try:  # the database DATABASE_URL (else DATABASE_PATH) names, as the bot reads it
        target = parse_database_url(
            env.get("DATABASE_URL") or sqlite_url(env.get("DATABASE_PATH", "data/bot.db"))
        )
    except DatabaseUrlError:
        return False
    if target.dsn is not None:
        return asyncio.run(_postgres_answers(target.dsn, connect_within=timeout))
    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{target.path}?mode=ro", uri=True, timeout=timeout)
        ) as conn:
            return conn.execute("SELECT COUNT(*) FROM schema_version").fetchone() is not None
    except sqlite3.Error:
        return False


async def _postgres_answers(dsn: str, *, connect_within: float) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=connect_within)
        try:
            return await conn.fetchval("SELECT COUNT(*) FROM schema_version") is not None
        finally:
            await conn.close()
    except (asyncpg.PostgresError, OSError, TimeoutError):
        return False


if __name__ == "__main__":
    if sys.argv[1:] != ["--check"]:
        print("usage: python -m bot.web --check", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(0 if check_health(os.environ) else 1)
