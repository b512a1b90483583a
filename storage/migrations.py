"""Versioned schema migrations, applied once each and recorded in `schema_version`.

Conventions: money is TEXT (Decimal), times are REAL epoch seconds, booleans are INTEGER 0/1.
Never edit a released step; add a new one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from storage.base import Connection
from storage.dialect import Backend, ddl_to_postgres, to_postgres

# Version 1: the core tables.
V1: tuple[Statement, ...] = (
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
V2: tuple[Statement, ...] = (
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
# Version 3: users (blocked-the-bot apart from suspended), keys (ciphertext deleted, balance
# forgotten when money moves), dialogue state that survives a restart.
_KEY_LIVE_NUMBERS = (
    # A key is still needed while a number bought with it is live or a purchase is unresolved:
    # the tracker polls, cancels and reconciles with it.
    "SELECT key_id FROM activations WHERE status IN ('waiting', 'retry', 'received')"
    " UNION ALL SELECT key_id FROM rentals WHERE status IN ('active')"
    " UNION ALL SELECT key_id FROM pending_purchases WHERE resolved_at IS NULL"
)


def _erase_retired_secret(key_id: str) -> str:
    """The one rule for erasing a deleted key's ciphertext: once nothing live needs it.
    The row stays (history shows its label); only the secret goes."""
    return (
        "UPDATE api_keys SET api_key_enc = X'' WHERE id = " + key_id + " AND deleted_at IS NOT NULL"
        " AND length(api_key_enc) > 0 AND id NOT IN (SELECT key_id FROM key_in_use);"
    )


def _forget_balance(key_id: str) -> str:
    """Money moved under this key: its stored balance is no longer true (shown as unknown and
    asked again when next displayed)."""
    # Only when it is known: rewriting a NULL with NULL still writes the key's row (on
    # PostgreSQL a new row version per purchase, under every purchase's concurrency).
    return "UPDATE api_keys SET balance = NULL WHERE id = " + key_id + " AND balance IS NOT NULL;"


@dataclass(frozen=True)
class PerBackend:
    """A schema statement whose SQLite and PostgreSQL forms differ in more than spelling."""

    sqlite: str
    postgres: tuple[str, ...]


Statement = str | PerBackend


def _trigger(name: str, event: str, when: str | None, body: str) -> PerBackend:
    """A row trigger running `body` (statements ending in ";"). PostgreSQL runs a trigger's
    statements from a function of their own, and spells `IS NOT` between values
    `IS DISTINCT FROM`."""
    sqlite_when = "" if when is None else f" WHEN {when}"
    pg_when = (
        "" if when is None else f" WHEN ({when.replace(' IS NOT OLD.', ' IS DISTINCT FROM OLD.')})"
    )
    return PerBackend(
        sqlite=f"CREATE TRIGGER {name} {event}{sqlite_when} BEGIN {body} END",
        postgres=(
            _trigger_function("CREATE", name, body),
            f"CREATE TRIGGER {name} {event} FOR EACH ROW{pg_when} EXECUTE FUNCTION {name}()",
        ),
    )


def _trigger_function(verb: str, name: str, body: str) -> str:
    """PostgreSQL: the function a trigger runs (`verb`: CREATE, or CREATE OR REPLACE)."""
    return (
        f"{verb} FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $body$"
        f" BEGIN {body} RETURN NULL; END $body$"
    )


def _retrigger(name: str, event: str, when: str | None, body: str) -> tuple[PerBackend, ...]:
    """A trigger made by `_trigger` in an earlier step, now running `body`: SQLite drops and
    creates it again; on PostgreSQL replacing its function is enough (the trigger stays)."""
    made = _trigger(name, event, when, body)
    return (
        PerBackend(sqlite=f"DROP TRIGGER {name}", postgres=()),
        PerBackend(
            sqlite=made.sqlite, postgres=(_trigger_function("CREATE OR REPLACE", name, body),)
        ),
    )


def statements_for(step: Sequence[Statement], backend: Backend) -> list[str]:
    """The statements of one migration step as `backend` runs them."""
    statements: list[str] = []
    for statement in step:
        if isinstance(statement, PerBackend):
            if backend is Backend.SQLITE:
                statements.append(statement.sqlite)
            else:
                statements.extend(to_postgres(text) for text in statement.postgres)
        elif backend is Backend.SQLITE:
            statements.append(statement)
        else:
            statements.append(ddl_to_postgres(statement))
    return statements


# The triggers that forget a key's balance when money moved under it (name, event, when).
_BALANCE_MOVES: tuple[tuple[str, str, str | None], ...] = (
    ("balance_after_purchase", "AFTER INSERT ON activations", None),
    (
        "balance_after_activation_end",
        "AFTER UPDATE OF status ON activations",
        "NEW.status IS NOT OLD.status AND NEW.status NOT IN ('waiting', 'retry', 'received')",
    ),
    ("balance_after_rent", "AFTER INSERT ON rentals", None),
    (
        "balance_after_rental_change",
        "AFTER UPDATE OF status, ends_at ON rentals",
        "NEW.status IS NOT OLD.status OR NEW.ends_at IS NOT OLD.ends_at",
    ),
)


V3: tuple[Statement, ...] = (
    # 4. "Blocked the bot" (`blocked`: Telegram refused a message; cleared when the user is
    # back) and "suspended" (the operator's decision) are two facts. Only a Forbidden answer
    # ever set `blocked`, so what it holds keeps its meaning.
    "ALTER TABLE users ADD COLUMN suspended INTEGER NOT NULL DEFAULT 0",
    # 36. Deleting a key erases its ciphertext (at once, or when its last live number ends).
    f"CREATE VIEW key_in_use(key_id) AS {_KEY_LIVE_NUMBERS}",
    _trigger(
        "erase_secret_on_delete",
        "AFTER UPDATE OF deleted_at ON api_keys",
        "NEW.deleted_at IS NOT NULL",
        _erase_retired_secret("NEW.id"),
    ),
    _trigger(
        "erase_secret_after_activation",
        "AFTER UPDATE OF status ON activations",
        "NEW.status NOT IN ('waiting', 'retry', 'received')",
        _erase_retired_secret("NEW.key_id"),
    ),
    _trigger(
        "erase_secret_after_rental",
        "AFTER UPDATE OF status ON rentals",
        "NEW.status NOT IN ('active')",
        _erase_retired_secret("NEW.key_id"),
    ),
    _trigger(
        "erase_secret_after_pending",
        "AFTER UPDATE OF resolved_at ON pending_purchases",
        "NEW.resolved_at IS NOT NULL",
        _erase_retired_secret("NEW.key_id"),
    ),
    "UPDATE api_keys SET api_key_enc = X'' WHERE deleted_at IS NOT NULL"
    " AND id NOT IN (SELECT key_id FROM key_in_use)",
    # 7. Whatever the bot spends or gets back makes the stored balance unknown: a purchase, a
    # rent, an extension, and every end of a number (a cancel or an expiry refunds).
    *(_trigger(*when, _forget_balance("NEW.key_id")) for when in _BALANCE_MOVES),
    # 35. aiogram's dialogue state (which screen awaits input, and its data), per chat and user.
    """
    CREATE TABLE fsm_states (
        bot_id    INTEGER NOT NULL,
        chat_id   INTEGER NOT NULL,
        user_id   INTEGER NOT NULL,
        thread_id INTEGER NOT NULL DEFAULT 0,
        business  TEXT    NOT NULL DEFAULT '',
        destiny   TEXT    NOT NULL DEFAULT 'default',
        state     TEXT,
        data      TEXT    NOT NULL DEFAULT '{}',
        PRIMARY KEY (bot_id, chat_id, user_id, thread_id, business, destiny)
    ) WITHOUT ROWID
    """,
)

# Version 4: purchase intents and offer-bound purchase tokens.
V4: tuple[Statement, ...] = (
    # A token is issued with the confirm screen, bound to its user and to the offer it showed
    # (`offer`, see storage.tokens.offer_key), and claimable once until `expires_at`.
    """
    CREATE TABLE offer_tokens (
        token      TEXT    PRIMARY KEY,
        user_id    INTEGER NOT NULL,
        offer      TEXT    NOT NULL,
        price      TEXT,   -- the price the screen showed, copied to the intent on claim
        expires_at REAL    NOT NULL,
        claimed_at REAL
    ) WITHOUT ROWID
    """,
    "CREATE INDEX ix_offer_tokens_expiry ON offer_tokens(expires_at)",
    # Claimed-only tokens of V1 cannot be checked against an offer: every old button is stale.
    "DROP TABLE purchase_tokens",
    # pending_purchases becomes the purchase intent: written (with its token claimed) BEFORE the
    # provider is called, resolved with an outcome when the answer, or reconciliation, tells.
    "ALTER TABLE pending_purchases ADD COLUMN token TEXT",
    "ALTER TABLE pending_purchases ADD COLUMN max_price TEXT",
    "ALTER TABLE pending_purchases ADD COLUMN expected_cost TEXT",
    "ALTER TABLE pending_purchases ADD COLUMN hours INTEGER",
    "ALTER TABLE pending_purchases ADD COLUMN rental_id INTEGER",
    "ALTER TABLE pending_purchases ADD COLUMN message_id INTEGER",
    "ALTER TABLE pending_purchases ADD COLUMN balance_before TEXT",
    "ALTER TABLE pending_purchases ADD COLUMN unknown_at REAL",
    "ALTER TABLE pending_purchases ADD COLUMN outcome TEXT",
    "ALTER TABLE pending_purchases ADD COLUMN provider_id TEXT",
    "UPDATE pending_purchases SET kind = 'rent' WHERE kind = 'rental'",
    # Rows of V2 were written only after an unknown outcome.
    "UPDATE pending_purchases SET unknown_at = created_at",
    "UPDATE pending_purchases SET outcome = 'unknown' WHERE resolved_at IS NOT NULL",
    "DROP INDEX ix_pending_open",
    "CREATE INDEX ix_pending_open ON pending_purchases(outcome, resolved_at)",
)

# Version 5: rental periods (what each period cost): the first rent and every extension, so a
# card can show what was paid in total and the history what each period cost.
V5: tuple[Statement, ...] = (
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
V6: tuple[Statement, ...] = (
    # A status change whose answer was lost ("cancel", "another"): the card says "checking"
    # until the tracker's next answer settles it.
    "ALTER TABLE activations ADD COLUMN pending_change TEXT",
    # A number with a code is never cancelled: drop cancels once scheduled next to a code.
    "UPDATE activations SET cancel_requested = 0 WHERE cancel_requested = 1"
    " AND EXISTS (SELECT 1 FROM activation_codes c WHERE c.activation_id = activations.id)",
    # A key the provider stopped accepting (BAD_KEY): when the tracker first saw it, so the
    # user is told once, across restarts; cleared when the key works again.
    "ALTER TABLE api_keys ADD COLUMN revoked_at REAL",
    # A rent intent: the key's rental ids (JSON list) just before the purchase, where the
    # provider lists rentals (getRentList); a lost answer is then found as the one new id.
    "ALTER TABLE pending_purchases ADD COLUMN rent_snapshot TEXT",
)

# Version 7: the history (every number of a user, newest first, both kinds merged): each kind
# is walked in (user, time) order and stopped after a page, instead of sorting all of a user's
# rows on every tap.
V7: tuple[Statement, ...] = (
    "CREATE INDEX ix_activations_user_time ON activations(user_id, created_at)",
    "CREATE INDEX ix_rentals_user_time ON rentals(user_id, created_at)",
)

# Version 8: spending at a glance reads what was paid in a period, for one user or the whole
# bot (the operator's /stats chart): by purchase time, without scanning the whole history.
V8: tuple[Statement, ...] = (
    "CREATE INDEX ix_activations_created ON activations(created_at)",
    "CREATE INDEX ix_rental_periods_paid ON rental_periods(paid_at)",
)

# Version 9: a favourite remembers which suppliers (or operator) its numbers may come from
# (`PurchaseFilter.code()`: "" any, "p12" only, "x12" except, "omts" operator).
V9: tuple[Statement, ...] = ("ALTER TABLE favourites ADD COLUMN choice TEXT NOT NULL DEFAULT ''",)

# Version 10: auto-replace. A chain (one offer bought again while its numbers stay silent) and
# its cap live here, so the cap holds across processes and restarts: `reserved` is the worst
# case of the step in flight (written before the provider is called), `spent` what its
# numbers were charged. Each number a chain bought is linked to it (the card's "attempt 2 of
# 3"); each user's defaults for new purchases have a row of their own.
V10: tuple[Statement, ...] = (
    """
    CREATE TABLE replace_defaults (
        user_id        INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        enabled        INTEGER NOT NULL DEFAULT 0,
        after_seconds  INTEGER NOT NULL DEFAULT 300,
        attempts       INTEGER NOT NULL DEFAULT 3,
        cap            TEXT,
        next_country   INTEGER NOT NULL DEFAULT 0
    )
    """,
    """
    CREATE TABLE replace_chains (
        id             INTEGER PRIMARY KEY,
        user_id        INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        key_id         INTEGER NOT NULL,
        service        TEXT NOT NULL,
        country        TEXT NOT NULL,
        max_price      TEXT,
        chat_id        INTEGER,
        after_seconds  INTEGER NOT NULL,
        attempts_max   INTEGER NOT NULL,
        attempts_used  INTEGER NOT NULL,
        cap            TEXT NOT NULL,
        spent          TEXT NOT NULL DEFAULT '0',
        reserved       TEXT,
        step_token     TEXT,
        intent_id      INTEGER,
        activation_id  INTEGER,
        state          TEXT NOT NULL DEFAULT 'active',
        reason         TEXT,
        next_country   INTEGER NOT NULL DEFAULT 0,
        countries_tried TEXT NOT NULL DEFAULT '[]',
        choice         TEXT NOT NULL DEFAULT '',
        created_at     REAL NOT NULL,
        updated_at     REAL NOT NULL
    )
    """,
    "CREATE INDEX ix_replace_chains_state ON replace_chains(state)",
    "CREATE INDEX ix_replace_chains_user ON replace_chains(user_id)",
    """
    CREATE TABLE replace_links (
        activation_id  INTEGER PRIMARY KEY REFERENCES activations(id) ON DELETE CASCADE,
        chain_id       INTEGER NOT NULL REFERENCES replace_chains(id) ON DELETE CASCADE,
        attempt        INTEGER NOT NULL
    )
    """,
    "CREATE INDEX ix_replace_links_chain ON replace_links(chain_id)",
)

# Version 11: watches ("tell me when <service> in <country> is in stock, at most <price>"): one
# row per watch, armed until it fires once, expires, or is removed; the poller reads the armed
# ones by (state, expires_at). A watch goes with its user and its key (ON DELETE CASCADE).
V11: tuple[Statement, ...] = (
    """
    CREATE TABLE watches (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        key_id     INTEGER NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
        service    TEXT    NOT NULL,
        country    TEXT    NOT NULL,
        max_price  TEXT,                          -- NULL: any price
        auto_buy   INTEGER NOT NULL DEFAULT 0,    -- buy one number (at most max_price) once
        chat_id    INTEGER,
        created_at REAL    NOT NULL,
        expires_at REAL    NOT NULL,
        state      TEXT    NOT NULL DEFAULT 'armed',
        fired_at   REAL,
        price      TEXT                           -- the price it fired at
    )
    """,
    "CREATE INDEX ix_watches_state ON watches(state, expires_at)",
    "CREATE INDEX ix_watches_user ON watches(user_id, state)",
)

# Version 12: success rates read one service's numbers of the last days, country by country
# (all users, counts only); a key's low-balance threshold and when its notice was last sent
# (so a restart does not repeat it).
V12: tuple[Statement, ...] = (
    "CREATE INDEX ix_activations_offer_time ON activations(service, created_at, country, status)",
    "ALTER TABLE api_keys ADD COLUMN low_balance TEXT",
    "ALTER TABLE api_keys ADD COLUMN low_balance_noticed_at REAL",
)

# Several processes on one database: tracker workers split the API keys by leases (a key is
# polled by the worker whose lease on it has not expired), announce themselves so each claims
# its share, and the web role hands what its use cases changed to the trackers through a feed.
V13: tuple[Statement, ...] = (
    """
    CREATE TABLE key_leases (
        key_id     INTEGER PRIMARY KEY REFERENCES api_keys(id) ON DELETE CASCADE,
        worker     TEXT NOT NULL,
        expires_at REAL NOT NULL
    )
    """,
    "CREATE INDEX ix_key_leases_worker ON key_leases(worker)",
    """
    CREATE TABLE tracker_workers (
        worker     TEXT PRIMARY KEY,
        since      REAL NOT NULL,
        expires_at REAL NOT NULL
    )
    """,
    """
    CREATE TABLE change_feed (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        kind   TEXT NOT NULL,
        row_id INTEGER NOT NULL,
        at     REAL NOT NULL
    )
    """,
)

# The balance triggers forget a balance only when one is known (`_forget_balance`): a purchase
# on a key whose balance is already unknown no longer writes the key's row.
V14: tuple[Statement, ...] = tuple(
    statement
    for when in _BALANCE_MOVES
    for statement in _retrigger(*when, _forget_balance("NEW.key_id"))
)

# The tracker keeps its schedule and next polls in memory (`bot.tracker.timing`): no query
# orders live numbers by their next poll any more, and the index only made the planner read
# it whole as a list of live rows. It reads live numbers by id: all of them at start, the
# ones stored since at every pass (`live`, `live_after`, with the same status IN term).
V15: tuple[Statement, ...] = (
    "DROP INDEX IF EXISTS ix_activations_poll",
    "CREATE INDEX ix_activations_live ON activations(id)"
    " WHERE status IN ('waiting', 'retry', 'received')",
)

MIGRATIONS: tuple[tuple[Statement, ...], ...] = (
    V1,
    V2,
    V3,
    V4,
    V5,
    V6,
    V7,
    V8,
    V9,
    V10,
    V11,
    V12,
    V13,
    V14,
    V15,
)
LATEST_VERSION = len(MIGRATIONS)


_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
)


async def _ensure_version_table(conn: Connection, backend: Backend) -> None:
    if backend is Backend.SQLITE:
        await conn.execute(_VERSION_TABLE)
        return
    # Two PostgreSQL sessions creating the same table at once: one fails. Under the write lock
    # (see storage.pg) the second finds it made.
    await conn.execute("BEGIN IMMEDIATE")
    try:
        await conn.execute(ddl_to_postgres(_VERSION_TABLE))
    except BaseException:
        await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")


async def current_version(conn: Connection) -> int:
    async with conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def migrate(
    conn: Connection,
    *,
    target: int = LATEST_VERSION,
    steps: Sequence[Sequence[Statement]] = MIGRATIONS,
    clock: Callable[[], float] = time.time,
    backend: Backend = Backend.SQLITE,
) -> list[int]:
    """Apply the missing steps up to `target`, each in its own transaction; return those applied.

    The connection must be in autocommit mode (isolation_level=None). BEGIN IMMEDIATE takes the
    write lock before the version is read (on PostgreSQL too, see storage.pg), so two
    processes starting together apply each step exactly once.
    """
    await _ensure_version_table(conn, backend)
    applied: list[int] = []
    for version in range(1, target + 1):
        await conn.execute("BEGIN IMMEDIATE")
        try:
            if await current_version(conn) >= version:
                await conn.execute("COMMIT")
                continue
            for statement in statements_for(steps[version - 1], backend):
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
