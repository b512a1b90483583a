"""`python -m bot migrate-db --to postgresql://…`: copy the configured SQLite install (or
`--from sqlite:///…`) into an empty PostgreSQL database (storage.transfer), then print what was
copied. Nothing printed holds a secret: URLs are shown without their password, and API keys
are copied encrypted, as stored."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from collections.abc import Sequence

import asyncpg

from bot.config import SettingsError, load_settings
from storage.dialect import Backend
from storage.transfer import TransferRefused, TransferReport, copy_sqlite_to_postgres
from storage.url import DatabaseUrl, DatabaseUrlError, parse_database_url

COMMAND = "migrate-db"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m bot {COMMAND}",
        description="Copy the bot's SQLite database into an empty PostgreSQL database.",
    )
    parser.add_argument("--to", required=True, help="postgresql://user:password@host:port/db")
    parser.add_argument(
        "--from",
        dest="source",
        help="sqlite:///path/to/bot.db (default: DATABASE_URL, else DATABASE_PATH)",
    )
    return parser


def _source(given: str | None) -> DatabaseUrl:
    if given is not None:
        return parse_database_url(given)
    return load_settings().database


def summary(report: TransferReport, source: DatabaseUrl, target: DatabaseUrl) -> str:
    """What was copied, table by table, without any secret."""
    head = (
        f"already copied: {target} holds the {report.rows} rows of {source}; nothing copied again"
        if report.already_copied
        else f"copied {source} -> {target}"
    )
    width = max((len(table.table) for table in report.tables), default=0)
    lines = [head]
    for table in report.tables:
        note = "  (API keys encrypted, as stored)" if table.table == "api_keys" else ""
        lines.append(f"  {table.table:<{width}}  {table.rows:>9}{note}")
    lines.append(f"  {'total':<{width}}  {report.rows:>9}  row counts verified")
    if not report.already_copied:
        lines.append(
            "next: set DATABASE_URL to the PostgreSQL URL, keep the same SECRET_KEY or"
            " secret file, and restart the bot"
        )
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    try:
        source = _source(args.source)
        target = parse_database_url(args.to)
    except (DatabaseUrlError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if source.backend is not Backend.SQLITE or target.backend is not Backend.POSTGRES:
        print(
            "error: migrate-db copies a sqlite:/// database to a postgresql:// one", file=sys.stderr
        )
        return 2
    assert source.path is not None and target.dsn is not None
    if not source.path.is_file():
        print(f"error: no SQLite database at {source.path}", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(copy_sqlite_to_postgres(source.path, target.dsn))
    except TransferRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (asyncpg.PostgresError, sqlite3.Error, OSError, TimeoutError) as exc:
        cause = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: cannot copy {source} -> {target}: {cause}", file=sys.stderr)
        return 1
    print(summary(report, source, target))
    return 0
