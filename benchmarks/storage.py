"""Storage figures: the tracker's reads at many live numbers.

    python -m benchmarks.storage            # 10,000 live numbers (and 10,000 ended)
    python -m benchmarks.storage --quick    # 500, for the smoke test

Prints the best of `--repeat` runs of:
- live: every live number with its codes (the schedule's load when the tracker starts);
- live_after: the numbers stored since the last pass (ten new ones; every pass asks);
- get_many: the rows a poll shows a change for (ten of them, read again in one query).
The tracker's schedule and next polls live in memory: a pass reads only these, and a poll
that changes nothing reads and writes nothing. Budgets fail on a busy machine, so these are
figures, and the tests assert only what the calls return.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from benchmarks.common import format_table, say, write_results
from storage import Database, KeyCipher

LIVE_STATUSES = ("waiting", "retry", "received")


async def fill(db: Database, key_id: int, live: int) -> None:
    """`live` live activations of user 1 under `key_id` (a third with a code), as many ended
    ones, and next polls spread over 0..99 s. Bulk rows straight through the connection."""
    conn = db.connection
    await conn.execute("BEGIN")
    await conn.executemany(
        "INSERT INTO activations(user_id, key_id, provider_id, service, country, phone, cost,"
        " status, created_at, ends_at, cancel_allowed_at, next_poll_at)"
        " VALUES (1, ?, ?, 'tg', '0', '7999', '0.15', ?, 0, 1200, 120, ?)",
        [(key_id, str(i), LIVE_STATUSES[i % 3], float(i % 100)) for i in range(live)]
        + [(key_id, f"ended{i}", "finished", 0.0) for i in range(live)],
    )
    await conn.executemany(
        "INSERT INTO activation_codes(activation_id, round, code, received_at) VALUES (?, 0, ?, 1)",
        [(i, f"{i:05d}") for i in range(3, live + 1, 3)],
    )
    await conn.execute("COMMIT")


async def _best(work: Callable[[], Awaitable[Any]], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        await work()
        best = min(best, time.perf_counter() - started)
    return best


async def run(live: int, repeat: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as folder:
        db = await Database.open(
            Path(folder) / "bench.db", KeyCipher([Fernet.generate_key().decode()])
        )
        try:
            key = await db.keys.add(1, label="bench", base_url="https://p.test", api_key="k" * 32)
            await fill(db, key.id, live)
            await db.connection.execute("ANALYZE")
            changed = list(range(1, live, live // 10))[:10]
            steps = [
                ("live, every live number", db.activations.live, 250.0),
                ("live_after, ten new", lambda: db.activations.live_after(live - 10), 5.0),
                ("get_many, ten changed", lambda: db.activations.get_many(changed), 5.0),
            ]
            rows = []
            for name, work, target in steps:
                best = await _best(work, repeat)
                rows.append(
                    {
                        "step": name,
                        "live": live,
                        "best_ms": round(best * 1000, 3),
                        "target_ms": target,
                        "meets_target": best * 1000 <= target,
                    }
                )
            return rows
        finally:
            await db.close()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.storage", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="500 live numbers, one run")
    parser.add_argument("--live", type=int, default=None, help="live numbers (10,000)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per step (3)")
    parser.add_argument("--output", type=Path, default=None, help="JSON path")
    args = parser.parse_args(argv)
    live = args.live or (500 if args.quick else 10_000)
    repeat = args.repeat or (1 if args.quick else 3)
    rows = asyncio.run(run(live, repeat))
    columns = [
        ("step", "step"),
        ("live", "live"),
        ("best_ms", "best ms"),
        ("target_ms", "target ms"),
        ("meets_target", "ok"),
    ]
    say(format_table(rows, columns))
    data = {"quick": args.quick, "steps": rows}
    path = write_results("storage", data, args.output)
    say(f"\nJSON: {path}")
    return data


if __name__ == "__main__":
    main()
