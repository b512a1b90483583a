"""REDIS_URL: optional, checked at start-up, and never echoed (it may carry a password)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from bot.config import SettingsError, load_settings
from bot.main import StartupError, open_services
from tests.conftest import TEST_TOKEN


def _settings(tmp_path: Path, **extra: Any) -> Any:
    return load_settings(
        bot_token=TEST_TOKEN,
        database_path=tmp_path / "bot.db",
        secret_key=Fernet.generate_key().decode(),
        **extra,
    )


def test_redis_is_optional(tmp_path: Path) -> None:
    assert _settings(tmp_path).redis_url is None
    assert _settings(tmp_path, redis_url="").redis_url is None
    url = "redis://:pw@127.0.0.1:6379/2"
    assert _settings(tmp_path, redis_url=url).redis_url == url


def test_a_malformed_redis_url_names_the_setting_not_the_value(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as raised:
        _settings(tmp_path, redis_url="http://:s3cret@redis:6379")
    assert "REDIS_URL" in str(raised.value) and "s3cret" not in str(raised.value)


async def test_an_unreachable_redis_stops_the_start_up_in_one_line(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    settings = _settings(tmp_path, redis_url=f"redis://:s3cret@127.0.0.1:{unused_tcp_port}/0")
    with pytest.raises(StartupError) as raised:
        await open_services(settings)
    message = str(raised.value)
    assert "REDIS_URL" in message and "s3cret" not in message and "\n" not in message
    assert not (tmp_path / "bot.db").exists()  # stopped before the database was created


async def test_services_carry_one_client_when_redis_url_is_set(services: Any) -> None:
    assert services.redis is not None and await services.redis.ping()
