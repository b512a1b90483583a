"""One shared HTTP session for every provider client, and per-provider memory."""

from __future__ import annotations

import aiohttp

from bot.provider.client import DEFAULT_MAX_BODY, INTERACTIVE_DEADLINE, ProviderClient
from bot.provider.guard import AddressPolicy


class ProviderFactory:
    """Hands out clients sharing one aiohttp session and, per base URL, one set of actions
    the provider answered BAD_ACTION to.

    Every connection the factory's own session makes passes the address guard of
    ``address_policy`` (by default nothing inside the server's network is reached); the
    origins the policy trusts (the operator's configured URLs) go through a second session
    without it. A borrowed ``session`` is used as it is: its owner chose its connector.
    """

    def __init__(
        self,
        *,
        timeout: float = 15.0,
        read_retries: int = 2,
        session: aiohttp.ClientSession | None = None,
        retry_delay: float = 0.5,
        trace_configs: list[aiohttp.TraceConfig] | None = None,
        address_policy: AddressPolicy | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        read_deadline: float = INTERACTIVE_DEADLINE,
    ) -> None:
        self._trace_configs = list(trace_configs or [])
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
            limit=100, socket_factory=self._policy.socket_factory if guarded else None
        )
        return aiohttp.ClientSession(
            headers={"User-Agent": "sms-activation-bot/0.1"},
            connector=connector,
            trace_configs=self._trace_configs or None,
        )

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
