"""What `python -m bot [ROLE]` runs: the command line, parsed in one place.

- no argument (`all`): one process does everything (the default install);
- `web`: updates only (long polling or the webhook), /healthz and /metrics; what its use
  cases change reaches the tracker workers through the change relay;
- `tracker`: a tracker worker: polls the API keys it holds leases on, sends codes and cards,
  runs the watch poller when it is the eldest worker; /healthz and /metrics on HEALTH_PORT.
  Never takes updates from Telegram.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from enum import StrEnum


class Role(StrEnum):
    ALL = "all"
    WEB = "web"
    TRACKER = "tracker"

    @property
    def takes_updates(self) -> bool:
        return self is not Role.TRACKER

    @property
    def tracks(self) -> bool:
        return self is not Role.WEB


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(
        prog="python -m bot",
        description="SMS activation Telegram bot.",
    )
    parse.add_argument(
        "role",
        nargs="?",
        choices=[role.value for role in Role],
        default=Role.ALL.value,
        help=(
            "all: everything in one process (default); web: Telegram updates only "
            "(several replicas may run); tracker: a tracker worker (several may run, they "
            "split the API keys)"
        ),
    )
    return parse


def parse_role(argv: Sequence[str]) -> Role:
    """The role named on the command line; an unknown one exits with the usage (status 2)."""
    return Role(parser().parse_args(list(argv)).role)


def lower_cpu_priority(increment: int) -> int | None:
    """Lower this process's CPU priority by `increment` (a nice increment); the niceness it
    runs at now, or None when it stays as it was: an increment of 0, or a system without
    `os.nice` (Windows) or refusing it. Never raises: a priority is a preference, not a need."""
    if increment <= 0 or not hasattr(os, "nice"):
        return None
    try:
        return os.nice(increment)
    except OSError:
        return None
