"""`python -m sandbox` as a user starts it: prints a demo key, answers a plain getBalance."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _read_banner(stdout: asyncio.StreamReader) -> str:
    lines: list[str] = []
    while True:
        line = (await asyncio.wait_for(stdout.readline(), timeout=15)).decode()
        if not line:
            break
        lines.append(line)
        if line.startswith("Demo API key:"):
            break
    return "".join(lines)


async def test_cli_prints_demo_key_and_serves_balance() -> None:
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sandbox",
        "--port",
        str(port),
        "--balance",
        "250",
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        banner = await _read_banner(process.stdout)
        assert f"http://127.0.0.1:{port}/stubs/handler_api.php" in banner
        found = re.search(r"Demo API key: (\S+)", banner)
        assert found, banner
        url = f"http://127.0.0.1:{port}/stubs/handler_api.php"
        async with (
            aiohttp.ClientSession() as session,
            session.get(url, params={"api_key": found.group(1), "action": "getBalance"}) as reply,
        ):
            assert reply.status == 200
            assert await reply.text() == "ACCESS_BALANCE:250"
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=10)
    assert process.returncode == 0
