"""End-to-end fixtures: the fake Telegram server, the sandbox, and the real `python -m bot`.

The bot runs as a subprocess (the same interpreter) with TELEGRAM_API_URL pointing at the fake
server and the sandbox as its provider, so start-up, settings, long polling, the tracker beside
the dispatcher and restarts are all real. The sandbox runs in the test's event loop with a short
lifetime and cancel lock on the real clock, so auto-cancel happens in seconds.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.fernet import Fernet

from tests.conftest import TEST_TOKEN
from tests.e2e.fake_telegram import FakeTelegram

REPO = Path(__file__).resolve().parents[2]
SANDBOX_LIFETIME = 20.0  # seconds; real clock
SANDBOX_CANCEL_LOCK = 2.0


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(TEST_TOKEN)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def provider() -> AsyncIterator[Any]:
    """The sandbox on the real clock, with a lifetime of seconds rather than minutes."""
    from sandbox.server import SandboxServer
    from sandbox.state import SandboxState

    state = SandboxState(lifetime=SANDBOX_LIFETIME, cancel_lock=SANDBOX_CANCEL_LOCK)
    server = SandboxServer(state, host="127.0.0.1", port=0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class BotProcess:
    """The real bot as a subprocess; start, stop (SIGTERM), crash (SIGKILL), restart."""

    def __init__(self, env: dict[str, str], log_path: Path, args: tuple[str, ...] = ()) -> None:
        self.env = env
        self.log_path = log_path
        self.args = args  # the role: () for the all-in-one bot, ("web",), ("tracker",)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"\n===== start {self.starts} =====\n".encode())
        log.flush()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", *self.args],
            cwd=self.env["BOT_CWD"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    async def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, as `docker stop` does; returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        return await self._wait(timeout)

    async def kill(self) -> None:
        """`kill -9`: no shutdown hooks, nothing flushed by the bot."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            await self._wait(5.0)

    async def _wait(self, timeout: float) -> int | None:
        assert self.process is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.process.poll() is None and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        return self.process.returncode

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


_TICKS = re.compile(r"^smsbot_tracker_ticks_total (\S+)$", re.MULTILINE)


async def _tracker_ticks(http: aiohttp.ClientSession, port: str) -> int | None:
    try:
        async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
            found = _TICKS.search(await response.text())
    except aiohttp.ClientError:
        return None
    return int(float(found.group(1))) if found else None


async def tracker_passes(process: BotProcess, passes: int = 3, guard: float = 30.0) -> None:
    """Wait until the bot's tracker has started `passes` more passes: whatever it was going to
    send by itself (a duplicate code, say) is in the chat by then. Read from /metrics, so a slow
    machine only takes longer; `guard` stops a hang, it is no budget."""
    port = process.env["HEALTH_PORT"]
    async with aiohttp.ClientSession() as http, asyncio.timeout(guard):
        start = await _tracker_ticks(http, port)
        while start is None:
            await asyncio.sleep(0.05)
            start = await _tracker_ticks(http, port)
        while (await _tracker_ticks(http, port) or 0) < start + passes:
            await asyncio.sleep(0.05)


def bot_env(tmp_path: Path, telegram: FakeTelegram, provider: Any) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # Nothing of the developer's environment may steer the bot under test.
        if not key.startswith(("BOT_", "TELEGRAM_", "DATABASE_", "SECRET_", "SANDBOX", "WEBHOOK"))
    }
    env.update(
        {
            "BOT_CWD": str(tmp_path),  # no stray .env is read: the cwd is empty
            "PYTHONPATH": str(REPO),
            "PYTHONUNBUFFERED": "1",
            "BOT_TOKEN": TEST_TOKEN,
            "TELEGRAM_API_URL": telegram.url,
            "DATABASE_PATH": str(tmp_path / "bot.db"),
            "SECRET_KEY": Fernet.generate_key().decode(),
            "SANDBOX": "true",
            "SANDBOX_URL": provider.url,
            "POLL_FAST": "0.3",
            "POLL_SLOW": "0.5",
            "POLL_RENTAL": "0.5",
            "TRACKER_TICK": "0.1",
            "PROVIDER_RPS": "50",
            "PROVIDER_TIMEOUT": "5",
            "THROTTLE_RATE": "0",
            "LOG_LEVEL": "INFO",
            # /metrics tells the tests how many passes the tracker made (see tracker_passes).
            "HEALTH_PORT": str(free_port()),
        }
    )
    return env


@pytest.fixture
async def bot_process(
    tmp_path: Path, telegram: FakeTelegram, provider: Any
) -> AsyncIterator[BotProcess]:
    """The bot, started and ready (it has asked for updates); stopped at the end."""
    process = BotProcess(bot_env(tmp_path, telegram, provider), tmp_path / "bot.log")
    process.start()
    try:
        await wait_until_polling(telegram, process)
        yield process
    finally:
        code = await process.stop()
        # A clean SIGTERM must end the process without a traceback.
        if code not in (None, 0, -signal.SIGKILL):
            print(process.log())


async def wait_until_polling(
    telegram: FakeTelegram, process: BotProcess, timeout: float = 90.0
) -> None:
    """Wait until this start of the bot calls getUpdates (start-up is done)."""
    calls_before = _get_updates_calls(telegram)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while _get_updates_calls(telegram) <= calls_before:
        if not process.alive:
            raise AssertionError(f"the bot exited during start-up:\n{process.log()}")
        if loop.time() > deadline:
            raise AssertionError(f"the bot did not start polling:\n{process.log()}")
        await asyncio.sleep(0.05)


def _get_updates_calls(telegram: FakeTelegram) -> int:
    return sum(1 for method, _ in telegram.calls if method == "getUpdates")


@pytest.fixture
def fake_user(telegram: FakeTelegram) -> Callable[[int], User]:
    return lambda user_id: User(telegram, user_id)


class User:
    """A person in a chat: types, taps, and waits for what the chat shows."""

    def __init__(self, telegram: FakeTelegram, user_id: int, *, language: str = "en") -> None:
        self.tg = telegram
        self.id = user_id
        self.language = language

    def say(self, text: str) -> int:
        return self.tg.send_text(self.id, text, language_code=self.language)

    def tap(self, label: str, *, message_id: int | None = None) -> str:
        return self.tg.tap(self.id, label, message_id=message_id)

    def tap_data(self, data: str, *, message_id: int | None = None) -> str:
        return self.tg.tap_data(self.id, data, message_id=message_id)

    async def wait_text(self, fragment: str, timeout: float = 30.0) -> Any:
        """Wait until a visible bot message contains `fragment`; returns the newest such."""

        def found() -> Any:
            hits = [m for m in self.tg.bot_messages(self.id) if fragment in m.text]
            return hits[-1] if hits else None

        return await self.tg.wait_for(found, timeout)

    async def wait_screen(self, message_id: int, fragment: str, timeout: float = 30.0) -> Any:
        """Wait until this one message (a screen the bot edits in place) shows `fragment`."""
        messages = self.tg.messages[self.id]
        return await self.tg.wait_for(
            lambda: fragment in messages[message_id].text and messages[message_id], timeout
        )

    async def wait_button(self, label: str, timeout: float = 30.0) -> None:
        await self.tg.wait_for(lambda: self.tg.has_button(self.id, label), timeout)

    async def tap_when_shown(self, label: str, timeout: float = 30.0) -> str:
        await self.wait_button(label, timeout)
        return self.tap(label)

    async def answered(self, query_id: str, timeout: float = 30.0) -> Any:
        """Wait until the bot answered this callback query (the spinner stops)."""

        def answer() -> Any:
            hits = [a for a in self.tg.answers if a.query_id == query_id]
            return hits[0] if hits else None

        return await self.tg.wait_for(answer, timeout)

    def texts(self) -> list[str]:
        return self.tg.texts(self.id)

    def count(self, fragment: str) -> int:
        return sum(1 for m in self.tg.bot_messages(self.id) if fragment in m.text)
