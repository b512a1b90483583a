"""`python -m bot [all|web|tracker]`: the command line, and what each role builds."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from bot.app import build_dispatcher
from bot.roles import Role, lower_cpu_priority, parse_role


def test_no_argument_is_the_all_in_one_bot() -> None:
    assert parse_role([]) is Role.ALL
    assert Role.ALL.takes_updates and Role.ALL.tracks


def test_the_web_and_tracker_roles_are_named() -> None:
    assert parse_role(["web"]) is Role.WEB and not Role.WEB.tracks
    assert parse_role(["tracker"]) is Role.TRACKER and not Role.TRACKER.takes_updates


def test_an_unknown_role_exits_with_the_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_role(["worker"])
    assert exited.value.code == 2
    assert "web" in capsys.readouterr().err


async def test_the_web_role_builds_no_tracker(services: Any, bot: Any) -> None:
    build_dispatcher(services, bot, web_only=True)
    assert services.tracker is None and services.watch_poller is None
    assert services.notifier is not None  # a returning user's cards are still resent


def test_without_redis_the_roles_relay_changes_through_the_database(
    services: Any, bot: Any
) -> None:
    from bot.main import change_relay
    from bot.relay import DatabaseRelay

    assert services.redis is None
    assert isinstance(change_relay(services, bot), DatabaseRelay)


def test_a_process_lowers_its_cpu_priority_by_the_increment_and_not_for_zero() -> None:
    # In a child process: a niceness once raised cannot be lowered again without privileges.
    probe = (
        "import os; from bot.roles import lower_cpu_priority as lower;"
        "before = os.getpriority(os.PRIO_PROCESS, 0); kept = lower(0);"
        "same = os.getpriority(os.PRIO_PROCESS, 0); now = lower(3);"
        "print(before, kept, same, now, os.getpriority(os.PRIO_PROCESS, 0))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    before, kept, same, now, after = out.stdout.split()
    expected = str(min(19, int(before) + 3))
    assert (kept, same) == ("None", before)
    assert now == after == expected


def test_a_refused_priority_leaves_the_process_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.roles

    def refuse(_increment: int) -> int:
        raise PermissionError("not allowed")

    monkeypatch.setattr(bot.roles.os, "nice", refuse)
    assert lower_cpu_priority(5) is None
