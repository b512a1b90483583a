"""The bot split into roles, as real processes on one SQLite file: one `python -m bot web`
(long polling) and two `python -m bot tracker` workers, the sandbox and the fake Bot API.
A purchase made through the web role gets its code from a tracker worker, once; `kill -9` of
a worker while numbers wait → the other takes its keys over and delivers their codes once.
The workers run at a lower CPU priority than the web role (TRACKER_NICE, 10 by default)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    BotProcess,
    User,
    bot_env,
    free_port,
    tracker_passes,
    wait_until_polling,
)
from tests.e2e.fake_telegram import FakeTelegram
from tests.e2e.test_journeys import add_sandbox_key, buy_telegram_number, no_telegram_errors

USERS = (3001, 3002, 3003, 3004)
TAKEOVER = 20.0  # seconds the issue allows from the kill to the codes of the dead worker's keys


@pytest.fixture
async def provider() -> AsyncIterator[Any]:
    """The sandbox on the real clock; numbers live long enough to outlast a takeover."""
    from sandbox.server import SandboxServer
    from sandbox.state import SandboxState

    server = SandboxServer(SandboxState(lifetime=300.0, cancel_lock=2.0), host="127.0.0.1", port=0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class Cluster:
    def __init__(self, tmp_path: Path, telegram: FakeTelegram, provider: Any) -> None:
        env = bot_env(tmp_path, telegram, provider)
        self.db_path = Path(env["DATABASE_PATH"])
        self.web = BotProcess(env, tmp_path / "web.log", ("web",))
        self.trackers = [
            BotProcess(
                {**env, "HEALTH_PORT": str(free_port())}, tmp_path / f"t{i}.log", ("tracker",)
            )
            for i in (1, 2)
        ]

    @property
    def processes(self) -> list[BotProcess]:
        return [self.web, *self.trackers]

    def holders(self) -> dict[int, int]:
        """key id -> the pid of the tracker worker holding its lease (read as a bystander)."""
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True) as conn:
            rows = conn.execute("SELECT key_id, worker FROM key_leases").fetchall()
        return {int(key_id): int(worker.split(":")[1]) for key_id, worker in rows}

    def key_of(self, user_id: int) -> int:
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True) as conn:
            row = conn.execute("SELECT id FROM api_keys WHERE user_id = ?", (user_id,)).fetchone()
        return int(row[0])


@pytest.fixture
async def cluster(tmp_path: Path, telegram: FakeTelegram, provider: Any) -> AsyncIterator[Cluster]:
    cluster = Cluster(tmp_path, telegram, provider)
    cluster.web.start()
    try:
        await wait_until_polling(telegram, cluster.web)  # the schema exists from here on
        for tracker in cluster.trackers:
            tracker.start()
        for tracker in cluster.trackers:
            await tracker_passes(tracker, passes=1, guard=60)
        yield cluster
    finally:
        for process in cluster.processes:
            await process.stop()


async def test_kill_9_of_a_tracker_worker_its_keys_codes_come_once_from_the_other(
    cluster: Cluster, telegram: FakeTelegram, provider: Any
) -> None:
    """Keys added and numbers bought through the web role; the tracker workers split the keys
    between them; one is killed; every code (the dead worker's keys' too) arrives once."""
    users = [User(telegram, user_id) for user_id in USERS]
    numbers: dict[int, str] = {}
    for user in users:
        await add_sandbox_key(user, provider)
        numbers[user.id] = await buy_telegram_number(user, provider)
    pids = {t.process.pid: t for t in cluster.trackers if t.process is not None}
    # Taps come first on a shared machine: each worker lowered its own priority, the web did not.
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert cluster.web.process is not None
    assert os.getpriority(os.PRIO_PROCESS, cluster.web.process.pid) == ours
    assert [os.getpriority(os.PRIO_PROCESS, pid) for pid in pids] == [min(19, ours + 10)] * 2

    def owners() -> dict[int, int]:
        holders = cluster.holders()
        return {user.id: holders.get(cluster.key_of(user.id), 0) for user in users}

    # The workers split the four keys (each renews every 2.5 s and gives back its excess).
    await telegram.wait_for(lambda: len(set(owners().values()) & set(pids)) == 2, 60)
    split = owners()
    victim_pid = split[users[0].id]
    survivor = next(t for pid, t in pids.items() if pid != victim_pid)
    await pids[victim_pid].kill()
    for user in users:
        provider.state.deliver_sms(numbers[user.id], f"Your Telegram code is 9{user.id}")
    for user in users:  # the victim's users within the takeover bound, the others at once
        await user.wait_text(f"9{user.id}", timeout=TAKEOVER)
    assert all(pid == survivor.process.pid for pid in owners().values() if survivor.process)
    await tracker_passes(survivor)
    for user in users:
        assert user.count("Code for Telegram") == 1, telegram.describe()
    no_telegram_errors(telegram)
