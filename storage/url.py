"""DATABASE_URL: which backend and where, parsed in one place.

`sqlite:///data/bot.db` (a relative path), `sqlite:////abs/bot.db` (an absolute one), or
`postgresql://user:password@host:port/db` (`postgres://` too). The URL may carry a password:
`redacted()` is the only form that may be shown or logged."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from storage.dialect import Backend

SQLITE_PREFIX = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql", "postgres")


class DatabaseUrlError(ValueError):
    """The URL names no backend this bot knows, or no database; the message holds no secret."""


@dataclass(frozen=True)
class DatabaseUrl:
    backend: Backend
    # SQLite: the file. PostgreSQL: the DSN as asyncpg takes it (with its password: kept out
    # of the repr, so that logging the object shows none).
    path: Path | None = None
    dsn: str | None = field(default=None, repr=False)

    def redacted(self) -> str:
        """The URL without its password (safe for logs and messages)."""
        if self.backend is Backend.SQLITE:
            return f"{SQLITE_PREFIX}{self.path}"
        assert self.dsn is not None
        parts = urlsplit(self.dsn)
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        if parts.username:
            hidden = ":***" if parts.password is not None else ""
            host = f"{parts.username}{hidden}@{host}"
        return urlunsplit((parts.scheme, host, parts.path, "", ""))

    def __str__(self) -> str:
        return self.redacted()


def sqlite_url(path: Path | str) -> str:
    """The URL of a SQLite file (what DATABASE_PATH means)."""
    return f"{SQLITE_PREFIX}{path}"


def parse_database_url(url: str) -> DatabaseUrl:
    """The one parser of DATABASE_URL; raises DatabaseUrlError (with no secret in it)."""
    text = url.strip()
    if text.startswith(SQLITE_PREFIX):
        path = text[len(SQLITE_PREFIX) :]
        if not path:
            raise DatabaseUrlError("a sqlite:/// URL needs a file path, e.g. sqlite:///data/bot.db")
        return DatabaseUrl(Backend.SQLITE, path=Path(path))
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in POSTGRES_SCHEMES:
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 (parsing the port validates it)
        except ValueError:
            raise DatabaseUrlError(
                "the postgresql:// URL is malformed (check host and port)"
            ) from None
        if not parts.hostname and "host=" not in parts.query:
            raise DatabaseUrlError("a postgresql:// URL needs a host, e.g. postgresql://bot@db/bot")
        if not parts.path.strip("/"):
            raise DatabaseUrlError("a postgresql:// URL needs a database name after the host")
        return DatabaseUrl(Backend.POSTGRES, dsn=text)
    raise DatabaseUrlError(
        "expected sqlite:///path/to/bot.db or postgresql://user:password@host:port/database"
    )
