"""Every error a user can meet, as one short localized sentence that says what to do.

`error_text(t, exc)` is what every router calls when a use case or the provider refused.
The result is plain text safe for HTML parse mode (anything remote is escaped) and short
enough for a callback answer (Telegram's limit is 200 characters).
"""

from __future__ import annotations

import html
from datetime import UTC, tzinfo

from bot.config import Settings
from bot.errors import NoActiveKey, NotFound, PurchaseChecking, Stale
from bot.formatting import format_money, format_provider_time, user_timezone
from bot.i18n import Translate
from bot.presets import MOSCOW, provider_zone
from bot.provider.errors import (
    ActionNotSupported,
    AddressRefused,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    UnknownOutcome,
)
from storage.models import User

# provider code -> catalog key (codes sharing a meaning share a sentence)
CODE_KEYS: dict[str, str] = {
    "BAD_KEY": "error-bad-key",
    "NO_KEY": "error-bad-key",
    "WRONG_SECURITY": "error-bad-key",
    "NO_NUMBERS": "error-no-numbers",
    "NOT_AVAILABLE": "error-no-numbers",
    "SERVICE_NOT_AVAILABLE": "error-no-numbers",
    "WHATSAPP_NOT_AVAILABLE": "error-no-numbers",
    "OPERATORS_NOT_FOUND": "error-no-numbers",
    "WRONG_OPERATOR": "error-no-numbers",
    "NO_BALANCE": "error-no-balance",
    "NO_BALANCE_FORWARD": "error-no-balance",
    "EARLY_CANCEL_DENIED": "error-early-cancel",
    "SERVICE_UNAVAILABLE_REGION": "error-region",
    "SERVICE_PROHIBITED": "error-service-prohibited",
    "BAD_COUNTRY": "error-bad-country",
    "WRONG_COUNTRY": "error-bad-country",
    "BAD_SERVICE": "error-bad-service",
    "INVALID_TIME": "error-invalid-time",
    "MAX_HOURS_EXCEED": "error-invalid-time",
    "NO_ID_RENT": "error-no-id-rent",
    "INVALID_PHONE": "error-invalid-phone",
    "INCORECT_STATUS": "error-incorrect-status",
    "ALREADY_FINISH": "error-already-finish",
    "STATUS_FINISH": "error-already-finish",
    "ALREADY_CANCEL": "error-already-cancel",
    "STATUS_CANCEL": "error-already-cancel",
    "CANT_CANCEL": "error-cant-cancel",
    "FREE_CANCELLATION_EXPIRED": "error-cant-cancel",
    "RENT_DIE": "error-rent-die",
    "SQL_ERROR": "error-sql",
    "ERROR_SQL": "error-sql",
    "ERROR_SQL25": "error-sql",
    "SERVER_ERROR": "error-server",
    "CHANNELS_LIMIT": "error-channels-limit",
    "ACCOUNT_INACTIVE": "error-account-inactive",
    "ACK_MISMATCH": "error-ack-mismatch",
    "NO_ACTIVATION": "error-no-activation",
    "WRONG_ACTIVATION_ID": "error-no-activation",
    "NOT_FOUND": "error-no-activation",
    "ACTIVATION_NOT_ACTIVE": "error-no-activation",
    "BAD_STATUS": "error-bad-status",
    "STATUS_ALREADY_CHANGED": "error-bad-status",
    "ACTION_NOT_AVAILABLE": "error-bad-status",
    "BAD_ACTION": "error-not-supported",
    "USERS_IP_IS_NOT_ALLOWED": "error-ip-not-allowed",
    "ORDER_ALREADY_EXISTS": "error-order-exists",
    "RATE_LIMIT": "error-rate-limited",
}

# Codes the client gives transport faults and unreadable answers.
_DOWN_CODES = frozenset({"NETWORK", "TIMEOUT", "HTML", "GARBLED", "UNRECOGNISED"})
# Nothing lives at the address: waiting will not help, the address is wrong.
_WRONG_ADDRESS_CODES = frozenset({"HTTP_404", "HTTP_410"})


def is_bad_key(exc: BaseException) -> bool:
    """The provider refused the API key itself (not the request it came with)."""
    return isinstance(exc, ProviderError) and CODE_KEYS.get(exc.code or "") == "error-bad-key"


def is_wrong_address(exc: BaseException) -> bool:
    """The provider's address answers "not found": a wrong URL, not a provider that is down."""
    return isinstance(exc, ProviderError) and (exc.code or "") in _WRONG_ADDRESS_CODES


def format_banned_until(
    raw: str, provider_tz: tzinfo | None = None, user_tz: tzinfo | None = None
) -> str:
    """Grizzly's `2026-1-2 3-4-5` is the provider's local time (Moscow unless its preset says
    otherwise): shown like every other time, in the user's zone (UTC unless given), labelled.
    Anything unreadable is shown as sent."""
    shown = format_provider_time(raw, provider_tz or user_timezone(MOSCOW), user_tz or UTC)
    return shown if shown is not None else raw.strip()


def _provider_text(
    t: Translate, exc: ProviderError, provider_tz: tzinfo | None, user_tz: tzinfo | None
) -> str:
    code = exc.code or ""
    if isinstance(exc, UnknownOutcome):
        return t("error-unknown-outcome")
    if isinstance(exc, RateLimited) or code == "RATE_LIMIT":
        if exc.retry_after:
            return t("error-rate-limited-after", seconds=str(max(1, round(exc.retry_after))))
        return t("error-rate-limited")
    if isinstance(exc, ActionNotSupported):
        return t("error-not-supported")
    if isinstance(exc, AddressRefused):
        return t("error-internal-address")
    if is_wrong_address(exc):
        return t("error-wrong-address")
    if isinstance(exc, ProviderUnavailable) and exc.retry_after:
        # The client gave up inside its deadline; the provider said when to come back.
        return t("error-provider-busy-after", seconds=str(max(1, round(exc.retry_after))))
    if isinstance(exc, ProviderUnavailable) or code in _DOWN_CODES or code.startswith("HTTP_"):
        return t("error-provider-down")
    if code == "WRONG_MAX_PRICE":
        minimum = exc.min_price
        if minimum is not None:
            return t("error-wrong-max-price", min=format_money(minimum))
        return t("error-wrong-max-price-unknown")
    if code == "BANNED":
        until = exc.banned_until
        if until:
            shown = format_banned_until(until, provider_tz, user_tz)
            return t("error-banned", until=html.escape(shown))
        return t("error-banned-no-date")
    key = CODE_KEYS.get(code)
    if key is not None:
        return t(key)
    return t("error-generic", code=html.escape(code[:40] or "?"))


def error_text(
    t: Translate,
    exc: BaseException,
    *,
    user: User | None = None,
    settings: Settings | None = None,
) -> str:
    """One short localized sentence for any error a handler may catch. A time in it (a ban's
    end) is read in the zone of the provider that answered (its preset's, see
    `bot.presets.provider_zone`) and shown in `user`'s zone, labelled."""
    if isinstance(exc, ProviderError):
        provider_tz = provider_zone(exc.base_url, settings) if exc.base_url else None
        shown_tz = user_timezone(user.timezone) if user is not None else None
        return _provider_text(t, exc, provider_tz, shown_tz)
    if isinstance(exc, NoActiveKey):
        return t("error-no-active-key")
    if isinstance(exc, NotFound):
        return t("error-not-found")
    if isinstance(exc, Stale):
        return t("error-stale")
    if isinstance(exc, PurchaseChecking):
        return t("error-purchase-checking")
    return t("error-internal")
