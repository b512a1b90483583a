"""Async client of the sms-activate compatible `handler_api.php` protocol."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from bot.provider import parsing
from bot.provider.errors import (
    CLIENT_CODES,
    KNOWN_CODES,
    ActionNotSupported,
    AddressRefused,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    UnknownOutcome,
)
from bot.provider.guard import BlockedAddress
from bot.provider.models import (
    ANY_NUMBER,
    ActivationStatus,
    ActiveActivation,
    Balance,
    Country,
    PriceOffer,
    Prices,
    Purchase,
    PurchaseFilter,
    RentHistoryItem,
    RentListItem,
    RentPrices,
    RentPurchase,
    RentStatus,
    Service,
    StatusV2,
)
from bot.provider.parsing import Body, Reply
from bot.provider.redact import redact

log = logging.getLogger(__name__)

T = TypeVar("T")

# Actions that spend money: never retried, and an unclear answer is an UnknownOutcome.
PURCHASES = frozenset({"getNumber", "getNumberV2", "getRentNumber", "continueRentNumber"})
# Actions that change state without spending: not retried, but failures are plain errors.
WRITES = frozenset({"setStatus", "setRentStatus"})
# Actions that only read: retried on transport faults and rate limits.
READS = frozenset(
    {
        "getBalance",
        "getStatus",
        "getStatusV2",
        "getActiveActivations",
        "getPrices",
        "getPricesV3",
        "getCountries",
        "getServicesList",
        "getOperators",
        "getRentStatus",
        "getRentHistory",
        "getRentList",
        "getRentPrices",
    }
)
# Every action this client sends: a closed set (metrics label requests by it).
ACTIONS = PURCHASES | WRITES | READS
SET_STATUS_VALUES = frozenset({-1, 1, 3, 6, 8})
RENT_STATUS_VALUES = frozenset({1, 2})


# Longest answer read from a provider. The whole getPrices table of a big provider is a few
# MB; a hostile custom provider must not be able to fill the bot's memory.
DEFAULT_MAX_BODY = 16 * 1024 * 1024
# Total time an interactive read may take, retries and waits included: a user is waiting.
INTERACTIVE_DEADLINE = 10.0
# Longest single pause for a Retry-After; a longer one is handed to the caller instead.
MAX_RETRY_WAIT = 10.0
# After Cloudflare's 1020 "access denied" nothing is asked again for at least this long.
CLOUDFLARE_WAIT = 10.0
_CHUNK = 64 * 1024
# Errors that asking again cannot change.
_FINAL_CODES = frozenset({"TOO_LARGE"})


def _money(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")


class ProviderClient:
    """One API key at one provider. Never logs or raises anything that contains the key.

    Reads are retried (on timeouts, network faults, 5xx, 429 and Cloudflare 1020, waiting as
    long as the provider asks, within ``read_deadline`` seconds in all); purchases and status
    changes are sent once. ``rate_limit_waits=False`` hands a rate limit to the caller at once
    (the tracker keeps its own per-key back-off and must not sit in long sleeps here).

    ``session`` comes from ``bot.provider.factory.provider_session``: it sends each request
    once, which is what keeps a purchase from being sent twice.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        session: aiohttp.ClientSession,
        *,
        timeout: float = 15.0,
        read_retries: int = 2,
        unsupported: set[str] | None = None,
        retry_delay: float = 0.5,
        read_deadline: float | None = INTERACTIVE_DEADLINE,
        rate_limit_waits: bool = True,
        max_body: int = DEFAULT_MAX_BODY,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url
        self._api_key = api_key
        self._session = session
        self._timeout = timeout
        self._read_retries = max(0, read_retries)
        self._retry_delay = retry_delay
        self._read_deadline = read_deadline
        self._rate_limit_waits = rate_limit_waits
        self._max_body = max_body
        self._sleep = sleep
        self._clock = clock
        self._unsupported = unsupported if unsupported is not None else set()
        self._host = URL(base_url).host or "provider"

    def __repr__(self) -> str:
        return f"ProviderClient(host={self._host!r})"

    def supports(self, action: str) -> bool:
        """False once the provider answered BAD_ACTION to this action."""
        return action not in self._unsupported

    # ------------------------------------------------------------------ transport

    async def _fetch(self, action: str, params: dict[str, str], budget: float) -> Reply:
        query = {"api_key": self._api_key, "action": action, **params}
        started = time.monotonic()
        try:
            async with self._session.get(
                self.base_url,
                params=query,
                timeout=aiohttp.ClientTimeout(total=budget),
                allow_redirects=False,
            ) as response:
                raw = await self._read_capped(response, action)
                # Case-insensitive: a provider may send 'retry-after' in lower case.
                status, headers = response.status, CIMultiDict(response.headers)
                charset = response.charset
        except TimeoutError:
            raise ProviderUnavailable("TIMEOUT", action=action) from None
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, BlockedAddress):
                log.warning("provider %s: refused, its address is internal", self._host)
                raise AddressRefused("ADDRESS_REFUSED", action=action) from None
            # Connecting failed: the request never left, so even a purchase did not happen.
            raise _NotSent("NETWORK", self._describe(exc), action=action) from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            # aiohttp exceptions carry the URL (and with it the key): keep a redacted summary.
            raise ProviderUnavailable("NETWORK", self._describe(exc), action=action) from None
        try:
            text = parsing.decode(raw, charset)
        except ProviderError as error:
            error.annotate(http_status=status)
            raise
        log.debug(
            "provider %s %s -> HTTP %s, %d bytes in %.3fs",
            self._host,
            action,
            status,
            len(raw),
            time.monotonic() - started,
        )
        return Reply(status, headers, text)

    async def _read_capped(self, response: aiohttp.ClientResponse, action: str) -> bytes:
        """The body, read in chunks and abandoned once it passes ``max_body`` bytes."""
        if (response.content_length or 0) > self._max_body:
            raise self._too_large(response, action)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > self._max_body:
                raise self._too_large(response, action)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, response: aiohttp.ClientResponse, action: str) -> ProviderUnavailable:
        # Built only when raised: every answer read through here (800 a second under load).
        return ProviderUnavailable(
            "TOO_LARGE", f"over {self._max_body} bytes", action=action, http_status=response.status
        )

    def _describe(self, exc: BaseException) -> str:
        return redact(f"{type(exc).__name__}: {exc}", self._api_key)[:200]

    async def _call(self, action: str, params: dict[str, Any], parse: Callable[[Body], T]) -> T:
        clean = {key: str(value) for key, value in params.items() if value is not None}
        if action in PURCHASES or action in WRITES:
            # Sent once: a second try could buy a second number or repeat a status change.
            return await self._once(action, clean, parse, self._timeout)
        deadline = None if self._read_deadline is None else self._clock() + self._read_deadline
        attempt = 0
        while True:
            budget = self._timeout
            if deadline is not None:
                budget = min(budget, max(deadline - self._clock(), 0.001))
            try:
                return await self._once(action, clean, parse, budget)
            except ProviderUnavailable as error:
                delay = self._retry_wait(error, attempt)
                if delay is None:
                    raise
                if deadline is not None and self._clock() + delay >= deadline:
                    # No time left for another try: the caller says "try again in N s".
                    log.debug("provider %s %s: %s, giving up", self._host, action, error)
                    raise
                log.debug("provider %s %s: %s, retry in %.2fs", self._host, action, error, delay)
                await self._sleep(delay)
                attempt += 1

    def _retry_wait(self, error: ProviderUnavailable, attempt: int) -> float | None:
        """How long to wait before asking again, or None to give the error to the caller.

        Sets ``error.retry_after`` to the provider's wish, so a caller that gives up can say
        when to come back (at least CLOUDFLARE_WAIT after a 1020).
        """
        if _is_cloudflare_1020(error):
            error.retry_after = max(error.retry_after or 0.0, CLOUDFLARE_WAIT)
        if attempt >= self._read_retries or isinstance(error, AddressRefused):
            return None
        if error.code in _FINAL_CODES:
            return None
        if isinstance(error, RateLimited) and not self._rate_limit_waits:
            return None
        wanted = error.retry_after
        if wanted is None:
            return self._retry_delay * (2**attempt)
        return wanted if wanted <= MAX_RETRY_WAIT else None

    async def _once(
        self, action: str, params: dict[str, str], parse: Callable[[Body], T], budget: float
    ) -> T:
        status: int | None = None
        try:
            reply = await self._fetch(action, params, budget)
            status = reply.status
            return parse(parsing.screen(reply))
        except ProviderError as error:
            error.annotate(
                action=action, http_status=status, secret=self._api_key, base_url=self.base_url
            )
            if isinstance(error, ProviderUnavailable) and error.retry_after is None and status:
                # screen() reads Retry-After for 429 only; a 503 may carry one too.
                error.retry_after = parsing.retry_after_seconds(reply.headers)
            if isinstance(error, ActionNotSupported):
                self._unsupported.add(action)
            if isinstance(error, AddressRefused):
                raise  # nothing was sent: not an unknown outcome even for a purchase
            if action in PURCHASES:
                raise _purchase_error(error) from None
            if isinstance(error, _NotSent):
                raise ProviderUnavailable(
                    error.code, error.payload, action=action, http_status=error.http_status
                ) from None
            raise
        except Exception as exc:
            # A parser bug must not turn into a success or leak a traceback with the URL.
            log.warning(
                "provider %s %s: unreadable answer (%s)", self._host, action, type(exc).__name__
            )
            cls = UnknownOutcome if action in PURCHASES else ProviderUnavailable
            raise cls("GARBLED", action=action, http_status=status) from None

    # ------------------------------------------------------------------ activations

    async def get_balance(self) -> Balance:
        return await self._call("getBalance", {}, parsing.parse_balance)

    @staticmethod
    def _number_params(
        service: str,
        country: str,
        max_price: Decimal | None,
        operator: str | None,
        choice: PurchaseFilter = ANY_NUMBER,
    ) -> dict[str, Any]:
        return {
            "service": service,
            "country": country,
            "maxPrice": _money(max_price) if max_price is not None else None,
            "operator": choice.operator or operator,
            "providerIds": ",".join(choice.only) or None,
            "exceptProviderIds": ",".join(choice.excluded) or None,
        }

    async def get_number(
        self,
        service: str,
        country: str,
        *,
        max_price: Decimal | None = None,
        operator: str | None = None,
        choice: PurchaseFilter = ANY_NUMBER,
    ) -> Purchase:
        params = self._number_params(service, country, max_price, operator, choice)
        return await self._call("getNumber", params, parsing.parse_number)

    async def get_number_v2(
        self,
        service: str,
        country: str,
        *,
        max_price: Decimal | None = None,
        operator: str | None = None,
        choice: PurchaseFilter = ANY_NUMBER,
    ) -> Purchase:
        params = self._number_params(service, country, max_price, operator, choice)
        return await self._call("getNumberV2", params, parsing.parse_number_v2)

    async def buy_activation(
        self,
        service: str,
        country: str,
        *,
        max_price: Decimal | None = None,
        choice: PurchaseFilter = ANY_NUMBER,
    ) -> Purchase:
        """getNumberV2, or getNumber when V2 is unsupported. BAD_ACTION is a definite "not
        done", so falling back is not a blind retry. `choice`: the suppliers or operator the
        number may come from."""
        if self.supports("getNumberV2"):
            try:
                return await self.get_number_v2(
                    service, country, max_price=max_price, choice=choice
                )
            except ActionNotSupported:
                pass
        return await self.get_number(service, country, max_price=max_price, choice=choice)

    async def set_status(self, activation_id: str, status: int) -> str:
        """Returns the ACCESS_* ack (or ALREADY_CANCEL for a cancel); ACK_MISMATCH otherwise."""
        if status not in SET_STATUS_VALUES:
            raise ValueError(f"unsupported setStatus value {status}")
        return await self._call(
            "setStatus",
            {"id": activation_id, "status": status},
            lambda body: parsing.parse_set_status(body, status),
        )

    async def get_status(self, activation_id: str) -> ActivationStatus:
        return await self._call("getStatus", {"id": activation_id}, parsing.parse_status)

    async def get_status_v2(self, activation_id: str) -> StatusV2:
        return await self._call("getStatusV2", {"id": activation_id}, parsing.parse_status_v2)

    async def get_active_activations(self) -> list[ActiveActivation]:
        return await self._call("getActiveActivations", {}, parsing.parse_active_activations)

    # ------------------------------------------------------------------ catalog

    async def get_prices(self, service: str | None = None, country: str | None = None) -> Prices:
        params = {"service": service, "country": country}
        return await self._call("getPrices", params, parsing.parse_prices)

    async def get_prices_v3(
        self, service: str | None = None, country: str | None = None
    ) -> list[PriceOffer]:
        params = {"service": service, "country": country}
        return await self._call("getPricesV3", params, parsing.parse_prices_v3)

    async def get_countries(self) -> list[Country]:
        return await self._call("getCountries", {}, parsing.parse_countries)

    async def get_services_list(
        self, lang: str | None = None, country: str | None = None
    ) -> list[Service]:
        params = {"lang": lang, "country": country}
        return await self._call("getServicesList", params, parsing.parse_services)

    async def get_operators(self, country: str) -> list[str]:
        """The mobile operators of a country (sms-activate/hero; `operator` of getNumber takes
        them); [] when the provider knows none. Grizzly lacks it: BAD_ACTION, remembered."""
        return await self._call(
            "getOperators",
            {"country": country},
            lambda body: parsing.parse_operators(body, country),
        )

    # ------------------------------------------------------------------ rent

    async def get_rent_number(
        self, service: str, country: str, hours: int, operator: str | None = None
    ) -> RentPurchase:
        params = {"service": service, "country": country, "rent_time": hours, "operator": operator}
        return await self._call("getRentNumber", params, parsing.parse_rent_number)

    async def continue_rent_number(self, rent_id: str, hours: int) -> RentPurchase:
        params = {"id": rent_id, "rent_time": hours}
        return await self._call("continueRentNumber", params, parsing.parse_rent_number)

    async def get_rent_status(self, rent_id: str) -> RentStatus:
        return await self._call("getRentStatus", {"id": rent_id}, parsing.parse_rent_status)

    async def set_rent_status(self, rent_id: str, status: int) -> None:
        """1 finish, 2 cancel."""
        if status not in RENT_STATUS_VALUES:
            raise ValueError(f"unsupported setRentStatus value {status}")
        params = {"id": rent_id, "status": status}
        await self._call("setRentStatus", params, parsing.parse_set_rent_status)

    async def get_rent_history(self, rent_id: str) -> list[RentHistoryItem]:
        """The periods of one rental (first rent and extensions); the seed page needs `id`."""
        return await self._call(
            "getRentHistory",
            {"id": rent_id},
            lambda body: parsing.parse_rent_history(body, rent_id),
        )

    async def get_rent_list(self) -> list[RentListItem]:
        """The key's rentals (sms-activate's getRentList; Grizzly has none: BAD_ACTION, which
        is remembered, so it is asked once)."""
        return await self._call("getRentList", {}, parsing.parse_rent_list)

    async def get_rent_prices(
        self, service: str | None = None, country: str | None = None, hours: int = 4
    ) -> RentPrices:
        params = {"service": service, "country": country, "rent_time": hours}
        return await self._call("getRentPrices", params, parsing.parse_rent_prices)


def _refused_by_4xx(error: ProviderError) -> bool:
    """A 4xx whose body named an error (a code, or a problem JSON title): the provider refused
    the request, nothing was bought. 408 and 429 say nothing of the outcome; HTML or an
    unreadable 4xx body arrives here as ProviderUnavailable and stays unknown too."""
    status = error.http_status
    return (
        status is not None
        and 400 <= status < 500
        and status not in (408, 429)
        and not isinstance(error, ProviderUnavailable)
        and error.code not in CLIENT_CODES
    )


def _is_cloudflare_1020(error: ProviderError) -> bool:
    """screen() raises RateLimited for HTTP 429 and for Cloudflare's 1020 page only."""
    return isinstance(error, RateLimited) and (error.payload == "1020" or error.http_status != 429)


class _NotSent(ProviderUnavailable):
    """Internal: the connection failed before the request was sent."""


def _purchase_error(error: ProviderError) -> ProviderError:
    """A purchase keeps definite provider errors; anything unclear becomes UnknownOutcome."""
    if isinstance(error, _NotSent):
        return ProviderUnavailable(
            error.code, error.payload, action=error.action, http_status=error.http_status
        )
    if _refused_by_4xx(error):
        return error
    if isinstance(error, ProviderUnavailable) or error.code not in KNOWN_CODES:
        return UnknownOutcome(
            error.code,
            error.payload,
            action=error.action,
            http_status=error.http_status,
            retry_after=error.retry_after,
        )
    return error
