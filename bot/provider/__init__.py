"""Client of the sms-activate compatible provider protocol (GrizzlySMS and others)."""

from __future__ import annotations

from bot.provider.client import ProviderClient
from bot.provider.errors import (
    KNOWN_CODES,
    ActionNotSupported,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    UnknownOutcome,
)
from bot.provider.factory import ProviderFactory
from bot.provider.redact import redact

__all__ = [
    "KNOWN_CODES",
    "ActionNotSupported",
    "ProviderClient",
    "ProviderError",
    "ProviderFactory",
    "ProviderUnavailable",
    "RateLimited",
    "UnknownOutcome",
    "redact",
]
