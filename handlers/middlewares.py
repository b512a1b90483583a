"""Placeholder; its owner replaces this module."""

from __future__ import annotations

from typing import Any


def setup_middlewares(dp: Any, settings: Any) -> None:
    return None


async def set_commands(bot: Any, translator: Any) -> None:
    return None
