"""Each benchmark still runs in its tiny --quick form and writes the JSON fields it promises.

No performance target is asserted here: timing belongs in benchmarks/, not in tests.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path


def _load(path: Path) -> dict:
    data = json.loads(path.read_text())
    assert data["machine"]["nproc"] >= 1 and data["machine"]["python"]
    return data


def test_catalog_quick(tmp_path: Path) -> None:
    from benchmarks import catalog

    out = tmp_path / "catalog.json"
    catalog.main(["--quick", "--output", str(out)])
    data = _load(out)
    assert data["countries"] == 20 and data["services"] == 30 and data["answer_bytes"] > 0
    steps = {step["step"]: step for step in data["steps"]}
    assert (
        "parse + index (one service)" in steps and "render countries page (offers + page)" in steps
    )
    for step in steps.values():
        assert step["runs"] >= 1 and step["median_ms"] >= 0


def test_handlers_quick(tmp_path: Path) -> None:
    from benchmarks import handlers

    out = tmp_path / "handlers.json"
    handlers.main(["--quick", "--updates", "40", "--refreshes", "4", "--output", str(out)])
    rows = {row["workload"]: row for row in _load(out)["rows"]}
    mix = rows["mix (no provider I/O)"]
    assert mix["updates"] == 40 and mix["p95_ms"] is not None and mix["updates_per_s"] > 0
    # Warm caches: the page taps never reached the provider; each refresh did.
    assert mix["provider_requests"] == 0
    assert rows["card refresh (getStatus, sandbox 0 ms)"]["provider_requests"] >= 4


def test_tracker_quick(tmp_path: Path) -> None:
    from benchmarks import tracker

    out = tmp_path / "tracker.json"
    tracker.main(["--quick", "--scenarios", "20x2", "--window", "3", "--output", str(out)])
    data = _load(out)
    modes = {row["mode"]: row for row in data["results"]}
    assert set(modes) == {"batched", "per_id", "naive"}
    for row in modes.values():
        assert row["activations"] == 20 and row["keys"] == 2 and row["requests"] > 0
        for field in ("requests_per_s", "p50_ms", "p95_ms", "max_ms", "cpu_s", "peak_rss_mb"):
            assert field in row
        assert row["sms_sent"] >= 1
    # The batched tracker used the one-request-per-key listing, the per-id one did not.
    assert modes["batched"]["by_action"].get("getActiveActivations", 0) > 0
    assert "getActiveActivations" not in modes["per_id"]["by_action"]
    assert {row["mode"] for row in data["comparison"]} == {"batched", "per_id"}


def test_storage_quick(tmp_path: Path) -> None:
    from benchmarks import storage

    out = tmp_path / "storage.json"
    storage.main(["--quick", "--output", str(out)])
    steps = {row["step"]: row for row in _load(out)["steps"]}
    assert set(steps) == {
        "live, every live number",
        "live_after, ten new",
        "get_many, ten changed",
    }
    for row in steps.values():
        assert row["live"] == 500 and row["best_ms"] >= 0


def test_load_quick(tmp_path: Path) -> None:
    from benchmarks import load

    out, png = tmp_path / "load.json", tmp_path / "load.png"
    load.main(["--quick", "--output", str(out), "--plot", str(png)])
    data = _load(out)
    (row,) = data["results"]
    assert row["shape"] == "20x20" and row["mode"] == "bot"
    for field in (
        "fast_p50_s", "fast_p95_s", "fast_p99_s", "slow_p50_s", "slow_p95_s", "slow_p99_s",
        "handler_p95_ms", "handler_p99_ms", "handler_max_ms", "provider_req_per_s",
        "cpu_pct", "rss_peak_mb", "telegram_429", "fast_found_p95_s", "fast_sent_p95_s",
    ):  # fmt: skip
        assert field in row, field
    # Codes were sent and every one reached the fake Bot API; the handlers were fed.
    assert row["codes"] > 0 and row["missed"] == 0
    # Each fast-window code found and sent: its two stages, none missing.
    assert len(row["fast_stages"]) == row["codes_fast"]
    assert all(found is not None and sent is not None for _, found, sent in row["fast_stages"])
    assert row["handler_updates"] > 0 and row["handler_failed"] == 0
    assert row["naive"]["mode"] == "naive" and row["naive"]["provider_req_per_s"] > 0
    assert row["polling_req_per_s"] > 0 and row["naive"]["polling_req_per_s"] > 0
    assert data["table"].startswith("| shape") and png.stat().st_size > 0


def test_load_quick_postgresql_two_workers(
    tmp_path: Path, postgres_admin_url: str, redis_server_url: str
) -> None:
    """The web role and two `python -m bot tracker` workers on a PostgreSQL database of the
    run's own and Redis (the suite's servers), as the scaled deployment runs: per-worker
    figures, and each worker held keys."""
    from benchmarks import load

    out, png = tmp_path / "load.json", tmp_path / "load.png"
    databases = asyncio.run(_databases(postgres_admin_url))
    load.main(
        [
            "--quick", "--no-naive", "--workers", "2", "--database-url", postgres_admin_url,
            "--redis-url", redis_server_url, "--output", str(out), "--plot", str(png),
        ]
    )  # fmt: skip
    data = _load(out)
    (row,) = data["results"]
    assert row["database"] == "postgresql" and row["redis"] and row["split"]
    assert row["workers"] == 2
    for field in ("tracker_cpu_pct_each", "tracker_rss_peak_mb_each", "tracker_keys_each"):
        assert len(row[field]) == 2, field
    assert row["tracker_cpu_pct"] is not None and row["tracker_rss_peak_mb"] > 0
    assert row["tracker_cpu_ms_per_provider_request"] is not None
    # Both workers held leases at the end of the window.
    assert all(held > 0 for held in row["tracker_keys_each"])
    assert row["codes"] > 0 and row["handler_failed"] == 0
    assert "2 trackers" in data["table"]
    # The server's URL stays out of the results, and the run's database was dropped after it.
    assert data["config"]["database"] == "postgresql" and postgres_admin_url not in out.read_text()
    assert asyncio.run(_databases(postgres_admin_url)) <= databases


async def _databases(url: str) -> set[str]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT datname FROM pg_database")
    finally:
        await conn.close()
    return {row["datname"] for row in rows}
