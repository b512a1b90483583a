"""python -m sandbox: run the sandbox provider and print a demo key and the base URL."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from sandbox.server import SandboxServer
from sandbox.state import Clock, SandboxState


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="A GrizzlySMS-compatible provider emulator with a control API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081, help="port (0 = any free port)")
    parser.add_argument("--lifetime", type=float, default=1200, help="activation lifetime, s")
    parser.add_argument("--cancel-lock", type=float, default=120, help="early-cancel lock, s")
    parser.add_argument("--speed", type=float, default=1.0, help="clock speed factor")
    parser.add_argument("--quirks", action="store_true", help="answer in quirky shapes")
    parser.add_argument("--balance", default="1000", help="balance of the demo key")
    parser.add_argument("--demo-key", default=None, help="fixed demo key")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    state = SandboxState(
        Clock(speed=args.speed),
        lifetime=args.lifetime,
        cancel_lock=args.cancel_lock,
        quirks=args.quirks,
        max_requests=10_000,  # a demo may run for days
    )
    key = state.create_key(balance=args.balance, key=args.demo_key)
    server = SandboxServer(state, host=args.host, port=args.port)
    await server.start()
    print(f"Sandbox provider listening on {server.base}", flush=True)
    print(f"Base URL: {server.url}", flush=True)
    print(f"Control API: {server.base}/control/", flush=True)
    print(f"Demo API key: {key} (balance {args.balance})", flush=True)
    await run_until_signalled(server)


async def run_until_signalled(server: SandboxServer) -> None:
    """Keep a started server up until SIGINT or SIGTERM, then stop it.

    Shared with `benchmarks.sandbox_proc`, which runs a sandbox in its own process too."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
