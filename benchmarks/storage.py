"""Storage figures: the tracker's per-pass reads and writes at many live numbers.

    python -m benchmarks.storage            # 10,000 live numbers (and 10,000 ended)
    python -m benchmarks.storage --quick    # 500, for the smoke test

Prints the best of `--repeat` runs of:
- due_for_poll with a tenth of the live numbers due (a normal pass);
- due_for_poll with every live number due (the first pass after a restart);
- set_next_poll_each writing a next poll for every live number in one call.
These were test budgets once (50 ms, 250 ms, 500 ms); budgets fail on a busy machine, so they
are figures here and the tests assert only what the calls return.
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
            decided = {i: 5000.0 + i % 100 for i in range(1, live + 1)}
            steps = [
                ("due_for_poll, a tenth due", lambda: db.activations.due_for_poll(9.0), 50.0),
                ("due_for_poll, all due", lambda: db.activations.due_for_poll(1000.0), 250.0),
                (
                    "set_next_poll_each, all live",
                    lambda: db.activations.set_next_poll_each(decided),
                    500.0,
                ),
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
