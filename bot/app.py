"""Composition root: settings, database, provider factory, use cases, dispatcher, tracker."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    EditMessageReplyMarkup,
    EditMessageText,
    GetUpdates,
    SendMessage,
    TelegramMethod,
)
from aiogram.methods.base import Response
from aiogram.types import Update
from redis.asyncio import Redis

from bot.accounts import AccountService
from bot.catalog import CatalogService
from bot.changes import Changes
from bot.config import Settings
from bot.favourites import FavouritesService
from bot.history import HistoryService
from bot.i18n import Translator
from bot.imports import ImportService
from bot.low_balance import LowBalanceService
from bot.metrics import Metrics
from bot.mydata import MyDataService
from bot.numbers import NumbersService
from bot.orders import OrderService
from bot.presets import address_policy
from bot.provider.factory import ProviderFactory
from bot.rates import RatesService
from bot.rentals import RentalService
from bot.replace import ReplaceService
from bot.settings import UserSettingsService
from bot.spending import SpendingService
from bot.tracker import Tracker, TrackerConfig
from bot.tracker.config import SHARED_CORE, Cadence
from bot.tracker.leases import KeyShare
from bot.watches import WatchConfig, WatchPoller, WatchService
from handlers import build_router, setup_middlewares
from handlers.fsm_storage import DatabaseStorage
from handlers.low_balance import LowBalanceSender
from handlers.middlewares import THROTTLE_BURST
from handlers.notifier import TelegramNotifier
from handlers.redis_fsm import OneReadPerUpdate, SharedRedisStorage
from handlers.redis_limits import RedisPromptClaims, RedisSendBudget, RedisThrottle
from handlers.send_queue import TELEGRAM_LIMITS, SendLimits, SendQueue
from handlers.watch_notifier import TelegramWatchNotifier
from storage import Database, KeyCipher, load_secrets

log = logging.getLogger(__name__)

# Updates alive in the process at once: handled, waiting for one of the dispatcher's
# UPDATES_IN_FLIGHT slots, or paced by the throttle. Past this many, polling fetches nothing
# and the webhook answers nothing until one finishes: Telegram keeps the rest, so a burst of
# thousands of taps never piles up in memory (each waiting update holds ~25 KB).
UPDATES_ALIVE = 500

_NOT_FOR_HANDLERS = frozenset({"changes", "webhook_secret", "redis"})

# Seconds a Redis request may take: past it, the throttle and the send budget fall back to the
# process's own and an FSM read fails into the "try again" answer, instead of an update hanging.
REDIS_TIMEOUT = 3.0


@dataclass
class Services:
    settings: Settings
    db: Database
    providers: ProviderFactory
    catalog: CatalogService
    accounts: AccountService
    orders: OrderService
    rentals: RentalService
    user_settings: UserSettingsService
    numbers: NumbersService
    favourites: FavouritesService
    spending: SpendingService
    history: HistoryService
    mydata: MyDataService
    auto_replace: ReplaceService
    watches: WatchService
    translator: Translator
    changes: Changes
    metrics: Metrics
    low_balance: LowBalanceService
    rates: RatesService
    imports: ImportService
    clock: Callable[[], float] = time.time
    # Set by build_dispatcher: the tracker rides the dispatcher's start-up and shutdown.
    tracker: Tracker | None = None
    notifier: TelegramNotifier | None = None
    watch_poller: WatchPoller | None = None  # rides the tracker's start-up and shutdown
    # WEBHOOK_SECRET, or one made up for this run by bot.web when it is not set.
    webhook_secret: str | None = None
    # REDIS_URL's client, shared by the FSM storage, the throttle, the send budget and the
    # change relay; None: everything stays in the process.
    redis: Redis | None = None

    def workflow_data(self) -> dict[str, object]:
        """What handlers may ask for by name (aiogram injects it): every field, each with the
        real type declared above, but the Changes port (use cases tell the tracker, handlers
        never do) and the webhook secret."""
        return {
            field.name: getattr(self, field.name)
            for field in fields(self)
            if field.name not in _NOT_FOR_HANDLERS
        }

    async def close(self) -> None:
        await self.providers.close()
        await self.db.close()
        if self.redis is not None:
            await self.redis.aclose()


async def build_services(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
    providers: ProviderFactory | None = None,
) -> Services:
    database = settings.database
    # The secret file's default place: next to the SQLite file (or to DATABASE_PATH).
    near = database.path or settings.database_path
    secrets = load_secrets(settings.secret_key, settings.secret_key_file, near)
    # Redis first: an unreachable one stops the start-up before the database is opened.
    redis = await open_redis(settings.redis_url) if settings.redis_url else None
    try:
        db = await Database.connect(database, KeyCipher(secrets), clock=clock)
    except BaseException:
        if redis is not None:
            await redis.aclose()
        raise
    metrics = Metrics()
    providers = providers or ProviderFactory(
        timeout=settings.provider_timeout,
        middlewares=[metrics.timing_middleware()],
        address_policy=address_policy(settings),
    )
    catalog = CatalogService(providers, clock=clock)
    changes = Changes()
    low_balance = LowBalanceService(db, clock)
    orders = OrderService(db, providers, clock=clock, changes=changes, low_balance=low_balance)
    rentals = RentalService(db, providers, clock=clock, changes=changes)
    return Services(
        settings=settings,
        db=db,
        providers=providers,
        catalog=catalog,
        accounts=AccountService(db, providers, low_balance=low_balance),
        orders=orders,
        rentals=rentals,
        user_settings=UserSettingsService(db),
        numbers=NumbersService(db),
        favourites=FavouritesService(db),
        spending=SpendingService(db, clock),
        history=HistoryService(db, clock=clock),
        mydata=MyDataService(db, orders, rentals, clock=clock),
        auto_replace=ReplaceService(db, orders, clock=clock, changes=changes, catalog=catalog),
        watches=WatchService(db, watch_config(settings), clock=clock),
        translator=Translator(),
        clock=clock,
        changes=changes,
        metrics=metrics,
        low_balance=low_balance,
        imports=ImportService(db, providers, clock, changes=changes),
        rates=RatesService(
            db,
            clock,
            min_samples=settings.rates_min_samples,
            window_days=settings.rates_window_days,
        ),
        redis=redis,
    )


async def open_redis(url: str) -> Redis:
    """A client for REDIS_URL, checked with one PING (a RedisError when it cannot answer)."""
    redis = Redis.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT,
        socket_connect_timeout=REDIS_TIMEOUT,
        health_check_interval=30,
    )
    try:
        await redis.ping()
    except BaseException:
        await redis.aclose()
        raise
    return redis


def redis_prefix(bot: Bot) -> str:
    """Where one bot's keys live in a Redis that several bots may share."""
    return f"sms-bot:{bot.id}"


def tracker_config(settings: Settings, cadence: Cadence = SHARED_CORE) -> TrackerConfig:
    """The tracker's settings: POLL_FAST and TRACKER_TICK when set, else the role's cadence."""
    return TrackerConfig(
        tick=settings.tracker_tick or cadence.tick,
        poll_fast=settings.poll_fast or cadence.poll_fast,
        poll_slow=settings.poll_slow,
        poll_settled=settings.poll_settled,
        fast_window=settings.poll_fast_window,
        poll_rental=settings.poll_rental,
        rps_per_key=settings.provider_rps,
    )


def watch_config(settings: Settings) -> WatchConfig:
    return WatchConfig(
        interval=settings.watch_interval,
        polls_per_pass=settings.watch_polls_per_pass,
        hours=settings.watch_hours,
    )


@dataclass
class Background:
    """The work beside the dispatcher: the Telegram send queue (the tracker hands it codes),
    the tracker and the watch poller. The queue starts first and stops last."""

    queue: SendQueue
    tracker: Tracker
    watch_poller: WatchPoller

    async def start(self) -> None:
        await self.queue.start()
        await self.tracker.start()
        await self.watch_poller.start()

    async def stop(self) -> None:
        await self.watch_poller.stop()
        await self.tracker.stop()
        await self.queue.stop()


def build_sending(
    services: Services, bot: Bot, *, send_limits: SendLimits = TELEGRAM_LIMITS
) -> tuple[SendQueue, TelegramNotifier]:
    """The Telegram send queue and the notifier (set on `services`: handlers resend cards
    through it), in every role that talks to Telegram."""
    metrics = services.metrics
    redis = services.redis
    prefix = redis_prefix(bot)
    queue = SendQueue(
        services.user_settings.mark_blocked,
        limits=send_limits,
        on_depth=metrics.send_queue_depth.set,
        on_drop=metrics.send_queue_dropped.inc,
        # Telegram's budget is the bot's, whichever process sends: shared through Redis.
        budget=RedisSendBudget(redis, prefix, send_limits) if redis is not None else None,
    )
    notifier = TelegramNotifier(
        bot,
        services.translator,
        services.catalog,
        orders=services.orders,
        rentals=services.rentals,
        queue=queue,
        clock=services.clock,
        settings=services.settings,
    )
    services.notifier = notifier
    services.low_balance.listen(LowBalanceSender(bot, services.translator).send)
    return queue, notifier


def build_background(
    services: Services,
    bot: Bot,
    *,
    send_limits: SendLimits = TELEGRAM_LIMITS,
    keys: KeyShare | None = None,
    cadence: Cadence = SHARED_CORE,
) -> Background:
    """The send queue, the notifier, the tracker (polling `keys`: every key when None) and the
    watch poller, set on `services` for the handlers and /healthz."""
    queue, notifier = build_sending(services, bot, send_limits=send_limits)
    tracker = Tracker(
        services.db.background(),  # its reads never queue with the handlers' reads
        services.providers,
        notifier,
        tracker_config(services.settings, cadence),
        clock=services.clock,
        changes=services.changes,
        metrics=services.metrics,
        replacer=services.auto_replace,
        keys=keys,
    )
    watch_poller = WatchPoller(
        services.db.background(),
        services.providers,
        services.orders,
        TelegramWatchNotifier(notifier),
        watch_config(services.settings),
        clock=services.clock,
    )
    services.tracker = tracker
    services.watch_poller = watch_poller
    return Background(queue, tracker, watch_poller)


def build_dispatcher(
    services: Services,
    bot: Bot,
    *,
    with_tracker: bool = True,
    web_only: bool = False,
    send_limits: SendLimits = TELEGRAM_LIMITS,
) -> Dispatcher:
    """The dispatcher with every router, middleware and dependency; the background work rides
    its hooks. `with_tracker=False` builds the tracker but leaves it stopped (tests tick it);
    `web_only` builds none (the web role: tracker workers run elsewhere) and only the send
    queue rides the hooks."""
    if web_only:
        queue, _notifier = build_sending(services, bot, send_limits=send_limits)
        start_work, stop_work = queue.start, queue.stop
    else:
        background = build_background(services, bot, send_limits=send_limits)
        start_work, stop_work = (
            (background.start, background.stop)
            if with_tracker
            else (background.queue.start, background.queue.stop)
        )
    # The dialogue state lives in the database (a restart keeps every screen awaiting input),
    # or in Redis when there is one: then every replica sees it.
    redis = services.redis
    prefix = redis_prefix(bot)
    throttle: RedisThrottle | None = None
    if redis is None:
        dp = Dispatcher(storage=DatabaseStorage(services.db))
    else:
        # The update's FSM reads are opened before aiogram's FSM middleware makes the first
        # (handlers.redis_fsm): aiogram's is attached after ours instead of by the constructor.
        # The first read takes the throttle's token in the same round trip.
        throttle = RedisThrottle(
            redis, prefix, rate=services.settings.throttle_rate, burst=THROTTLE_BURST
        )
        dp = Dispatcher(storage=SharedRedisStorage(redis, prefix, throttle), disable_fsm=True)
        dp.update.outer_middleware(OneReadPerUpdate())
        dp.update.outer_middleware(dp.fsm)
    dp.workflow_data.update(services.workflow_data())
    setup_middlewares(
        dp,
        services.settings,
        services.metrics.update_latency.observe,
        RedisPromptClaims(redis, prefix) if redis is not None else None,
    )
    dp.include_router(build_router(services.settings, shared_throttle=throttle))
    dp.startup.register(start_work)
    dp.shutdown.register(stop_work)
    return dp


async def run_polling(bot: Bot, dp: Dispatcher) -> None:
    """Long polling, with at most UPDATES_ALIVE updates taken from Telegram and not finished."""
    await dp.start_polling(bot, handle_signals=False, tasks_concurrency_limit=UPDATES_ALIVE)


# aiogram parses every Bot API answer as `Response[<the method's result type>]`, a pydantic
# generic class that pydantic caches only weakly: the next garbage collection drops it and the
# next call builds it again (about 4 ms of schema work, 4 % of a core at 10,000 numbers). The
# bot's frequent calls keep theirs for the life of the process.
_FREQUENT_CALLS: tuple[type[TelegramMethod[Any]], ...] = (
    GetUpdates,
    SendMessage,
    EditMessageText,
    EditMessageReplyMarkup,
    AnswerCallbackQuery,
    DeleteMessage,
)
ANSWER_TYPES = tuple(Response.__class_getitem__(call.__returning__) for call in _FREQUENT_CALLS)


def build_telegram_models() -> None:
    """Build the models of every update and of the frequent answers now, at start-up, rather
    than in the first handler that needs them (`bot.telegram_models` defers aiogram's models
    to their first use; with aiogram's own eager import they are built already)."""
    for model in (Update, *ANSWER_TYPES):
        if isinstance(model, type):  # (not a recursive reference: these are whole classes)
            model.model_rebuild()


def build_bot(settings: Settings) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(
        settings.bot_token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )
