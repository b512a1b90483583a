"""The sandbox provider in its own process, with a few benchmark-only routes.

`python -m benchmarks.sandbox_proc --port P` serves the ordinary sandbox (same protocol and
control API as `python -m sandbox`) and adds, under `/bench/`:

- `POST /bench/populate {"keys": K, "per_key": n}`: K keys with enough balance and channels,
  n live activations bought for each (without HTTP, so a 10,000-number setup takes a second);
- `POST /bench/latency {"seconds": 0.08}`: every protocol request from now on answers late;
- `POST /bench/sms_plan {"plan": [[activation_id, epoch], ...]}`: the sandbox itself delivers
  an SMS to each activation at that wall time and remembers when it really did;
- `POST /bench/held {"ids": [activation_id, ...]}`: these numbers got their SMS before the
  run (the steady state): delivered now, and left out of the SMS times (nothing to time);
- `GET /bench/stats?since=&until=`: protocol requests counted since start (the sandbox's
  `requests` record is capped, this counter is not), by action, the busiest key-second in the
  range, the SMS delivery times, and when each code first left in an answer (`seen_at`).

For the real-world load benchmark (`benchmarks.load`):

- `populate` also takes `"ages": [seconds, ...]`, one per number in order: each number was
  bought that long ago (its deadlines move back with it);
- `POST /bench/profile {"median": 0.08, "p99": 0.4, "fault_rate": 0.01, "seed": 1}`: every
  protocol answer from now on waits a log-normal delay, and that share of them fails (a 502
  page or a 429 with Retry-After: 1);
- `POST /bench/auto_sms {"code_share": .., "fast_share": .., "fast_median": .., "seed": 1}`:
  every number bought from now on gets its SMS at a delay drawn from `CodeDelays` (or none);
  `{"off": true}` stops it.

The code of each SMS is `load_model.code_for(activation_id)`: unique, so the benchmark finds
it again in what the bot sends to Telegram.

Running in its own process keeps the sandbox's CPU out of the bot's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiohttp import web

from benchmarks.load_model import CodeDelays, ProviderProfile, code_for, sms_text
from bot.roles import lower_cpu_priority
from sandbox.__main__ import run_until_signalled
from sandbox.server import SandboxServer
from sandbox.state import Clock, Fault, Reply, SandboxError, SandboxState

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
        self.on_purchase: Callable[[str], None] | None = None
        # Codes delivered and not yet in any answer (code -> activation id), and when each
        # first left in one: a code's latency splits into the poll that found it and what
        # the bot did after (its store, its send queue, Telegram).
        self.unseen: dict[str, str] = {}
        self.seen_at: dict[str, float] = {}

    def handle(self, params: dict[str, str]) -> Reply:
        reply = super().handle(params)
        if reply.purchase and self.on_purchase is not None and self.purchases:
            self.on_purchase(str(self.purchases[-1]["id"]))
        if self.unseen:
            found = [code for code in self.unseen if code in reply.body]
            for code in found:
                self.seen_at[self.unseen.pop(code)] = time.time()
        return reply

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
        self.sms_age: dict[str, float] = {}  # seconds since the purchase, at the SMS
        self.sms_key: dict[str, str] = {}  # whose number it was
        self.sms_errors = 0
        self.profile: ProviderProfile | None = None
        self.profile_rng = random.Random(1)
        self.faults = 0
        self.auto_delays: CodeDelays | None = None
        self.auto_rng = random.Random(1)
        self.auto_planned = 0

    def _build_app(self) -> web.Application:
        app = super()._build_app()
        app.router.add_post("/bench/populate", self._populate)
        app.router.add_post("/bench/latency", self._latency)
        app.router.add_post("/bench/sms_plan", self._sms_plan)
        app.router.add_post("/bench/held", self._held)
        app.router.add_get("/bench/stats", self._stats)
        app.router.add_post("/bench/profile", self._set_profile)
        app.router.add_post("/bench/auto_sms", self._auto_sms)
        return app

    async def _protocol(self, request: web.Request) -> web.StreamResponse:
        profile = self.profile
        if profile is None:
            return await super()._protocol(request)
        rng = self.profile_rng
        await asyncio.sleep(profile.delay(rng))
        if rng.random() >= profile.fault_rate:
            return await super()._protocol(request)
        params: dict[str, str] = dict(request.query)
        if request.method == "POST":
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        kind = "html502" if rng.random() < 0.5 else "rate_limit"
        self.faults += 1
        self.state.note_request(params, fault=kind)
        return self._fault_page(Fault(kind, None, 1, {"retry_after": 1}))

    async def _set_profile(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.profile = ProviderProfile(
            median=float(body.get("median", 0.08)),
            p99=float(body.get("p99", 0.4)),
            fault_rate=float(body.get("fault_rate", 0.01)),
        )
        self.profile_rng = random.Random(int(body.get("seed", 1)))
        return web.json_response({"ok": True})

    async def _auto_sms(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("off"):
            self.auto_delays, self.state.on_purchase = None, None
            return web.json_response({"ok": True})
        self.auto_delays = CodeDelays(
            code_share=float(body.get("code_share", 0.9)),
            fast_share=float(body.get("fast_share", 0.85)),
            fast_median=float(body.get("fast_median", 25.0)),
        )
        self.auto_rng = random.Random(int(body.get("seed", 1)))
        self.state.on_purchase = self._plan_for_new
        return web.json_response({"ok": True})

    def _plan_for_new(self, activation_id: str) -> None:
        if self.auto_delays is None:
            return
        delay = self.auto_delays.draw(self.auto_rng)
        if delay is None:
            return
        self.auto_planned += 1
        asyncio.get_running_loop().call_later(delay, self._deliver, activation_id)

    async def _populate(self, request: web.Request) -> web.Response:
        body = await request.json()
        keys, per_key = int(body["keys"]), int(body["per_key"])
        state = self.state
        # Room for the numbers bought while a benchmark runs, too.
        state.set_stock(COUNTRY, SERVICE, keys * per_key * 3 + 1000)
        state.counting = False
        try:
            result = [self._populate_key(per_key) for _ in range(keys)]
        finally:
            state.counting = True
        ages = body.get("ages")
        if ages:
            ids = [a[0] for entry in result for a in entry["activations"]]
            for activation_id, age in zip(ids, ages, strict=True):
                self._backdate(activation_id, float(age))
        return web.json_response({"keys": result, "service": SERVICE, "country": COUNTRY})

    def _backdate(self, activation_id: str, age: float) -> None:
        """The number was bought `age` seconds ago: every deadline moves back with it."""
        activation = self.state.activations[activation_id]
        for name in ("created_at", "ends_at", "cancel_allowed_at"):
            setattr(activation, name, getattr(activation, name) - age)
        # The old expiry entry stays in the heap and finds the number ended: harmless.
        self.state._schedule(activation.ends_at, "activation", activation_id)

    def _populate_key(self, per_key: int) -> dict[str, Any]:
        state = self.state
        key = state.create_key(balance=str(per_key * 1000 + 10000))
        state.account(key).channels_limit = per_key * 3 + 20
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

    async def _held(self, request: web.Request) -> web.Response:
        held = 0
        for activation_id in (await request.json())["ids"]:
            code = code_for(str(activation_id))
            try:
                self.state.deliver_sms(str(activation_id), sms_text(code), code)
            except SandboxError:  # ended while the run was set up (the oldest numbers)
                continue
            held += 1
        return web.json_response({"held": held})

    def _deliver(self, activation_id: str) -> None:
        code = code_for(activation_id)
        try:
            self.state.deliver_sms(activation_id, sms_text(code), code)
        except Exception:  # an ended activation: counted, the benchmark reports it
            self.sms_errors += 1
            return
        self.sms_at[activation_id] = now = time.time()
        self.state.unseen[code] = activation_id
        activation = self.state.activations[activation_id]
        self.sms_age[activation_id] = now - activation.created_at
        self.sms_key[activation_id] = activation.key

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
                "seen_at": self.state.seen_at,
                "sms_age": self.sms_age,
                "sms_key": self.sms_key,
                "sms_errors": self.sms_errors,
                "faults": self.faults,
                "auto_planned": self.auto_planned,
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
    parser.add_argument("--nice", type=int, default=0, help="lower the CPU priority by this")
    args = parser.parse_args(argv)
    lower_cpu_priority(args.nice)
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
