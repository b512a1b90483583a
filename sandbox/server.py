"""HTTP face of the sandbox: the protocol route, fault injection and the control API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from sandbox.state import Fault, Reply, SandboxError, SandboxState

HANDLER_PATH = "/stubs/handler_api.php"

HTML_500 = (
    "<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head>\n"
    "<body><h1>Internal Server Error</h1><p>The server encountered an internal error.</p>"
    "</body></html>\n"
)
HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
HTML_429 = (
    "<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n"
    "<center><h1>429 Too Many Requests</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
GARBLED = b'\x00\x1f{"activ\xff\xfe<<\x9c garbled \x01'

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _reply_response(reply: Reply) -> web.Response:
    return web.Response(
        body=reply.body.encode("utf-8"),
        status=reply.status,
        headers={"Content-Type": f"{reply.content_type}; charset=utf-8"},
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(
        data, status=status, dumps=lambda d: json.dumps(d, default=_json_default)
    )


def _fail(message: str, status: int = 400) -> web.Response:
    return _ok({"error": message}, status=status)


class SandboxServer:
    """The sandbox on 127.0.0.1 (port 0 = any free port), started and stopped in-process."""

    def __init__(
        self, state: SandboxState | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.state = state if state is not None else SandboxState()
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self.app = self._build_app()

    # ------------------------------------------------------------------ lifecycle

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.base + HANDLER_PATH

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]  # the one chosen when asked for port 0

    async def stop(self) -> None:
        self._stopping.set()  # wakes requests parked by a "timeout" fault
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SandboxServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ routes

    def _build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("GET", HANDLER_PATH, self._protocol)
        app.router.add_route("POST", HANDLER_PATH, self._protocol)
        routes: list[tuple[str, str, Handler]] = [
            ("GET", "/control/health", self._health),
            ("POST", "/control/keys", self._create_key),
            ("GET", "/control/keys/{key}", self._get_key),
            ("POST", "/control/keys/{key}", self._update_key),
            ("POST", "/control/keys/{key}/sms", self._sms_to_latest),
            ("GET", "/control/activations", self._list_activations),
            ("GET", "/control/activations/{id}", self._get_activation),
            ("POST", "/control/activations/{id}/sms", self._sms_to_activation),
            ("GET", "/control/rentals", self._list_rentals),
            ("GET", "/control/rentals/{id}", self._get_rental),
            ("POST", "/control/rentals/{id}/sms", self._sms_to_rental),
            ("GET", "/control/purchases", self._list_purchases),
            ("GET", "/control/requests", self._list_requests),
            ("GET", "/control/clock", self._get_clock),
            ("POST", "/control/clock", self._set_clock),
            ("POST", "/control/stock", self._set_stock),
            ("POST", "/control/price", self._set_price),
            ("POST", "/control/offer", self._set_offer),
            ("GET", "/control/faults", self._list_faults),
            ("POST", "/control/faults", self._add_fault),
            ("DELETE", "/control/faults", self._clear_faults),
            ("POST", "/control/config", self._set_config),
            ("POST", "/control/tick", self._tick),
            ("POST", "/control/reset", self._reset),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, self._guard(handler))
        return app

    # ------------------------------------------------------------------ protocol route

    async def _protocol(self, request: web.Request) -> web.StreamResponse:
        params: dict[str, str] = dict(request.query)
        if request.method == "POST":
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        action = params.get("action", "")
        fault = self.state.peek_fault(action)
        if fault is None:
            return _reply_response(self.state.handle(params))
        if fault.kind == "drop_after_charge":
            return await self._drop_after_charge(request, fault, params)
        self.state.consume_fault(fault)
        if fault.kind == "latency":
            await self._wait(float(fault.params.get("seconds", 1.0)))
            return _reply_response(self.state.handle(params))
        if fault.kind == "timeout":
            # The server does the work but answers too late: the money may be taken.
            reply = self.state.handle(params)
            await self._wait(float(fault.params.get("seconds", 30.0)))
            return _reply_response(reply)
        if fault.kind == "garbled" and fault.params.get("process"):
            self.state.handle(params)
            return self._garbled()
        self.state.note_request(params, fault=fault.kind)
        return self._fault_page(fault)

    async def _drop_after_charge(
        self, request: web.Request, fault: Fault, params: dict[str, str]
    ) -> web.StreamResponse:
        reply = self.state.handle(params)
        if not reply.purchase:
            return _reply_response(reply)  # nothing charged: the fault waits for a purchase
        self.state.consume_fault(fault)
        if fault.params.get("mode", "close") == "garble":
            return self._garbled()
        # Close the connection without an answer, after the money was taken.
        transport = request.transport
        if transport is not None:
            transport.abort()
        return web.Response(status=200)  # never reaches the client: the socket is gone

    def _fault_page(self, fault: Fault) -> web.Response:
        if fault.kind == "http500":
            return web.Response(text=HTML_500, status=500, content_type="text/html")
        if fault.kind == "html502":
            return web.Response(text=HTML_502, status=502, content_type="text/html")
        if fault.kind == "rate_limit":
            retry_after = str(fault.params.get("retry_after", 5))
            return web.Response(
                text=HTML_429,
                status=429,
                content_type="text/html",
                headers={"Retry-After": retry_after},
            )
        if fault.kind == "cloudflare":
            return web.Response(text="error code: 1020", status=403, content_type="text/plain")
        if fault.kind == "empty":
            return web.Response(body=b"", status=200, content_type="text/plain")
        return self._garbled()

    @staticmethod
    def _garbled() -> web.Response:
        return web.Response(body=GARBLED, status=200, content_type="text/plain")

    async def _wait(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    # ------------------------------------------------------------------ control API

    def _guard(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except SandboxError as exc:
                return _fail(str(exc), status=exc.status)
            except (ValueError, TypeError, KeyError, InvalidOperation) as exc:
                return _fail(f"bad request: {exc}", status=400)

        return guarded

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        raw = await request.text()
        if not raw.strip():
            return {}
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("JSON object expected")
        return data

    async def _health(self, request: web.Request) -> web.Response:
        return _ok({"ok": True, "now": self.state.now(), "quirks": self.state.quirks})

    async def _create_key(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        key = self.state.create_key(
            balance=str(body.get("balance", "100")),
            key=body.get("key"),
            currency=str(body.get("currency", "643")),
        )
        return _ok(self.state.account_view(key), status=201)

    async def _get_key(self, request: web.Request) -> web.Response:
        return _ok(self.state.account_view(request.match_info["key"]))

    async def _update_key(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        body = await self._body(request)
        account = self.state.account(key)
        if "balance" in body:
            account.balance = Decimal(str(body["balance"]))
        if "add" in body:
            account.balance += Decimal(str(body["add"]))
        if "currency" in body:
            account.currency = str(body["currency"])
        if "banned_until" in body:
            account.banned_until = body["banned_until"]
        if "geo_blocked" in body:
            account.geo_blocked = bool(body["geo_blocked"])
        if "channels_limit" in body:
            account.channels_limit = int(body["channels_limit"])
        return _ok(self.state.account_view(key))

    async def _sms_to_latest(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        activation_id = self.state.deliver_sms_to_latest(
            request.match_info["key"], str(body["text"]), body.get("code")
        )
        return _ok(self.state.activation_view(self.state.activations[activation_id]))

    async def _list_activations(self, request: web.Request) -> web.Response:
        self.state.tick()
        key = request.query.get("key")
        status = request.query.get("status")
        items = [
            self.state.activation_view(a)
            for a in self.state.activations.values()
            if (key is None or a.key == key) and (status is None or a.status == status)
        ]
        return _ok({"activations": items})

    async def _get_activation(self, request: web.Request) -> web.Response:
        self.state.tick()
        activation = self.state.activations.get(request.match_info["id"])
        if activation is None:
            raise SandboxError("no such activation")
        return _ok(self.state.activation_view(activation))

    async def _sms_to_activation(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        activation_id = request.match_info["id"]
        self.state.deliver_sms(activation_id, str(body["text"]), body.get("code"))
        return _ok(self.state.activation_view(self.state.activations[activation_id]))

    async def _list_rentals(self, request: web.Request) -> web.Response:
        self.state.tick()
        key = request.query.get("key")
        items = [
            self.state.rental_view(r)
            for r in self.state.rentals.values()
            if key is None or r.key == key
        ]
        return _ok({"rentals": items})

    async def _get_rental(self, request: web.Request) -> web.Response:
        self.state.tick()
        rental = self.state.rentals.get(request.match_info["id"])
        if rental is None:
            raise SandboxError("no such rental")
        return _ok(self.state.rental_view(rental))

    async def _sms_to_rental(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        rent_id = request.match_info["id"]
        self.state.deliver_rent_sms(
            rent_id, str(body["text"]), str(body.get("phone_from", "Service"))
        )
        return _ok(self.state.rental_view(self.state.rentals[rent_id]))

    async def _list_purchases(self, request: web.Request) -> web.Response:
        return _ok(
            {
                "purchases": self.state.purchases,
                "rent_purchases": self.state.rent_purchases,
                "extensions": self.state.extensions,
            }
        )

    async def _list_requests(self, request: web.Request) -> web.Response:
        return _ok({"requests": self.state.requests})

    async def _get_clock(self, request: web.Request) -> web.Response:
        return _ok(self.state.clock_view())

    async def _set_clock(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if "speed" in body:
            self.state.set_clock_speed(float(body["speed"]))
        if "advance" in body:
            self.state.advance_clock(float(body["advance"]))
        self.state.tick()
        return _ok(self.state.clock_view())

    async def _set_stock(self, request: web.Request) -> web.Response:
        """Now, or at a clock time ("at") or after some seconds ("after"), optionally with a
        new price ("cost"): stock that changes over time."""
        body = await self._body(request)
        country, service, count = str(body["country"]), str(body["service"]), int(body["count"])
        if "at" in body or "after" in body:
            at = float(body["at"]) if "at" in body else self.state.now() + float(body["after"])
            cost = str(body["cost"]) if body.get("cost") is not None else None
            self.state.schedule_stock(country, service, count, at=at, cost=cost)
        else:
            self.state.set_stock(country, service, count)
        return _ok(self.state.offer_view(country, service))

    async def _set_price(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        self.state.set_price(str(body["country"]), str(body["service"]), str(body["cost"]))
        return _ok(self.state.offer_view(str(body["country"]), str(body["service"])))

    async def _set_offer(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        country, service = str(body["country"]), str(body["service"])
        if "count" in body:
            self.state.set_stock(country, service, int(body["count"]))
        if "cost" in body:
            self.state.set_price(country, service, str(body["cost"]))
        if "rent_hour_cost" in body or "rent_count" in body:
            hour_cost = body.get("rent_hour_cost")
            self.state.set_rent(
                country,
                service,
                hour_cost=None if hour_cost is None else str(hour_cost),
                count=None if body.get("rent_count") is None else int(body["rent_count"]),
            )
        if "prohibited" in body:
            self.state.set_prohibited(country, service, bool(body["prohibited"]))
        if "delivery" in body or "delivery_after" in body:
            current = self.state.offer_view(country, service)["delivery"]
            probability = body.get("delivery", current)
            after = body.get("delivery_after")
            self.state.set_delivery(
                country,
                service,
                None if probability is None else float(probability),
                None if after is None else float(after),
            )
        return _ok(self.state.offer_view(country, service))

    async def _list_faults(self, request: web.Request) -> web.Response:
        return _ok({"faults": [self.state.fault_view(f) for f in self.state.faults]})

    async def _add_fault(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        kind = str(body.pop("kind"))
        action = body.pop("action", None)
        count = int(body.pop("count", 1))
        fault = self.state.inject_fault(kind, action=action, count=count, **body)
        return _ok(self.state.fault_view(fault), status=201)

    async def _clear_faults(self, request: web.Request) -> web.Response:
        self.state.clear_faults()
        return _ok({"faults": []})

    async def _set_config(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        self.state.configure(**body)
        return _ok(self.state.config_view())

    async def _tick(self, request: web.Request) -> web.Response:
        self.state.tick()
        return _ok({"now": self.state.now()})

    async def _reset(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        self.state.reset(keep_keys=bool(body.get("keep_keys", False)))
        return _ok({"ok": True, "keys": len(self.state.accounts)})
