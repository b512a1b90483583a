"""Settings from the environment and `.env`, validated once at start-up.

A missing or malformed value must stop the bot with one clear line naming the setting,
never with a traceback: `load_settings()` turns pydantic's errors into `SettingsError`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as _SourceError

from storage.url import DatabaseUrl, parse_database_url, sqlite_url

DEFAULT_PROVIDER_URL = "https://api.grizzlysms.com/stubs/handler_api.php"
# What @BotFather hands out: the bot's numeric id, a colon, then the secret part.
BOT_TOKEN_SHAPE = re.compile(r"\d+:[A-Za-z0-9_-]+")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")  # what redis-py's from_url understands


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it and says what is expected."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: str = Field(min_length=10)
    telegram_api_url: str = "https://api.telegram.org"
    provider_url: str = DEFAULT_PROVIDER_URL
    database_path: Path = Path("data/bot.db")
    # sqlite:///data/bot.db (relative), sqlite:////abs/bot.db, or postgresql://user:pw@host/db.
    # Unset: the SQLite file at DATABASE_PATH. It may hold a password: a SecretStr (masked in
    # any repr of the settings); show `database` (its redacted() form) only.
    database_url: SecretStr | None = None
    secret_key: str | None = None
    secret_key_file: Path | None = None

    # Sandbox: offer a money-free provider. When SANDBOX is on and SANDBOX_URL is empty,
    # the bot runs the sandbox inside its own process on SANDBOX_PORT.
    sandbox: bool = False
    sandbox_url: str | None = None
    sandbox_port: int = Field(default=8081, ge=0, le=65535)
    # The zone of a custom provider's timestamps (presets know their own): an IANA name or
    # a UTC offset such as +03:00.
    custom_provider_tz: str = "Europe/Moscow"

    allowed_users: Annotated[list[int], NoDecode] = Field(default_factory=list)
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    throttle_rate: float = Field(default=0.3, ge=0)
    log_level: str = "INFO"

    # Redis (or Valkey) shared by the bot's processes: FSM state, the throttle, Telegram's send
    # budget, change wakes. Empty: all of it stays in the process (one process needs no Redis).
    redis_url: str | None = None

    # Webhook mode: long polling unless WEBHOOK_URL is set.
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_path: str = "/webhook"
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(default=8080, ge=0, le=65535)
    # Polling mode: /healthz and /metrics on this port when set (webhooks use LISTEN_PORT).
    health_port: int | None = Field(default=None, ge=0, le=65535)

    # Tracker cadence (seconds).
    # None: the role's own cadence (bot.tracker.config: SHARED_CORE for the all-in-one process,
    # OWN_CORE for a tracker worker).
    poll_fast: float | None = Field(default=None, gt=0)
    poll_slow: float = Field(default=10.0, gt=0)
    # A number whose code came and was delivered: looked at this often (and at its end).
    poll_settled: float = Field(default=300.0, gt=0)
    poll_fast_window: float = Field(default=120.0, ge=0)
    poll_rental: float = Field(default=20.0, gt=0)
    tracker_tick: float | None = Field(default=None, gt=0)
    # How far a tracker worker (`python -m bot tracker`) lowers its own CPU priority (a nice
    # increment, 0 to 19): on a machine it shares with the web role, a tap waits for no pass.
    # 0 keeps the priority it was started with.
    tracker_nice: int = Field(default=10, ge=0, le=19)
    provider_rps: float = Field(default=5.0, gt=0)
    provider_timeout: float = Field(default=15.0, gt=0)

    # Watches: seconds between passes of the stock poller, getPrices requests per pass at
    # most (one per watched provider × service × country), hours a watch lives.
    watch_interval: float = Field(default=60.0, gt=0)
    watch_polls_per_pass: int = Field(default=20, ge=1, le=1000)
    watch_hours: float = Field(default=24.0, gt=0, le=24 * 30)

    # Success rates on the country list: shown once a (service, country) has this many numbers
    # with a known outcome in the window (days).
    rates_min_samples: int = Field(default=10, ge=1)
    rates_window_days: float = Field(default=7.0, gt=0)

    @field_validator("allowed_users", "admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        # Accept "1,2, 3" as well as the JSON list pydantic-settings expects.
        if isinstance(value, int):
            return [value]
        if isinstance(value, str):
            text = value.strip().strip("[]")
            return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
        return value

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: str) -> str:
        # Checked here, not by aiogram when the Bot is built: by then the database is open.
        # The message never repeats the value (it may be a real token with a typo).
        if not BOT_TOKEN_SHAPE.fullmatch(value.strip()):
            raise ValueError("expected the token from @BotFather, like 123456789:AAE...")
        return value.strip()

    @field_validator("health_port", "poll_fast", "tracker_tick", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("telegram_api_url", "provider_url", "sandbox_url", "webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None if value == "" else value
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if not value.endswith(".php") else value

    @field_validator("database_url", mode="before")
    @classmethod
    def _database_url(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, str):
            parse_database_url(value)  # its errors never repeat the URL (it may hold a password)
        return value

    @property
    def database(self) -> DatabaseUrl:
        """Where the data lives: DATABASE_URL, else the SQLite file at DATABASE_PATH."""
        url = self.database_url.get_secret_value() if self.database_url else ""
        return parse_database_url(url or sqlite_url(self.database_path))

    @property
    def database_setting(self) -> str:
        """The setting that names the database, for messages."""
        return "DATABASE_URL" if self.database_url else "DATABASE_PATH"

    @field_validator("redis_url", mode="before")
    @classmethod
    def _redis_url(cls, value: object) -> object:
        # The message never repeats the value: the URL may carry a password.
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str) or not value.strip().startswith(REDIS_SCHEMES):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value.strip()

    @property
    def webhook_mode(self) -> bool:
        return bool(self.webhook_url)


def load_settings(**overrides: object) -> Settings:
    """Build settings, or raise SettingsError with one line that names the bad setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first.get("loc") else "settings"
        if first.get("type") == "missing":
            raise SettingsError(
                f"{name} is not set: put it in the environment or in .env"
            ) from None
        reason = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        raise SettingsError(f"{name} is malformed: {reason}") from None
    except _SourceError as exc:
        # pydantic-settings names the field in its message: 'error parsing value for field "x"'.
        match = re.search(r'field "([a-z_]+)"', str(exc))
        name = match.group(1).upper() if match else "a setting"
        raise SettingsError(f"{name} is malformed") from None
