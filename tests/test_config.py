"""Settings: a missing or malformed value stops the bot with one line naming the setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "123456789:TEST-token-abcdefghijklmnopqrstuv"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No BOT_TOKEN or other setting from the developer's shell, and no .env in the cwd."""
    for name in list(os.environ):
        if name in {"BOT_TOKEN", "ALLOWED_USERS", "ADMIN_IDS", "THROTTLE_RATE", "SANDBOX_PORT"}:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _one_line_naming(exc: SettingsError, name: str) -> None:
    message = str(exc)
    assert "\n" not in message and name in message


def test_missing_token_names_it() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings()
    _one_line_naming(caught.value, "BOT_TOKEN")
    assert "not set" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("throttle_rate", "-1"),
        ("sandbox_port", "not-a-port"),
        ("sandbox_port", "70000"),
        ("provider_url", "ftp://example.com"),
        ("poll_fast", "0"),
        ("bot_token", "short"),
        ("bot_token", "your-token"),
    ],
)
def test_malformed_values_name_the_setting(name: str, value: str) -> None:
    overrides = {"bot_token": TOKEN, name: value}
    with pytest.raises(SettingsError) as caught:
        load_settings(**overrides)
    _one_line_naming(caught.value, name.upper())


def test_malformed_value_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("ALLOWED_USERS", "1, two")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    _one_line_naming(caught.value, "ALLOWED_USERS")


def test_id_lists_accept_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("ALLOWED_USERS", "1, 2;3")
    monkeypatch.setenv("ADMIN_IDS", "[7]")
    settings = load_settings()
    assert settings.allowed_users == [1, 2, 3] and settings.admin_ids == [7]


def test_env_file_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"BOT_TOKEN={TOKEN}\nTHROTTLE_RATE=1.5\n", encoding="utf-8")
    settings = load_settings()
    assert settings.bot_token == TOKEN and settings.throttle_rate == 1.5


def test_python_m_bot_without_token_exits_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "BOT_TOKEN" in lines[0] and "Traceback" not in done.stderr
    assert done.stdout == ""


# ---- DATABASE_URL --------------------------------------------------------------------------


def test_database_defaults_to_the_sqlite_file_at_database_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = load_settings(bot_token=TOKEN)
    assert settings.database.backend == "sqlite"
    assert settings.database.path == Path("data/bot.db")
    assert settings.database_setting == "DATABASE_PATH"
    moved = load_settings(bot_token=TOKEN, database_path="/srv/bot/bot.db")
    assert moved.database.path == Path("/srv/bot/bot.db")


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///data/other.db", Path("data/other.db")),
        ("sqlite:////abs/bot.db", Path("/abs/bot.db")),
    ],
)
def test_sqlite_urls_relative_and_absolute(url: str, path: Path) -> None:
    settings = load_settings(bot_token=TOKEN, database_url=url)
    assert settings.database.backend == "sqlite" and settings.database.path == path
    assert settings.database_setting == "DATABASE_URL"


def test_postgresql_url_is_kept_and_shown_without_its_password() -> None:
    url = "postgresql://bot:s3cret-pw@db.example:5433/botdb"
    settings = load_settings(bot_token=TOKEN, database_url=url)
    assert settings.database.backend == "postgresql"
    assert settings.database.dsn == url  # what asyncpg connects with
    shown = settings.database.redacted()
    assert "s3cret-pw" not in shown and "s3cret-pw" not in str(settings.database)
    assert shown == "postgresql://bot:***@db.example:5433/botdb"
    for text in (repr(settings), str(settings), repr(settings.database)):
        assert "s3cret-pw" not in text


@pytest.mark.parametrize(
    "url",
    [
        "mysql://bot:s3cret-pw@db/bot",
        "postgresql://bot:s3cret-pw@db:99999/bot",
        "postgresql://bot:s3cret-pw@db",
        "sqlite:///",
    ],
)
def test_malformed_database_url_is_one_line_without_the_password(url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(bot_token=TOKEN, database_url=url)
    _one_line_naming(caught.value, "DATABASE_URL")
    assert "s3cret-pw" not in str(caught.value)


def test_the_cadence_is_the_roles_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """POLL_FAST and TRACKER_TICK left empty (as Compose passes them): the all-in-one process
    polls at the pace that leaves its core to the handlers, a tracker worker faster; set, they
    win in every role."""
    from bot.app import tracker_config
    from bot.tracker.config import OWN_CORE, SHARED_CORE

    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("POLL_FAST", "")
    monkeypatch.setenv("TRACKER_TICK", "")
    settings = load_settings()
    one_process, worker = tracker_config(settings), tracker_config(settings, OWN_CORE)
    assert (one_process.poll_fast, one_process.tick) == (SHARED_CORE.poll_fast, SHARED_CORE.tick)
    assert (worker.poll_fast, worker.tick) == (OWN_CORE.poll_fast, OWN_CORE.tick)
    assert worker.poll_fast < one_process.poll_fast and worker.tick < one_process.tick
    monkeypatch.setenv("POLL_FAST", "3")
    monkeypatch.setenv("TRACKER_TICK", "0.25")
    chosen = tracker_config(load_settings(), OWN_CORE)
    assert (chosen.poll_fast, chosen.tick) == (3.0, 0.25)
