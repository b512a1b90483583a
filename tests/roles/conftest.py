"""Fixtures of the roles tests: two "processes" (each its own Database, providers and
tracker) on one SQLite file, sharing the sandbox and the fake clock."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.fernet import Fernet

from bot.catalog import CatalogService
from bot.changes import Changes
from bot.orders import OrderService
from bot.provider.factory import ProviderFactory
from bot.replace import ReplaceService
from bot.tracker import Tracker, TrackerConfig
from bot.tracker.leases import KeyLeases
from storage import Database, KeyCipher
from storage.url import sqlite_url
from tests.bot.conftest import FAST, LOOPBACK_ALLOWED, RecordingNotifier
from tests.harness import sending


@dataclass
class Worker:
    """One tracker worker as its process holds it."""

    name: str
    db: Database
    providers: ProviderFactory
    notes: RecordingNotifier
    leases: KeyLeases
    tracker: Tracker
    changes: Changes
    orders: OrderService
    replace: ReplaceService  # the tracker's auto-replace (its chains, on the keys it holds)
    # API key -> provider requests this worker sent with it (counted at its HTTP client).
    requests: Counter[str] = field(default_factory=Counter)


def counting(requests: Counter[str]) -> aiohttp.ClientMiddlewareType:
    async def count(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        requests[request.url.query.get("api_key", "")] += 1
        return await handler(request)

    return count


@pytest.fixture
def secret() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "shared.db"


@pytest.fixture
def db_url(db_path: Path) -> str:
    """The workers' database: the shared SQLite file (a test module may name another)."""
    return sqlite_url(db_path)


@pytest.fixture
async def open_db(db_url: str, clock: Any, secret: str) -> AsyncIterator[Callable[[], Any]]:
    opened: list[Database] = []

    async def open_one() -> Database:
        db = await Database.connect(db_url, KeyCipher([secret]), clock=clock)
        opened.append(db)
        return db

    yield open_one
    for db in opened:
        await db.close()


@pytest.fixture
async def make_worker(open_db: Callable[[], Any], clock: Any) -> AsyncIterator[Callable[..., Any]]:
    made: list[Worker] = []

    async def make(name: str, config: TrackerConfig = FAST) -> Worker:
        db = await open_db()
        requests: Counter[str] = Counter()
        providers = ProviderFactory(
            timeout=5,
            read_retries=0,
            retry_delay=0.0,
            address_policy=LOOPBACK_ALLOWED,
            middlewares=[counting(requests)],
        )
        notes = RecordingNotifier()
        leases = KeyLeases(db.leases, name, clock=clock)
        changes = Changes()
        orders = OrderService(db, providers, clock, changes=changes)
        catalog = CatalogService(providers, clock=clock)
        replace = ReplaceService(db, orders, clock, changes=changes, catalog=catalog)
        tracker = sending(
            Tracker(
                db.background(),
                providers,
                notes,
                config,
                clock=clock,
                changes=changes,
                keys=leases,
                replacer=replace,
            )
        )
        leases.on_gain = tracker.took_over
        leases.before_release = tracker.let_go
        worker = Worker(
            name, db, providers, notes, leases, tracker, changes, orders, replace, requests
        )
        made.append(worker)
        return worker

    yield make
    for worker in made:
        await worker.tracker.stop()
        await worker.providers.close()
