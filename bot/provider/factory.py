"""One shared HTTP session for every provider client, and per-provider memory."""

from __future__ import annotations

import aiohttp

from bot.provider.client import ProviderClient


class ProviderFactory:
    """Hands out clients sharing one aiohttp session and, per base URL, one set of actions
    the provider answered BAD_ACTION to."""

    def __init__(
        self,
        *,
        timeout: float = 15.0,
        read_retries: int = 2,
        session: aiohttp.ClientSession | None = None,
        retry_delay: float = 0.5,
        trace_configs: list[aiohttp.TraceConfig] | None = None,
    ) -> None:
        self._trace_configs = list(trace_configs or [])
        self._timeout = timeout
        self._read_retries = read_retries
        self._retry_delay = retry_delay
        self._session = session
        self._owns_session = session is None
        self._unsupported: dict[str, set[str]] = {}

    def _shared_session(self) -> aiohttp.ClientSession:
        # Created lazily: aiohttp wants a running event loop, and clients are asked for from
        # async code anyway.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": "sms-activation-bot/0.1"},
                connector=aiohttp.TCPConnector(limit=100),
                trace_configs=self._trace_configs or None,
            )
            self._owns_session = True
        return self._session

    def unsupported(self, base_url: str) -> set[str]:
        """The actions known to be unsupported at this provider (shared by its clients)."""
        return self._unsupported.setdefault(base_url.rstrip("/"), set())

    def client(self, base_url: str, api_key: str) -> ProviderClient:
        return ProviderClient(
            base_url,
            api_key,
            self._shared_session(),
            timeout=self._timeout,
            read_retries=self._read_retries,
            unsupported=self.unsupported(base_url),
            retry_delay=self._retry_delay,
        )

    async def close(self) -> None:
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
