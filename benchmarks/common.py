"""Shared helpers for the benchmarks: percentiles, tables, JSON results, machine facts."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import socket
import sys
import time
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100), nearest-rank on sorted data; None for no data."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


def summary_ms(seconds: Sequence[float]) -> dict[str, float | None]:
    """p50 / p95 / max of durations given in seconds, reported in milliseconds."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 3)

    return {
        "p50_ms": ms(percentile(seconds, 50)),
        "p95_ms": ms(percentile(seconds, 95)),
        "max_ms": ms(max(seconds) if seconds else None),
    }


def cpu_seconds() -> float:
    """User + system CPU time of this process (all its threads, e.g. aiosqlite's)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def machine() -> dict[str, Any]:
    """The facts a reader needs to compare figures: cores, CPU model, Python."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def format_table(
    rows: Iterable[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    *,
    left: Collection[str] = (),
) -> str:
    """A plain-text table; `columns` pairs a row key with its heading. Cells are right-aligned
    (numbers line up), except in the columns whose keys are in `left` (names read better so)."""
    keys = [key for key, _ in columns]
    body = [[_cell(row.get(key)) for key in keys] for row in rows]
    heads = [head for _, head in columns]
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(heads)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if k in left else c.rjust(w)
            for c, w, k in zip(cells, widths, keys, strict=True)
        )

    lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += [line(r) for r in body]
    return "\n".join(lines)


def write_results(name: str, data: dict[str, Any], path: Path | None = None) -> Path:
    """Write benchmarks/results/<name>.json (or `path`) with the machine facts and a timestamp."""
    target = path or RESULTS_DIR / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "machine": machine(), "finished_at": time.time(), **data}
    target.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return target


def say(text: str) -> None:
    print(text, flush=True)


def log_progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def database_named(url: str, name: str) -> str:
    """The same PostgreSQL server's URL, naming another database."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@contextlib.asynccontextmanager
async def scratch_database(admin_url: str, name: str) -> AsyncIterator[str]:
    """A database of its own on a PostgreSQL server (for a test or a benchmark run): created,
    its URL yielded, dropped afterwards even with sessions still open on it."""
    import asyncpg

    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield database_named(admin_url, name)
    finally:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
