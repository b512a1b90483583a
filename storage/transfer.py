"""The one-shot copy of a SQLite install into an empty PostgreSQL database.

Every table is copied row by row in id (primary key) order, values exactly as stored: API keys
stay encrypted (the ciphertext is copied, never decrypted), so no secret is needed. The copy is
one PostgreSQL transaction: it lands whole or not at all. A second run finds the rows there
and copies nothing (the same counts: "already copied"; other rows: refused). Row counts are
compared table by table before the transaction commits."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg

from storage.dialect import Backend
from storage.migrations import LATEST_VERSION, current_version, migrate
from storage.pg import IDENTITY_TABLES, PgConnection

BATCH = 1000
# Values as the PostgreSQL column's type takes them (SQLite keeps what it was given).
_CONVERT: dict[str, Any] = {
    "bigint": int,
    "double precision": float,
    "text": str,
    "bytea": lambda value: value.encode() if isinstance(value, str) else bytes(value),
}


class TransferRefused(Exception):
    """Nothing was copied; the message says why (and holds no secret)."""


@dataclass(frozen=True)
class TableCopy:
    table: str
    rows: int


@dataclass(frozen=True)
class TransferReport:
    tables: tuple[TableCopy, ...]
    already_copied: bool  # a second run: the same rows were found there, nothing copied

    @property
    def rows(self) -> int:
        return sum(table.rows for table in self.tables)


async def _sqlite_rows(conn: aiosqlite.Connection, sql: str) -> list[Any]:
    return list(await conn.execute_fetchall(sql))


async def _tables_in_copy_order(conn: aiosqlite.Connection) -> list[str]:
    """The source's tables, each after the tables its foreign keys point to."""
    names = [
        str(row[0])
        for row in await _sqlite_rows(
            conn,
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite_%' AND name != 'schema_version' ORDER BY name",
        )
    ]
    parents = {
        name: {
            str(row[2])
            for row in await _sqlite_rows(conn, f"PRAGMA foreign_key_list({name})")
            if str(row[2]) != name
        }
        for name in names
    }
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and parents[n] <= set(ordered)]
        if not ready:
            raise TransferRefused("the source's foreign keys form a cycle")
        ordered.extend(ready)
    return ordered


async def _order_by(conn: aiosqlite.Connection, table: str) -> tuple[list[str], str]:
    info = await _sqlite_rows(conn, f"PRAGMA table_info({table})")
    columns = [str(row[1]) for row in info]
    key = [str(row[1]) for row in sorted(info, key=lambda row: row[5]) if row[5]]
    return columns, ", ".join(key or ["rowid"])


async def _pg_types(pg: asyncpg.Connection, table: str) -> dict[str, str]:
    rows = await pg.fetch(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = $1",
        table,
    )
    return {str(row[0]): str(row[1]) for row in rows}


def _converted(rows: Iterable[Sequence[Any]], types: list[str]) -> list[list[Any]]:
    converters = [_CONVERT.get(kind) for kind in types]
    return [
        [
            value if value is None or convert is None else convert(value)
            for value, convert in zip(row, converters, strict=True)
        ]
        for row in rows
    ]


async def _count(pg: asyncpg.Connection, table: str) -> int:
    return int(await pg.fetchval(f'SELECT COUNT(*) FROM "{table}"'))


async def copy_sqlite_to_postgres(source: Path, dsn: str) -> TransferReport:
    """Copy the SQLite database at `source` into the PostgreSQL database at `dsn` (its schema
    is created or upgraded first). Raises TransferRefused when nothing may be copied."""
    # Read-only: the source is never changed, whatever happens here.
    src = await aiosqlite.connect(f"file:{source}?mode=ro", uri=True)
    try:
        try:
            version = await current_version(src)
        except sqlite3.Error:
            raise TransferRefused(f"{source} is not a database of this bot") from None
        if version != LATEST_VERSION:
            raise TransferRefused(
                f"{source} is at schema version {version}, this bot at {LATEST_VERSION}:"
                " start the bot once on it (it upgrades the file), then copy"
            )
        tables = await _tables_in_copy_order(src)
        raw = await asyncpg.connect(dsn)
        pg = PgConnection(raw)
        try:
            await migrate(pg, backend=Backend.POSTGRES)
            return await _copy(src, raw, pg, tables)
        finally:
            await pg.close()
    finally:
        await src.close()


async def _copy(
    src: aiosqlite.Connection, raw: asyncpg.Connection, pg: PgConnection, tables: list[str]
) -> TransferReport:
    expected = {
        table: int((await _sqlite_rows(src, f'SELECT COUNT(*) FROM "{table}"'))[0][0])
        for table in tables
    }
    await pg.execute("BEGIN IMMEDIATE")  # the database's write lock: no bot writes meanwhile
    try:
        found = {table: await _count(raw, table) for table in tables}
        if any(found.values()):
            await pg.execute("ROLLBACK")
            if found == expected:
                return TransferReport(_report(tables, found), already_copied=True)
            busy = ", ".join(f"{table} ({rows})" for table, rows in found.items() if rows)
            raise TransferRefused(
                f"the PostgreSQL database already holds other rows: {busy}; nothing copied"
                " (copy into an empty database)"
            )
        for table in tables:
            await _copy_table(src, raw, table)
        await _restore_balances(src, raw)
        for table in sorted(IDENTITY_TABLES & set(tables)):
            # New rows continue after the copied ids.
            await raw.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            )
        copied = {table: await _count(raw, table) for table in tables}
        if copied != expected:
            wrong = ", ".join(
                f"{t}: {copied[t]} of {expected[t]}" for t in tables if copied[t] != expected[t]
            )
            raise TransferRefused(f"row counts differ after the copy ({wrong}); nothing copied")
    except BaseException:
        if raw.is_in_transaction():
            await pg.execute("ROLLBACK")
        raise
    await pg.execute("COMMIT")
    return TransferReport(_report(tables, copied), already_copied=False)


def _report(tables: list[str], counts: dict[str, int]) -> tuple[TableCopy, ...]:
    return tuple(TableCopy(table, counts[table]) for table in tables)


async def _copy_table(src: aiosqlite.Connection, raw: asyncpg.Connection, table: str) -> None:
    columns, order = await _order_by(src, table)
    types = await _pg_types(raw, table)
    missing = [column for column in columns if column not in types]
    if missing:
        raise TransferRefused(f"{table} has columns PostgreSQL's schema lacks: {missing}")
    names = ", ".join(f'"{column}"' for column in columns)
    slots = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
    insert = f'INSERT INTO "{table}" ({names}) VALUES ({slots})'
    kinds = [types[column] for column in columns]
    async with src.execute(f'SELECT {names} FROM "{table}" ORDER BY {order}') as cur:
        while batch := await cur.fetchmany(BATCH):
            await raw.executemany(insert, _converted(batch, kinds))


async def _restore_balances(src: aiosqlite.Connection, raw: asyncpg.Connection) -> None:
    """The schema's triggers forget a key's balance when a number is stored under it (money
    moved): copying the numbers fired them. The copy keeps what was stored."""
    rows = await _sqlite_rows(src, "SELECT id, balance FROM api_keys ORDER BY id")
    await raw.executemany(
        "UPDATE api_keys SET balance = $2 WHERE id = $1",
        [(int(key_id), None if balance is None else str(balance)) for key_id, balance in rows],
    )
