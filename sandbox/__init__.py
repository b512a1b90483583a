"""A stateful emulator of a GrizzlySMS-compatible provider, with a control API.

Independent of the bot on purpose (imports aiohttp and the standard library only), so a bug
shared by the bot's client and its test double cannot hide itself. See docs/sandbox.md.
"""

from __future__ import annotations

from sandbox.server import SandboxServer
from sandbox.state import Clock, SandboxActivation, SandboxError, SandboxRental, SandboxState

__all__ = [
    "Clock",
    "SandboxActivation",
    "SandboxError",
    "SandboxRental",
    "SandboxServer",
    "SandboxState",
]
