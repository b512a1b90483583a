"""One error family for everything a provider can answer besides success."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from bot.provider.redact import redact

# Every code of protocol.md §3.0 (legacy text codes, rent codes inside JSON and the hero-sms
# problem titles), plus SERVICE_PROHIBITED, our name for Grizzly's human sentence
# "The service is prohibited for sale by administration".
KNOWN_CODES: frozenset[str] = frozenset(
    {
        "BAD_KEY",
        "NO_KEY",
        "BAD_ACTION",
        "BAD_SERVICE",
        "BAD_COUNTRY",
        "BAD_STATUS",
        "ERROR_SQL",
        "SQL_ERROR",
        "ERROR_SQL25",
        "NO_ACTIVATION",
        "NO_NUMBERS",
        "NO_BALANCE",
        "WRONG_MAX_PRICE",
        "BANNED",
        "EARLY_CANCEL_DENIED",
        "WRONG_EXCEPTION_PHONE",
        "WRONG_ACTIVATION_ID",
        "WRONG_ADDITIONAL_SERVICE",
        "REPEAT_ADDITIONAL_SERVICE",
        "WRONG_SECURITY",
        "NO_BALANCE_FORWARD",
        "CHANNELS_LIMIT",
        "ACCOUNT_INACTIVE",
        "OPERATORS_NOT_FOUND",
        "NO_ACTIVATIONS",
        "ORDER_ALREADY_EXISTS",
        "NOT_AVAILABLE",
        "WHATSAPP_NOT_AVAILABLE",
        "NO_YULA_MAIL",
        "SERVICE_UNAVAILABLE_REGION",
        "SERVICE_PROHIBITED",
        "USERS_IP_IS_NOT_ALLOWED",
        "STATUS_ALREADY_CHANGED",
        "ACTION_NOT_AVAILABLE",
        # rent family
        "NO_ID_RENT",
        "INVALID_PHONE",
        "INCORECT_STATUS",
        "CANT_CANCEL",
        "ALREADY_FINISH",
        "ALREADY_CANCEL",
        "INVALID_TIME",
        "MAX_HOURS_EXCEED",
        "RENT_DIE",
        "SERVER_ERROR",
        "WRONG_OPERATOR",
        "WRONG_COUNTRY",
        "STATUS_FINISH",
        "STATUS_CANCEL",
        # hero-sms problem titles
        "SERVICE_NOT_AVAILABLE",
        "NOT_FOUND",
        "OTP_RECEIVED",
        "FREE_CANCELLATION_EXPIRED",
        "NEW_OTP_RECEIVED",
        "ACTIVATION_NOT_ACTIVE",
        "UNPROCESSABLE_ENTITY",
        "RATE_LIMIT",
    }
)

# Codes this client produces itself (transport faults, unreadable answers, contract checks).
CLIENT_CODES: frozenset[str] = frozenset(
    {
        "NETWORK",
        "TIMEOUT",
        "HTML",
        "GARBLED",
        "ACK_MISMATCH",
        "UNRECOGNISED",
        "ADDRESS_REFUSED",
        "TOO_LARGE",
    }
)


class ProviderError(Exception):
    """A provider answered something other than success (or could not be reached)."""

    def __init__(
        self,
        code: str,
        payload: str | None = None,
        *,
        action: str | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.code = code
        self.payload = payload
        self.action = action
        self.http_status = http_status
        self.retry_after = retry_after
        # Which provider answered (its base URL, never the key): its preset tells the zone of
        # the times in the payload (a BANNED date).
        self.base_url: str | None = None
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [self.code]
        if self.payload:
            parts.append(f"({self.payload})")
        if self.action:
            parts.append(f"in {self.action}")
        if self.http_status is not None:
            parts.append(f"[HTTP {self.http_status}]")
        # Nothing here should ever carry a key, but a payload comes from a remote body.
        return redact(" ".join(parts))

    def __str__(self) -> str:
        return self._describe()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe()!r})"

    def annotate(
        self,
        *,
        action: str | None = None,
        http_status: int | None = None,
        secret: str = "",
        base_url: str | None = None,
    ) -> None:
        """Fill in where the error happened, and mask a literal secret (the API key) wherever
        a remote payload may have echoed it."""
        if self.base_url is None:
            self.base_url = base_url
        if self.action is None:
            self.action = action
        if self.http_status is None:
            self.http_status = http_status
        if secret and self.payload and secret in self.payload:
            self.payload = redact(self.payload, secret)
        self.args = (self._describe(),)

    @property
    def min_price(self) -> Decimal | None:
        """The minimum price of WRONG_MAX_PRICE:<min> (or hero info.min)."""
        if self.code != "WRONG_MAX_PRICE" or not self.payload:
            return None
        try:
            return Decimal(self.payload.strip())
        except InvalidOperation:
            return None

    @property
    def banned_until(self) -> str | None:
        """BANNED:'2026-1-2 3-4-5' -> '2026-1-2 3-4-5'."""
        if self.code != "BANNED" or not self.payload:
            return None
        return self.payload.strip().strip("'\"").strip() or None


class ActionNotSupported(ProviderError):
    """BAD_ACTION: the provider does not know this action."""


class ProviderUnavailable(ProviderError):
    """Transport fault, timeout, 5xx, HTML/Cloudflare page or garbled body on a read."""


class RateLimited(ProviderUnavailable):
    """HTTP 429 or Cloudflare 1020; ``retry_after`` in seconds when the provider said so."""


class AddressRefused(ProviderUnavailable):
    """The provider's address is inside the server's own network: no request was sent."""


class UnknownOutcome(ProviderError):
    """A purchase whose result is unknown (timeout, 5xx, HTML, garbled). Never retried."""
