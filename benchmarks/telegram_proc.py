"""The fake Telegram Bot API in its own process, as Telegram would treat a busy bot.

`python -m benchmarks.telegram_proc --token T --port P` serves `tests/e2e/fake_telegram.py`
with every answer `--latency` seconds late, Telegram's flood limits enforced (about 30
messages a second per bot, one a second per chat, 20 a minute per group; 429 with
`retry_after` beyond them) and any private chat open to the bot (the benchmark's users never
wrote first). It notes when each sendMessage carrying a benchmark code (seven digits, see
`load_model.code_for`) was accepted: the end point of code latency.

One extra method, `benchStats` (GET /bot<token>/benchStats), answers what it counted: codes
and when they were accepted, calls by method, 429s answered.

Running in its own process keeps its CPU out of the bot's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
from collections import deque
from typing import Any

from benchmarks.common import say
from bot.roles import lower_cpu_priority
from tests.e2e.fake_telegram import FakeTelegram, RateLimits

CODE = re.compile(r"(?<!\d)\d{7}(?!\d)")


class BenchTelegram(FakeTelegram):
    def __init__(self, token: str, *, port: int, latency: float, limits: RateLimits) -> None:
        super().__init__(
            token,
            port=port,
            latency=latency,
            limits=limits,
            open_chats=True,
            on_sent=self._sent,
            keep_calls=False,
        )
        self.code_at: dict[str, float] = {}
        self.sent = 0
        self.recent: deque[str] = deque(maxlen=10)  # the last texts sent, to see what went out

    def _sent(self, chat_id: int, text: str, at: float) -> None:
        self.sent += 1
        self.recent.append(text)
        for code in CODE.findall(text):
            self.code_at.setdefault(code, at)
        # The benchmark reads nothing of the chats: keep the process small over a long run.
        self.messages[chat_id] = {
            mid: m for mid, m in self.messages[chat_id].items() if not m.from_bot or m.markup
        }

    async def _api_benchstats(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "code_at": self.code_at,
            "sent": self.sent,
            "recent": list(self.recent),
            "by_method": dict(self.method_counts),
            "refused_429": self.flood.refused if self.flood is not None else 0,
        }


async def serve(args: argparse.Namespace) -> None:
    limits = RateLimits(per_bot=args.per_bot, per_chat=args.per_chat, per_group=args.per_group)
    server = BenchTelegram(args.token, port=args.port, latency=args.latency, limits=limits)
    await server.start()
    say(f"READY {server.url}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.telegram_proc")
    parser.add_argument("--token", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--per-bot", type=int, default=30)
    parser.add_argument("--per-chat", type=int, default=1)
    parser.add_argument("--per-group", type=int, default=20)
    parser.add_argument("--nice", type=int, default=0, help="lower the CPU priority by this")
    args = parser.parse_args(argv)
    lower_cpu_priority(args.nice)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
