"""The bot's HTTP face: the Telegram webhook, `/healthz` and `/metrics`.

Long polling stays the default. With WEBHOOK_URL set, `run_webhook` serves aiogram's request
handler at WEBHOOK_PATH, refusing any request without the secret Telegram was given in
setWebhook. `/healthz` and `/metrics` live on the same server; in polling mode
`start_health_server` serves them alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from bot.app import UPDATES_ALIVE
from bot.metrics import METRICS, PREFIX, MetricFamily, Metrics, error_label, render

log = logging.getLogger(__name__)

SERVICES_KEY = web.AppKey("services", object)
WEBHOOK_KEY = web.AppKey("webhook", bool)
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def metrics_of(services: Any) -> Metrics:
    """The registry the composition root put in `services.metrics`, else the global."""
    registry = getattr(services, "metrics", None)
    return registry if isinstance(registry, Metrics) else METRICS


def webhook_secret(services: Any) -> str:
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


def build_web_app(bot: Bot, dp: Dispatcher, services: Any, *, webhook: bool) -> web.Application:
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
        secret = webhook_secret(services)
        BoundedRequestHandler(dispatcher=dp, bot=bot, secret_token=secret).register(
            app, path=settings.webhook_path
        )
        setup_application(app, dp, bot=bot)

        async def set_webhook(app: web.Application) -> None:
            url = webhook_url(settings.webhook_url, settings.webhook_path)
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


class BoundedRequestHandler(SimpleRequestHandler):
    """aiogram's webhook handler, with at most `limit` updates alive at once.

    Each update is handled in a task of its own after Telegram got its answer; with `limit`
    tasks alive, the next request waits for one to finish before it is read, so Telegram
    (which keeps at most its max_connections requests open) slows down instead of the bot
    piling updates up in memory. Polling has the same bound (`bot.app.run_polling`)."""

    def __init__(self, *args: Any, limit: int = UPDATES_ALIVE, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._alive = asyncio.Semaphore(max(1, limit))

    async def _handle_request_background(self, bot: Bot, request: web.Request) -> web.Response:
        await self._alive.acquire()
        try:
            update = await request.json(loads=bot.session.json_loads)
        except BaseException:
            self._alive.release()
            raise
        task = asyncio.create_task(self._background_feed_update(bot=bot, update=update))
        self._background_feed_update_tasks.add(task)
        task.add_done_callback(self._background_feed_update_tasks.discard)
        task.add_done_callback(lambda _: self._alive.release())
        return web.json_response({}, dumps=bot.session.json_dumps)


def webhook_url(base: str, path: str) -> str:
    """WEBHOOK_URL may be the public base or already end with the path; never doubled."""
    base = base.rstrip("/")
    path = "/" + path.lstrip("/")
    return base if base.endswith(path) else base + path


async def run_webhook(bot: Bot, dp: Dispatcher, services: Any) -> None:
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


async def start_health_server(services: Any, host: str, port: int) -> web.AppRunner:
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


async def db_reachable(services: Any) -> bool:
    try:
        return await services.db.schema_version() > 0
    except Exception:  # any failure means "not reachable"; the reason goes to the log
        log.warning("health check: database unreachable", exc_info=True)
        return False


def tracker_running(services: Any) -> bool | None:
    """True/False when there is a tracker; None when this process has none."""
    tracker = getattr(services, "tracker", None)
    if tracker is None:
        return None
    running = getattr(tracker, "running", None)
    if running is not None:
        return bool(running() if callable(running) else running)
    task = getattr(tracker, "_task", None)
    return task is not None and not task.done()


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

# (metric name, help, SQL) — live numbers straight from the database, so they survive restarts.
DB_GAUGES: tuple[tuple[str, str, str], ...] = (
    (
        "live_activations",
        "Activations waiting for or holding a code.",
        "SELECT COUNT(*) FROM activations WHERE status IN ('waiting', 'retry', 'received')",
    ),
    ("live_rentals", "Active rentals.", "SELECT COUNT(*) FROM rentals WHERE status = 'active'"),
    ("users", "Users who have started the bot.", "SELECT COUNT(*) FROM users"),
    (
        "pending_purchases",
        "Purchases with an unknown outcome.",
        "SELECT COUNT(*) FROM pending_purchases",
    ),
)
DB_COUNTERS: tuple[tuple[str, str, str], ...] = (
    (
        "codes_delivered_total",
        "Activation codes delivered to a chat.",
        "SELECT COUNT(*) FROM activation_codes WHERE delivered = 1",
    ),
    (
        "rental_sms_delivered_total",
        "Rental SMS delivered to a chat.",
        "SELECT COUNT(*) FROM rental_sms WHERE delivered = 1",
    ),
    (
        "activations_bought_total",
        "Activation numbers bought.",
        "SELECT COUNT(*) FROM activations",
    ),
    ("rentals_bought_total", "Numbers rented.", "SELECT COUNT(*) FROM rentals"),
)


async def _scalar(services: Any, sql: str) -> float | None:
    db = services.db
    try:
        # The store's scalar() waits for open transactions; storage has no public
        # "run this read-only count" yet, so the raw connection is the fallback.
        store = getattr(db, "_store", None)
        if store is not None:
            value = await store.scalar(sql)
        else:
            async with db.connection.execute(sql) as cursor:
                row = await cursor.fetchone()
            value = row[0] if row else 0
        return float(value or 0)
    except Exception:  # a missing table must not take /metrics down
        log.warning("metrics: query failed", exc_info=True)
        return None


async def db_families(services: Any) -> list[MetricFamily]:
    families = []
    for kind, table in (("gauge", DB_GAUGES), ("counter", DB_COUNTERS)):
        for name, help_text, sql in table:
            value = await _scalar(services, sql)
            if value is not None:
                families.append(MetricFamily(PREFIX + name, kind, help_text).add(value))
    return families


def _stats_mapping(stats: Any) -> Mapping[str, Any]:
    if stats is None:
        return {}
    if isinstance(stats, Mapping):
        return stats
    if dataclasses.is_dataclass(stats) and not isinstance(stats, type):
        return {f.name: getattr(stats, f.name) for f in dataclasses.fields(stats)}
    return {k: v for k, v in vars(stats).items() if not k.startswith("_")}


def _label_name(stat: str) -> str:
    return "code" if "error" in stat else "key"


def _counts_by_label(counts: Mapping[Any, Any], label: str) -> list[tuple[str, float]]:
    """A stats dict as (label value, count), sorted; error codes are bounded by `error_label`
    (whatever filled the dict, an unknown code is never a series of its own)."""
    merged: dict[str, float] = {}
    for key, count in counts.items():
        if isinstance(count, int | float) and not isinstance(count, bool):
            value = error_label(str(key)) if label == "code" else str(key)
            merged[value] = merged.get(value, 0.0) + float(count)
    return sorted(merged.items())


def tracker_families(services: Any) -> list[MetricFamily]:
    """The tracker's counters: numbers as they are, dicts (e.g. errors by code) as labels."""
    tracker = getattr(services, "tracker", None)
    stats = getattr(tracker, "stats", None)
    if callable(stats):
        stats = stats()
    families = []
    running = tracker_running(services)
    if running is not None:
        families.append(
            MetricFamily(PREFIX + "tracker_running", "gauge", "1 while the tracker loop runs.").add(
                1.0 if running else 0.0
            )
        )
    mapping = dict(_stats_mapping(stats))
    # "x_sum" + "x_count" pairs (e.g. provider_latency) are one summary.
    for stat in sorted(k[: -len("_sum")] for k in mapping if k.endswith("_sum")):
        if f"{stat}_count" not in mapping:
            continue
        total, count = mapping.pop(f"{stat}_sum"), mapping.pop(f"{stat}_count")
        family = MetricFamily(
            PREFIX + "tracker_" + stat + "_seconds", "summary", f"Tracker: {stat}."
        )
        family.add(float(total), suffix="_sum").add(float(count), suffix="_count")
        families.append(family)
    for stat, value in sorted(mapping.items()):
        name = PREFIX + "tracker_" + stat
        if isinstance(value, bool):
            families.append(MetricFamily(name, "gauge", f"Tracker: {stat}.").add(float(value)))
        elif isinstance(value, int | float):
            kind = "gauge" if stat.startswith(("last_", "live_", "pending")) else "counter"
            if kind == "counter" and not name.endswith("_total"):
                name += "_total"
            families.append(MetricFamily(name, kind, f"Tracker: {stat}.").add(float(value)))
        elif isinstance(value, Mapping):
            if not name.endswith("_total"):
                name += "_total"
            family = MetricFamily(name, "counter", f"Tracker: {stat}.")
            label = _label_name(stat)
            for key, count in _counts_by_label(value, label):
                family.add(count, ((label, key),))
            families.append(family)
    return families


async def metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES_KEY]
    started = time.monotonic()
    families = await db_families(services)
    families += tracker_families(services)
    families += metrics_of(services).families()
    families.append(
        MetricFamily(PREFIX + "scrape_duration_seconds", "gauge", "Time to build this page.").add(
            round(time.monotonic() - started, 6)
        )
    )
    return web.Response(
        body=render(families).encode(), headers={"Content-Type": METRICS_CONTENT_TYPE}
    )


# --- container health check (`python -m bot.web --check`) --------------------------------------


def health_check_target(env: Mapping[str, str]) -> str | None:
    """The /healthz URL this process serves, or None when it serves none (plain polling)."""
    port = env.get("HEALTH_PORT") or (
        env.get("LISTEN_PORT", "8080") if env.get("WEBHOOK_URL") else ""
    )
    return f"http://127.0.0.1:{port}/healthz" if port else None


def check_health(env: Mapping[str, str], timeout: float = 5.0) -> bool:
    """True when the bot is healthy: /healthz answers 200, or (no health server) the DB opens."""
    import sqlite3
    import urllib.error
    import urllib.request

    url = health_check_target(env)
    if url is not None:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False
    path = env.get("DATABASE_PATH", "data/bot.db")
    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout)
        ) as conn:
            return conn.execute("SELECT COUNT(*) FROM schema_version").fetchone() is not None
    except sqlite3.Error:
        return False


if __name__ == "__main__":
    import os
    import sys

    if sys.argv[1:] != ["--check"]:
        print("usage: python -m bot.web --check", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(0 if check_health(os.environ) else 1)
