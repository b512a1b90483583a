"""Versioned schema migrations, applied once each and recorded in `schema_version`.

Conventions: money is TEXT (Decimal), times are REAL epoch seconds, booleans are INTEGER 0/1.
Never edit a released step; add a new one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import aiosqlite

# Version 1: the core tables.
V1: tuple[str, ...] = (
    """
    CREATE TABLE users (
        id                 INTEGER PRIMARY KEY,
        language           TEXT,
        auto_cancel        INTEGER NOT NULL DEFAULT 1,
        auto_cancel_margin INTEGER NOT NULL DEFAULT 60,
        timezone           TEXT    NOT NULL DEFAULT 'UTC',
        blocked            INTEGER NOT NULL DEFAULT 0,
        created_at         REAL    NOT NULL
    )
    """,
    """
    CREATE TABLE api_keys (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id     INTEGER NOT NULL REFERENCES users(id),
        label       TEXT    NOT NULL,
        base_url    TEXT    NOT NULL,
        api_key_enc BLOB    NOT NULL,
        active      INTEGER NOT NULL DEFAULT 0,
        balance     TEXT,
        currency    TEXT,
        created_at  REAL    NOT NULL,
        deleted_at  REAL
    )
    """,
    "CREATE INDEX ix_api_keys_user ON api_keys(user_id, deleted_at)",
    """
    CREATE TABLE purchase_tokens (
        token      TEXT    PRIMARY KEY,
        user_id    INTEGER NOT NULL,
        claimed_at REAL    NOT NULL
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE favourites (
        user_id INTEGER NOT NULL REFERENCES users(id),
        service TEXT    NOT NULL,
        country TEXT    NOT NULL DEFAULT '',  -- '' = any country
        PRIMARY KEY (user_id, service, country)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE recents (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,  -- larger id = more recent
        user_id INTEGER NOT NULL REFERENCES users(id),
        service TEXT    NOT NULL,
        country TEXT    NOT NULL,
        UNIQUE (user_id, service, country)
    )
    """,
    """
    CREATE TABLE activations (
        id                  INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id             INTEGER NOT NULL REFERENCES users(id),
        key_id              INTEGER NOT NULL REFERENCES api_keys(id),
        provider_id         TEXT    NOT NULL,
        service             TEXT    NOT NULL,
        country             TEXT    NOT NULL,
        phone               TEXT    NOT NULL,
        cost                TEXT,
        currency            TEXT,
        status              TEXT    NOT NULL DEFAULT 'waiting',
        sms_sent            INTEGER NOT NULL DEFAULT 0,
        round               INTEGER NOT NULL DEFAULT 0,
        created_at          REAL    NOT NULL,
        ends_at             REAL    NOT NULL,
        cancel_allowed_at   REAL    NOT NULL,
        cancel_requested    INTEGER NOT NULL DEFAULT 0,
        can_get_another_sms INTEGER,
        chat_id             INTEGER,
        message_id          INTEGER,
        next_poll_at        REAL    NOT NULL,
        ended_at            REAL,
        adopted             INTEGER NOT NULL DEFAULT 0,
        UNIQUE (key_id, provider_id)
    )
    """,
    """
    CREATE TABLE activation_codes (
        activation_id INTEGER NOT NULL REFERENCES activations(id) ON DELETE CASCADE,
        round         INTEGER NOT NULL,
        code          TEXT    NOT NULL,
        text          TEXT,
        received_at   REAL    NOT NULL,
        delivered     INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (activation_id, round)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE rentals (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id      INTEGER NOT NULL REFERENCES users(id),
        key_id       INTEGER NOT NULL REFERENCES api_keys(id),
        provider_id  TEXT    NOT NULL,
        service      TEXT    NOT NULL,
        country      TEXT    NOT NULL,
        phone        TEXT    NOT NULL,
        hours        INTEGER NOT NULL,
        cost         TEXT,
        status       TEXT    NOT NULL DEFAULT 'active',
        created_at   REAL    NOT NULL,
        ends_at      REAL    NOT NULL,
        chat_id      INTEGER,
        message_id   INTEGER,
        next_poll_at REAL    NOT NULL,
        ended_at     REAL,
        UNIQUE (key_id, provider_id)
    )
    """,
    """
    CREATE TABLE rental_sms (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        rental_id   INTEGER NOT NULL REFERENCES rentals(id) ON DELETE CASCADE,
        dedup_key   TEXT    NOT NULL,
        phone_from  TEXT    NOT NULL,
        text        TEXT    NOT NULL,
        date        TEXT,
        received_at REAL    NOT NULL,
        delivered   INTEGER NOT NULL DEFAULT 0,
        UNIQUE (rental_id, dedup_key)
    )
    """,
)

# Version 2: indexes for the tracker and paging, rental reminders, pending purchases.
V2: tuple[str, ...] = (
    # The tracker's per-tick queries: live rows due for a poll, already in next_poll_at order.
    # Partial indexes hold only live rows (ended ones pile up forever) and need no sort step;
    # the queries must repeat the exact same status IN (...) term for the planner to use them.
    "CREATE INDEX ix_activations_poll ON activations(next_poll_at)"
    " WHERE status IN ('waiting', 'retry', 'received')",
    "CREATE INDEX ix_rentals_poll ON rentals(next_poll_at) WHERE status IN ('active')",
    # A user's live and past numbers, newest first, with paging.
    "CREATE INDEX ix_activations_user ON activations(user_id, status, created_at)",
    "CREATE INDEX ix_rentals_user ON rentals(user_id, status, created_at)",
    # Reconciliation: everything live under one key.
    "CREATE INDEX ix_activations_key ON activations(key_id, status)",
    "CREATE INDEX ix_rentals_key ON rentals(key_id, status)",
    "CREATE INDEX ix_rental_sms_undelivered ON rental_sms(rental_id, delivered)",
    """
    CREATE TABLE rental_reminders (
        rental_id INTEGER NOT NULL REFERENCES rentals(id) ON DELETE CASCADE,
        mark      TEXT    NOT NULL,
        PRIMARY KEY (rental_id, mark)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE pending_purchases (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id     INTEGER NOT NULL REFERENCES users(id),
        key_id      INTEGER NOT NULL REFERENCES api_keys(id),
        service     TEXT    NOT NULL,
        country     TEXT    NOT NULL,
        chat_id     INTEGER,
        kind        TEXT    NOT NULL DEFAULT 'activation',
        created_at  REAL    NOT NULL,
        resolved_at REAL
    )
    """,
    "CREATE INDEX ix_pending_open ON pending_purchases(resolved_at)",
)

# The hardening release: one version per part, so each lands on its own.
# Version 3: users (blocked-the-bot apart from suspended), keys (ciphertext deleted).
V3: tuple[str, ...] = ()

# Version 4: purchase intents and offer-bound purchase tokens.
V4: tuple[str, ...] = ()

# Version 5: rental periods (what each period cost): the first rent and every extension, so a
# card can show what was paid in total and the history what each period cost.
V5: tuple[str, ...] = (
    """
    CREATE TABLE rental_periods (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,  -- larger id = later period
        rental_id INTEGER NOT NULL REFERENCES rentals(id) ON DELETE CASCADE,
        kind      TEXT    NOT NULL,  -- rent | extend
        hours     INTEGER NOT NULL,
        cost      TEXT,              -- NULL: the price was not known when it was paid
        currency  TEXT,
        paid_at   REAL    NOT NULL,
        ends_at   REAL    NOT NULL   -- the rental's end once this period was paid
    )
    """,
    "CREATE INDEX ix_rental_periods_rental ON rental_periods(rental_id, id)",
    # Rentals from before: one period with what is known (extensions were not priced then).
    "INSERT INTO rental_periods(rental_id, kind, hours, cost, currency, paid_at, ends_at)"
    " SELECT r.id, 'rent', r.hours, r.cost, k.currency, r.created_at, r.ends_at"
    " FROM rentals r LEFT JOIN api_keys k ON k.id = r.key_id",
)

# Version 6: spare, for whatever else the hardening needs.
V6: tuple[str, ...] = (
    # A status change whose answer was lost ("cancel", "another"): the card says "checking"
    # until the tracker's next answer settles it.
    "ALTER TABLE activations ADD COLUMN pending_change TEXT",
    # A number with a code is never cancelled: drop cancels once scheduled next to a code.
    "UPDATE activations SET cancel_requested = 0 WHERE cancel_requested = 1"
    " AND EXISTS (SELECT 1 FROM activation_codes c WHERE c.activation_id = activations.id)",
    # A key the provider stopped accepting (BAD_KEY): when the tracker first saw it, so the
    # user is told once, across restarts; cleared when the key works again.
    "ALTER TABLE api_keys ADD COLUMN revoked_at REAL",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (V1, V2, V3, V4, V5, V6)
LATEST_VERSION = len(MIGRATIONS)


async def _ensure_version_table(conn: aiosqlite.Connection) -> None:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
    )


async def current_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def migrate(
    conn: aiosqlite.Connection,
    *,
    target: int = LATEST_VERSION,
    steps: Sequence[Sequence[str]] = MIGRATIONS,
    clock: Callable[[], float] = time.time,
) -> list[int]:
    """Apply the missing steps up to `target`, each in its own transaction; return those applied.

    The connection must be in autocommit mode (isolation_level=None). BEGIN IMMEDIATE takes the
    write lock before the version is read, so two processes starting together apply each step
    exactly once.
    """
    await _ensure_version_table(conn)
    applied: list[int] = []
    for version in range(1, target + 1):
        await conn.execute("BEGIN IMMEDIATE")
        try:
            if await current_version(conn) >= version:
                await conn.execute("COMMIT")
                continue
            for statement in steps[version - 1]:
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO schema_version(version, applied_at) VALUES (?, ?)",
                (version, clock()),
            )
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied
