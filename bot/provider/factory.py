"""One shared HTTP session for every provider client, and per-provider memory."""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp

from bot.provider.client import DEFAULT_MAX_BODY, INTERACTIVE_DEADLINE, ProviderClient
from bot.provider.guard import AddressPolicy

USER_AGENT = "sms-activation-bot/0.1"
# Connections per session: the tracker's request budget (at most its max_concurrency, 400 by
# default) plus room for the handlers' own requests, so neither queues inside the connector.
CONNECTIONS = 512


class ConnectionLost(aiohttp.ClientConnectionError):
    """The connection broke after it was made: the request may have reached the provider."""


async def send_once(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """A client middleware that stops aiohttp from silently re-sending a request.

    aiohttp (>= 3.10) sends an "idempotent" method such as GET a second time when the
    connection breaks (ClientOSError, ServerDisconnectedError raised through the middleware
    chain). The protocol buys numbers with GET: that second send could buy a second number.
    Raised as ConnectionLost instead, the failure leaves aiohttp at once and reaches the client,
    which retries reads itself and turns a broken purchase into an unknown outcome. A failure
    to connect (the request never left) stays what it is: the client reports it as "nothing
    was sent". tests/provider/test_transport.py checks that a dropped purchase is sent once.
    """
    try:
        return await handler(request)
    except aiohttp.ClientConnectorError:
        raise
    except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
        raise ConnectionLost(f"{type(exc).__name__}: {exc}") from exc


def provider_session(
    connector: aiohttp.BaseConnector | None = None,
    middlewares: Sequence[aiohttp.ClientMiddlewareType] = (),
) -> aiohttp.ClientSession:
    """The only way a session for provider requests is made: every request it sends goes out
    once (see send_once). A session given to ProviderFactory or ProviderClient comes from here.
    `middlewares` (e.g. timing) wrap send_once: they see what it raises.
    """
    return aiohttp.ClientSession(
        headers={"User-Agent": USER_AGENT},
        connector=connector,
        middlewares=(*middlewares, send_once),
    )


class ProviderFactory:
    """Hands out clients sharing one aiohttp session and, per base URL, one set of actions
    the provider answered BAD_ACTION to.

    Every connection the factory's own session makes passes the address guard of
    ``address_policy`` (by default nothing inside the server's network is reached); the
    origins the policy trusts (the operator's configured URLs) go through a second session
    without it. A borrowed ``session`` is used as it is: its owner chose its connector (and
    made it with ``provider_session``).
    """

    def __init__(
        self,
        *,
        timeout: float = 15.0,
        read_retries: int = 2,
        session: aiohttp.ClientSession | None = None,
        retry_delay: float = 0.5,
        middlewares: Sequence[aiohttp.ClientMiddlewareType] = (),
        address_policy: AddressPolicy | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        read_deadline: float = INTERACTIVE_DEADLINE,
    ) -> None:
        self._middlewares = tuple(middlewares)
        self._timeout = timeout
        self._read_retries = read_retries
        self._retry_delay = retry_delay
        self._policy = address_policy or AddressPolicy()
        self._max_body = max_body
        self._read_deadline = read_deadline
        self._session = session
        self._trusted_session: aiohttp.ClientSession | None = None
        self._owns_session = session is None
        self._unsupported: dict[str, set[str]] = {}

    @property
    def address_policy(self) -> AddressPolicy:
        return self._policy

    def _new_session(self, *, guarded: bool) -> aiohttp.ClientSession:
        # Created lazily: aiohttp wants a running event loop, and clients are asked for from
        # async code anyway.
        connector = aiohttp.TCPConnector(
            limit=CONNECTIONS, socket_factory=self._policy.socket_factory if guarded else None
        )
        return provider_session(connector, self._middlewares)

    def _session_for(self, base_url: str) -> aiohttp.ClientSession:
        if not self._owns_session and self._session is not None:
            return self._session
        if self._policy.trusts(base_url):
            if self._trusted_session is None or self._trusted_session.closed:
                self._trusted_session = self._new_session(guarded=False)
            return self._trusted_session
        if self._session is None or self._session.closed:
            self._session = self._new_session(guarded=True)
            self._owns_session = True
        return self._session

    def unsupported(self, base_url: str) -> set[str]:
        """The actions known to be unsupported at this provider (shared by its clients)."""
        return self._unsupported.setdefault(base_url.rstrip("/"), set())

    def client(self, base_url: str, api_key: str, *, background: bool = False) -> ProviderClient:
        """A client for one key. ``background`` (the tracker) gets no overall read deadline
        and no Retry-After waits: rate limits come back at once for its own back-off."""
        return ProviderClient(
            base_url,
            api_key,
            self._session_for(base_url),
            timeout=self._timeout,
            read_retries=self._read_retries,
            unsupported=self.unsupported(base_url),
            retry_delay=self._retry_delay,
            read_deadline=None if background else self._read_deadline,
            rate_limit_waits=not background,
            max_body=self._max_body,
        )

    async def close(self) -> None:
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()
        if self._trusted_session is not None and not self._trusted_session.closed:
            await self._trusted_session.close()
        self._session = None
        self._trusted_session = None
