"""The sandbox provider in its own process, with a few benchmark-only routes.

`python -m benchmarks.sandbox_proc --port P` serves the ordinary sandbox (same protocol and
control API as `python -m sandbox`) and adds, under `/bench/`:

- `POST /bench/populate {"keys": K, "per_key": n}`: K keys with enough balance and channels,
  n live activations bought for each (without HTTP, so a 10,000-number setup takes a second);
- `POST /bench/latency {"seconds": 0.08}`: every protocol request from now on answers late;
- `POST /bench/sms_plan {"plan": [[activation_id, epoch], ...]}`: the sandbox itself delivers
  an SMS to each activation at that wall time and remembers when it really did;
- `GET /bench/stats?since=&until=`: protocol requests counted since start (the sandbox's
  `requests` record is capped, this counter is not), by action, the busiest key-second in the
  range, and the SMS delivery times.

Running in its own process keeps the sandbox's CPU out of the bot's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from typing import Any

from aiohttp import web

from sandbox.__main__ import run_until_signalled
from sandbox.server import SandboxServer
from sandbox.state import Clock, SandboxState

SERVICE = "tg"
COUNTRY = "0"


class CountingState(SandboxState):
    """SandboxState that also counts every protocol request, in total and per key-second."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.total_requests = 0
        self.by_action: Counter[str] = Counter()
        self.per_key_second: Counter[tuple[str, int]] = Counter()
        self.counting = True  # off while /bench/populate buys the numbers

    def note_request(self, params: dict[str, str], *, fault: str | None = None) -> None:
        super().note_request(params, fault=fault)
        if not self.counting:
            return
        self.total_requests += 1
        self.by_action[params.get("action", "")] += 1
        self.per_key_second[(params.get("api_key", ""), int(time.time()))] += 1


class BenchSandbox(SandboxServer):
    state: CountingState

    def __init__(self, state: CountingState, host: str, port: int) -> None:
        super().__init__(state, host=host, port=port)
        self.sms_at: dict[str, float] = {}
        self.sms_errors = 0

    def _build_app(self) -> web.Application:
        app = super()._build_app()
        app.router.add_post("/bench/populate", self._populate)
        app.router.add_post("/bench/latency", self._latency)
        app.router.add_post("/bench/sms_plan", self._sms_plan)
        app.router.add_get("/bench/stats", self._stats)
        return app

    async def _populate(self, request: web.Request) -> web.Response:
        body = await request.json()
        keys, per_key = int(body["keys"]), int(body["per_key"])
        state = self.state
        state.set_stock(COUNTRY, SERVICE, keys * per_key + 10)
        state.counting = False
        try:
            result = [self._populate_key(per_key) for _ in range(keys)]
        finally:
            state.counting = True
        return web.json_response({"keys": result, "service": SERVICE, "country": COUNTRY})

    def _populate_key(self, per_key: int) -> dict[str, Any]:
        state = self.state
        key = state.create_key(balance=str(per_key * 100 + 100))
        state.account(key).channels_limit = per_key + 10
        bought: list[list[str]] = []
        for _ in range(per_key):
            reply = state.handle(
                {"api_key": key, "action": "getNumber", "service": SERVICE, "country": COUNTRY}
            )
            _, activation_id, phone = reply.body.split(":")
            bought.append([activation_id, phone])
        return {"key": key, "activations": bought}

    async def _latency(self, request: web.Request) -> web.Response:
        body = await request.json()
        seconds = float(body.get("seconds", 0.08))
        self.state.clear_faults()
        if seconds > 0:
            # A fault is used up one request at a time: a huge count makes it permanent.
            self.state.inject_fault("latency", count=10**12, seconds=seconds)
        return web.json_response({"seconds": seconds})

    async def _sms_plan(self, request: web.Request) -> web.Response:
        body = await request.json()
        loop = asyncio.get_running_loop()
        now_wall, now_loop = time.time(), loop.time()
        for activation_id, at in body["plan"]:
            loop.call_at(
                now_loop + max(0.0, float(at) - now_wall), self._deliver, str(activation_id)
            )
        return web.json_response({"planned": len(body["plan"])})

    def _deliver(self, activation_id: str) -> None:
        code = str(10000 + int(activation_id) % 90000)
        try:
            self.state.deliver_sms(activation_id, f"Your code {code}", code)
        except Exception:  # an ended activation: counted, the benchmark reports it
            self.sms_errors += 1
            return
        self.sms_at[activation_id] = time.time()

    async def _stats(self, request: web.Request) -> web.Response:
        since = float(request.query.get("since", "0"))
        until = float(request.query.get("until", "inf"))
        busiest = max(
            (n for (_, sec), n in self.state.per_key_second.items() if since <= sec < until),
            default=0,
        )
        return web.json_response(
            {
                "now": time.time(),
                "total": self.state.total_requests,
                "by_action": dict(self.state.by_action),
                "per_key_max_per_second": busiest,
                "sms_at": self.sms_at,
                "sms_errors": self.sms_errors,
            }
        )


async def serve(host: str, port: int) -> None:
    state = CountingState(Clock(), lifetime=1200, cancel_lock=120, max_requests=1000)
    server = BenchSandbox(state, host, port)
    await server.start()
    print(f"READY {server.base}", flush=True)
    await run_until_signalled(server)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sandbox_proc")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
