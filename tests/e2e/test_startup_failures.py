"""Start-up failures of the real `python -m bot`: one line naming the cause, a non-zero exit
by itself, and no traceback (a malformed token, an unreachable Telegram, a rejected token)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

from cryptography.fernet import Fernet

from tests.conftest import TEST_TOKEN
from tests.e2e.conftest import REPO
from tests.e2e.fake_telegram import FakeTelegram

# A hang guard only: a bot that hangs is killed after this and the test fails.
HANG_GUARD = 60.0


def _closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BOT_", "TELEGRAM_", "DATABASE_", "SECRET_", "SANDBOX", "WEBHOOK"))
    }
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "PYTHONUNBUFFERED": "1",
            "DATABASE_PATH": str(tmp_path / "data" / "bot.db"),
            "SECRET_KEY": Fernet.generate_key().decode(),
            "LOG_LEVEL": "INFO",
            "HEALTH_PORT": "",
            **settings,
        }
    )
    return env


async def _run_bot(tmp_path: Path, **settings: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=tmp_path,
        env=_env(tmp_path, **settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), HANG_GUARD)
    except TimeoutError:
        process.kill()
        stdout, stderr = await process.communicate()
        raise AssertionError(f"the bot hung instead of exiting:\n{stderr.decode()}") from None
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


def _one_line(code: int, stderr: str) -> str:
    assert code != 0, stderr
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


async def test_malformed_token_is_one_line_and_exits(tmp_path: Path) -> None:
    code, _, stderr = await _run_bot(tmp_path, BOT_TOKEN="your-token")
    line = _one_line(code, stderr)
    assert "BOT_TOKEN" in line and "your-token" not in line


async def test_unreachable_telegram_names_the_address(tmp_path: Path) -> None:
    address = f"http://127.0.0.1:{_closed_port()}"
    code, _, stderr = await _run_bot(tmp_path, BOT_TOKEN=TEST_TOKEN, TELEGRAM_API_URL=address)
    line = _one_line(code, stderr)
    assert "127.0.0.1" in line and address.rsplit(":", 1)[1] in line
    assert "TELEGRAM_API_URL" in line
    assert TEST_TOKEN not in line
    assert not (tmp_path / "data" / "bot.db").exists()  # checked before anything was built


async def test_rejected_token_names_the_setting(tmp_path: Path) -> None:
    telegram = FakeTelegram(TEST_TOKEN)
    await telegram.start()
    other_token = "987654321:another-token-the-fake-api-rejects"
    try:
        code, _, stderr = await _run_bot(
            tmp_path, BOT_TOKEN=other_token, TELEGRAM_API_URL=telegram.url
        )
    finally:
        await telegram.stop()
    line = _one_line(code, stderr)
    assert "BOT_TOKEN" in line and other_token not in line
    assert [method for method, _ in telegram.errors] == ["getMe"]  # asked once, then stopped
    assert not (tmp_path / "data" / "bot.db").exists()


async def test_an_unusable_database_path_is_one_line(tmp_path: Path) -> None:
    telegram = FakeTelegram(TEST_TOKEN)
    await telegram.start()
    try:  # a directory where the database file should be
        code, _, stderr = await _run_bot(
            tmp_path,
            BOT_TOKEN=TEST_TOKEN,
            TELEGRAM_API_URL=telegram.url,
            DATABASE_PATH=str(tmp_path),
        )
    finally:
        await telegram.stop()
    line = _one_line(code, stderr)
    assert "DATABASE_PATH" in line and str(tmp_path) in line


async def test_an_unreachable_postgresql_is_one_line_without_its_password(
    tmp_path: Path,
) -> None:
    telegram = FakeTelegram(TEST_TOKEN)
    await telegram.start()
    try:
        code, _, stderr = await _run_bot(
            tmp_path,
            BOT_TOKEN=TEST_TOKEN,
            TELEGRAM_API_URL=telegram.url,
            DATABASE_URL=f"postgresql://bot:pw-never-shown@127.0.0.1:{_closed_port()}/bot",
        )
    finally:
        await telegram.stop()
    line = _one_line(code, stderr)
    assert "DATABASE_URL" in line and "postgresql://bot:***@127.0.0.1" in line
    assert "pw-never-shown" not in stderr
    assert not (tmp_path / "data" / "bot.db").exists()  # no SQLite file made instead
