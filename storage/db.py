"""Database: the one place that opens, migrates and closes the database: a SQLite file (the
default) or a PostgreSQL server (storage.pg), chosen by its URL (storage.url)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import aiosqlite
import asyncpg

from storage.activations import ActivationRepo
from storage.base import Connection, Store, WriteLock, sql_in
from storage.chains import ChainRepo
from storage.crypto import KeyCipher, SecretMismatch
from storage.dialect import Backend
from storage.feed import FeedRepo
from storage.fsm import FsmRepo
from storage.history import HistoryRepo
from storage.keys import KeyRepo
from storage.leases import LeaseRepo
from storage.migrations import migrate
from storage.models import ACTIVATION_LIVE, RENTAL_LIVE, DatabaseCounts
from storage.pending import PendingRepo
from storage.pg import PgConnection, PgPool, keep_session
from storage.picks import PickRepo
from storage.rates import RatesRepo
from storage.rentals import RentalRepo
from storage.spending import SpendingRepo
from storage.tokens import TokenRepo
from storage.url import DatabaseUrl, parse_database_url
from storage.userdata import UserDataRepo
from storage.users import UserRepo
from storage.watches import WatchRepo

BUSY_TIMEOUT_MS = 5000
# One statement, one round trip: the counts are read at every /metrics scrape.
_COUNTS_SQL = f"""
SELECT
    (SELECT COUNT(*) FROM activations WHERE status IN {sql_in(ACTIVATION_LIVE)}),
    (SELECT COUNT(*) FROM rentals WHERE status IN {sql_in(RENTAL_LIVE)}),
    (SELECT COUNT(*) FROM users),
    (SELECT COUNT(*) FROM pending_purchases WHERE outcome IS NULL),
    (SELECT COUNT(*) FROM activation_codes WHERE delivered = 1),
    (SELECT COUNT(*) FROM rental_sms WHERE delivered = 1),
    (SELECT COUNT(*) FROM activations),
    (SELECT COUNT(*) FROM rentals)
"""
WAL_ATTEMPTS = 50
# PostgreSQL: read sessions per pool (one pool for the handlers, one for the background work),
# and how long a start-up waits for the server.
PG_READERS = 4
# Sessions for side writes (Store.side_write), shared by the handlers and the background work:
# one round trip each, so a few keep up with hundreds a second; more sessions cost the server
# a backend each and made a busy machine slower (docs/performance.md).
PG_SIDE_WRITERS = 3
PG_CONNECT_TIMEOUT = 10.0


async def _enable_wal(conn: aiosqlite.Connection) -> None:
    """Switch to WAL. On a brand-new file two instances starting together can make SQLite
    answer "database is locked" at once, without waiting on busy_timeout; retry briefly."""
    for attempt in range(WAL_ATTEMPTS):
        try:
            async with conn.execute("PRAGMA journal_mode=WAL") as cur:
                row = await cur.fetchone()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == WAL_ATTEMPTS - 1:
                raise
            await asyncio.sleep(0.01 * (attempt + 1))
            continue
        if row is None or str(row[0]).lower() != "wal":
            raise RuntimeError("SQLite refused WAL journal mode for this database file")
        return


async def _pg_pool(dsn: str, size: int, **settings: str) -> asyncpg.Pool:
    """A pool of up to `size` sessions with these server settings, no reset round trip on
    release (storage.pg.keep_session)."""
    return await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=size,
        timeout=PG_CONNECT_TIMEOUT,
        reset=keep_session,
        server_settings=settings,
    )


def _make_private(path: Path) -> None:
    """The database holds phone numbers and codes: owner-only (0600) from the moment it exists.

    SQLite creates the -wal and -shm files with the database file's permissions, so creating
    the file first, private, covers them; files an older version left world-readable are
    tightened too."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            os.chmod(file, 0o600)


async def _open_reader(path: Path) -> aiosqlite.Connection:
    """A connection for plain reads: it can write nothing (query_only), and under WAL it reads
    what is committed without waiting for the writer."""
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA query_only=ON")
    except BaseException:
        await conn.close()
        raise
    return conn


class Database:
    """The repositories over one SQLite file: one writer connection (every write, under one
    lock) and read connections, one for the handlers' reads and one for the background work's
    (`background()`), so neither side's reads queue behind or ahead of the other's."""

    users: UserRepo
    keys: KeyRepo
    tokens: TokenRepo
    activations: ActivationRepo
    rentals: RentalRepo
    picks: PickRepo
    pending: PendingRepo
    fsm: FsmRepo
    spending: SpendingRepo
    history: HistoryRepo
    userdata: UserDataRepo
    chains: ChainRepo
    watches: WatchRepo
    rates: RatesRepo
    leases: LeaseRepo
    feed: FeedRepo

    def __init__(
        self,
        store: Store,
        cipher: KeyCipher,
        path: Path | None,
        *,
        connections: tuple[Connection, ...],
        background: Store | None = None,
        location: str | None = None,
    ) -> None:
        self.path = path
        # What messages may name: the file's name, or the server's URL without its password.
        self.location = location or (path.name if path is not None else "the database")
        self.backend = store.backend
        self._conn = store.conn
        self._store = store
        self._connections = connections
        self.users = UserRepo(store)
        self.keys = KeyRepo(store, cipher)
        self.tokens = TokenRepo(store)
        self.activations = ActivationRepo(store)
        self.rentals = RentalRepo(store)
        self.picks = PickRepo(store)
        self.pending = PendingRepo(store)
        self.fsm = FsmRepo(store)
        self.spending = SpendingRepo(store)
        self.history = HistoryRepo(store)
        self.userdata = UserDataRepo(store)
        self.chains = ChainRepo(store)
        self.watches = WatchRepo(store)
        self.rates = RatesRepo(store)
        self.leases = LeaseRepo(store)
        self.feed = FeedRepo(store)
        self._background = (
            self
            if background is None
            else Database(background, cipher, path, connections=connections, location=location)
        )

    @classmethod
    async def connect(
        cls, url: str | DatabaseUrl, cipher: KeyCipher, *, clock: Callable[[], float] = time.time
    ) -> Database:
        """Open the database a DATABASE_URL names (see storage.url)."""
        target = url if isinstance(url, DatabaseUrl) else parse_database_url(url)
        if target.backend is Backend.SQLITE:
            assert target.path is not None
            return await cls.open(target.path, cipher, clock=clock)
        assert target.dsn is not None
        return await cls.open_postgres(target.dsn, cipher, clock=clock)

    @classmethod
    async def open_postgres(
        cls, dsn: str, cipher: KeyCipher, *, clock: Callable[[], float] = time.time
    ) -> Database:
        """Connect, migrate, and check the secret, on a PostgreSQL server: one writer session
        (this process's writes, one at a time under Store's lock, as on SQLite), two pools of
        read-only sessions (handlers, background) and one of sessions for side writes."""
        location = parse_database_url(dsn).redacted()
        # The writer: one session (this process's writes are one at a time anyway), from a
        # pool so that a session lost with the server is replaced. Its commits do not wait
        # for the log's flush to disk (synchronous_commit off): the durability SQLite gives
        # with WAL and synchronous=NORMAL (a commit survives the bot's crash; the server's
        # or the machine's may lose the last fraction of a second, never consistency). A
        # flush per commit would be made under the write lock every process waits for: a
        # lone write took 1.2 ms instead of 0.4 ms on the benchmark machine.
        writer = PgConnection(await _pg_pool(dsn, 1, synchronous_commit="off"))
        opened: list[Connection] = [writer]
        try:
            await migrate(writer, clock=clock, backend=Backend.POSTGRES)
            for _ in ("handlers", "background"):
                opened.append(
                    PgPool(await _pg_pool(dsn, PG_READERS, default_transaction_read_only="on"))
                )
            side = PgPool(await _pg_pool(dsn, PG_SIDE_WRITERS, synchronous_commit="off"))
            opened.append(side)
            lock = WriteLock()
            backend = Backend.POSTGRES
            db = cls(
                Store(writer, clock, reader=opened[1], lock=lock, backend=backend, side=side),
                cipher,
                None,
                connections=tuple(opened),
                background=Store(
                    writer, clock, reader=opened[2], lock=lock, backend=backend, side=side
                ),
                location=location,
            )
            await db._check_secret(cipher)
        except BaseException:
            for opened_conn in opened:
                await opened_conn.close()
            raise
        return db

    @classmethod
    async def open(
        cls, path: Path | str, cipher: KeyCipher, *, clock: Callable[[], float] = time.time
    ) -> Database:
        """Open (creating if needed), configure, migrate, and check the secret.

        Raises SecretMismatch when a stored key cannot be decrypted with `cipher`.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        _make_private(path)
        # isolation_level=None: autocommit; transactions are explicit BEGIN IMMEDIATE.
        conn = await aiosqlite.connect(path, isolation_level=None)
        opened = [conn]
        try:
            await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            await _enable_wal(conn)
            await conn.execute("PRAGMA foreign_keys=ON")
            # Overwrite what is deleted (an erased key's ciphertext) instead of leaving it in
            # free space of the file.
            await conn.execute("PRAGMA secure_delete=ON")
            await conn.execute("PRAGMA synchronous=NORMAL")  # safe with WAL, much faster
            await migrate(conn, clock=clock)
            handlers_reader = await _open_reader(path)
            opened.append(handlers_reader)
            background_reader = await _open_reader(path)
            opened.append(background_reader)
            lock = WriteLock()  # one writer: one lock, whoever writes
            db = cls(
                Store(conn, clock, reader=handlers_reader, lock=lock),
                cipher,
                path,
                connections=tuple(opened),
                background=Store(conn, clock, reader=background_reader, lock=lock),
            )
            await db._check_secret(cipher)
        except BaseException:
            for opened_conn in opened:
                await opened_conn.close()
            raise
        return db

    def background(self) -> Database:
        """The same database for the tracker: its reads on a connection of their own, its
        writes through the one writer and its lock."""
        return self._background

    async def _check_secret(self, cipher: KeyCipher) -> None:
        sample = await self.keys.first_encrypted()
        if sample is None:
            return
        try:
            cipher.decrypt(sample)
        except SecretMismatch:
            raise SecretMismatch(
                f"API keys stored in {self.location} cannot be decrypted with the configured "
                "SECRET_KEY / secret file (was the secret changed? put the new one in front: "
                "SECRET_KEY=new,old)"
            ) from None

    async def close(self) -> None:
        for conn in self._connections:
            await conn.close()

    async def schema_version(self) -> int:
        value = await self._store.scalar("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        return int(value or 0)

    async def counts(self) -> DatabaseCounts:
        """How many numbers are live, users known, codes delivered, ... (for /metrics)."""
        row = await self._store.fetchone(_COUNTS_SQL)
        assert row is not None  # a SELECT without FROM always returns its one row
        return DatabaseCounts(*(int(value or 0) for value in row))

    @property
    def connection(self) -> Connection:
        """The raw writer connection, for tests and benchmarks only."""
        return self._conn

    @property
    def connections(self) -> tuple[Connection, ...]:
        """Every connection (the writer first), for tests that trace statements."""
        return self._connections
