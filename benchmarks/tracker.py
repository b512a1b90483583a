"""Tracker at scale: the batched tracker, the per-id tracker and a naive baseline, side by side.

    python -m benchmarks.tracker                      # default matrix (about 9 minutes)
    python -m benchmarks.tracker --quick              # seconds: proves it still runs
    python -m benchmarks.tracker --scenarios 10000x1000 --window 60

Each (scenario, mode) runs in a fresh worker process (so CPU seconds and peak RSS belong to
that run alone) against a fresh sandbox in a process of its own (`benchmarks.sandbox_proc`)
with a simulated provider latency. The worker stores the keys and live activations in a new
SQLite file, starts the tracker (or the naive pollers), waits a warm-up, then measures a fixed
window during which the sandbox delivers SMS at random times. Figures: provider requests per
second as the sandbox counted them, the busiest key-second (the per-key rate limit), code
delivery latency (the sandbox's SMS time to the Notifier's code_received), CPU seconds and
peak RSS of the bot side.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.common import (
    cpu_seconds,
    format_table,
    log_progress,
    peak_rss_mb,
    say,
    summary_ms,
    write_results,
)

MODES = ("batched", "per_id", "naive")
NAIVE_INTERVAL = 5.0  # what typical bots do: getStatus every 5 s per number
DEFAULT_SCENARIOS = "1000x10,1000x100,10000x1000"


@dataclass(slots=True)
class RunSpec:
    activations: int
    keys: int
    mode: str
    window: float
    warmup: float
    latency: float
    sms_fraction: float
    seed: int
    poll_fast: float = 2.5


# ---------------------------------------------------------------------- the bot side


class RecordingNotifier:
    """A Notifier that only notes when each code reached it (wall time)."""

    def __init__(self) -> None:
        self.code_at: dict[str, float] = {}
        self.events = 0

    async def code_received(self, activation: Any, code: Any, to: Any, settle: Any) -> None:
        self.code_at.setdefault(activation.provider_id, time.time())
        await settle(True)

    async def _other(self, *args: Any) -> None:
        self.events += 1

    async def activation_changed(self, activation: Any, to: Any) -> None:
        await self._other(activation)

    async def activation_ended(self, activation: Any, refunded: bool, to: Any) -> None:
        await self._other(activation)

    async def activation_adopted(self, activation: Any, to: Any) -> None:
        await self._other(activation)

    async def rental_sms(self, rental: Any, sms: Any, to: Any, settle: Any) -> None:
        await self._other(rental)
        await settle(True)

    async def rental_changed(self, rental: Any, to: Any) -> None:
        await self._other(rental)

    async def rental_reminder(self, rental: Any, seconds_left: int, to: Any) -> None:
        await self._other(rental)

    async def rental_ended(self, rental: Any, to: Any) -> None:
        await self._other(rental)

    async def pending_unresolved(self, pending: Any, to: Any) -> None:
        await self._other(pending)

    async def key_revoked(self, key: Any, to: Any) -> None:
        await self._other(key)

    async def replace_stopped(self, chain: Any, to: Any) -> None:
        await self._other(chain)


class NaivePoller:
    """The baseline: one task per activation, getStatus every 5 s until a code arrives (or the
    number ends). `max_in_flight` holds it to the tracker's connection limit (benchmarks.load
    compares the two under the same limits)."""

    def __init__(
        self,
        providers: Any,
        notifier: RecordingNotifier,
        rng: random.Random,
        *,
        max_in_flight: int | None = None,
    ) -> None:
        self.providers = providers
        self.notifier = notifier
        self.rng = rng
        self.tasks: list[asyncio.Task[None]] = []
        self.errors = 0
        self.in_flight = asyncio.Semaphore(max_in_flight) if max_in_flight else None

    def start(self, base_url: str, key_ids: dict[str, list[str]]) -> None:
        for api_key, provider_ids in key_ids.items():
            client = self.providers.client(base_url, api_key)
            for provider_id in provider_ids:
                # Numbers are bought at different moments: the pollers are out of step.
                offset = self.rng.uniform(0, NAIVE_INTERVAL)
                self.tasks.append(asyncio.create_task(self._poll(client, provider_id, offset)))

    def poll_new(self, client: Any, provider_id: str) -> None:
        """A number just bought: polled from now on, at once and then every 5 s."""
        self.tasks.append(asyncio.create_task(self._poll(client, provider_id, 0.0)))

    async def _poll(self, client: Any, provider_id: str, offset: float) -> None:
        from bot.provider.errors import ProviderError

        await asyncio.sleep(offset)
        while True:
            try:
                if self.in_flight is None:
                    status = await client.get_status(provider_id)
                else:
                    async with self.in_flight:
                        status = await client.get_status(provider_id)
            except ProviderError:
                self.errors += 1
            else:
                if status.state == "ok":
                    self.notifier.code_at.setdefault(provider_id, time.time())
                    return
                if status.state == "cancel":  # the number ended: nothing more to wait for
                    return
            await asyncio.sleep(NAIVE_INTERVAL)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def _store(
    db: Any,
    base_url: str,
    populated: dict[str, Any],
    now: float,
    poll_fast: float,
    rng: random.Random,
) -> None:
    """Keys and live activations into the bot's database, as purchases would have left them."""
    for index, entry in enumerate(populated["keys"]):
        user_id = 10_000 + index
        await db.users.get_or_create(user_id, "en")
        key = await db.keys.add(user_id, label=f"k{index}", base_url=base_url, api_key=entry["key"])
        for provider_id, phone in entry["activations"]:
            await db.activations.add(
                user_id=user_id,
                key_id=key.id,
                provider_id=provider_id,
                service=populated["service"],
                country=populated["country"],
                phone=phone,
                cost=Decimal("18"),
                currency="643",
                created_at=now,
                ends_at=now + 1200,
                cancel_allowed_at=now + 120,
                chat_id=user_id,
                # Bought at slightly different moments: polls are out of step, as in real life.
                next_poll_at=now + rng.uniform(0, poll_fast),
            )


def _start_sandbox() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.sandbox_proc", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("READY "):
        proc.terminate()
        raise RuntimeError(f"sandbox did not start: {line!r}")
    return proc, line.split()[1]


def _stop_sandbox(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def run_one(spec: RunSpec) -> dict[str, Any]:
    """One scenario in one mode; the result dict is what the orchestrator tabulates."""
    from cryptography.fernet import Fernet

    from bot.provider.factory import ProviderFactory
    from bot.provider.guard import AddressPolicy
    from bot.tracker import Tracker, TrackerConfig
    from storage import Database, KeyCipher

    rng = random.Random(spec.seed)
    per_key = max(1, spec.activations // spec.keys)
    proc, base = await asyncio.to_thread(_start_sandbox)
    tmp = tempfile.TemporaryDirectory(prefix="bench-tracker-")
    control = aiohttp.ClientSession()
    # The sandbox runs on this machine: loopback allowed, as in sandbox mode.
    providers = ProviderFactory(timeout=15.0, address_policy=AddressPolicy(allow_loopback=True))
    notifier = RecordingNotifier()
    tracker: Any = None
    naive: NaivePoller | None = None
    db: Any = None
    try:
        setup_started = time.time()
        async with control.post(
            f"{base}/bench/populate", json={"keys": spec.keys, "per_key": per_key}
        ) as resp:
            populated = await resp.json()
        base_url = f"{base}/stubs/handler_api.php"
        config = TrackerConfig(batch=spec.mode != "per_id", poll_fast=spec.poll_fast)
        cipher = KeyCipher([Fernet.generate_key().decode()])
        db = await Database.open(Path(tmp.name) / "bench.db", cipher)
        await _store(db, base_url, populated, time.time(), config.poll_fast, rng)
        setup_seconds = time.time() - setup_started
        async with control.post(f"{base}/bench/latency", json={"seconds": spec.latency}) as resp:
            resp.raise_for_status()

        if spec.mode == "naive":
            naive = NaivePoller(providers, notifier, rng)
            naive.start(
                base_url, {e["key"]: [a[0] for a in e["activations"]] for e in populated["keys"]}
            )
        else:
            tracker = Tracker(db, providers, notifier, config)
            await tracker.start()
        await asyncio.sleep(spec.warmup)

        # ---- the measured window
        t0 = time.time()
        cpu0 = cpu_seconds()
        async with control.get(f"{base}/bench/stats") as resp:
            before = await resp.json()
        all_ids = [a[0] for e in populated["keys"] for a in e["activations"]]
        chosen = rng.sample(all_ids, max(1, int(len(all_ids) * spec.sms_fraction)))
        # SMS across the window, leaving a tail so the last ones can still be fetched.
        tail = min(10.0, spec.window * 0.3)
        plan = [[pid, t0 + rng.uniform(0.2, spec.window - tail)] for pid in chosen]
        async with control.post(f"{base}/bench/sms_plan", json={"plan": plan}) as resp:
            resp.raise_for_status()
        await asyncio.sleep(max(0.0, t0 + spec.window - time.time()))
        t1 = time.time()
        cpu = cpu_seconds() - cpu0
        async with control.get(
            f"{base}/bench/stats", params={"since": str(int(t0)), "until": str(int(t1))}
        ) as resp:
            after = await resp.json()
    finally:
        if tracker is not None:
            await tracker.stop()
        if naive is not None:
            await naive.stop()
        await providers.close()
        await control.close()
        if db is not None:
            await db.close()
        _stop_sandbox(proc)
        tmp.cleanup()

    sms_at: dict[str, float] = after["sms_at"]
    latencies = [
        notifier.code_at[pid] - at for pid, at in sms_at.items() if pid in notifier.code_at
    ]
    requests = after["total"] - before["total"]
    by_action = {
        action: count - before["by_action"].get(action, 0)
        for action, count in after["by_action"].items()
        if count - before["by_action"].get(action, 0) > 0
    }
    elapsed = t1 - t0
    return {
        "activations": per_key * spec.keys,
        "keys": spec.keys,
        "per_key": per_key,
        "mode": spec.mode,
        "window_s": round(elapsed, 2),
        "latency_s": spec.latency,
        "setup_s": round(setup_seconds, 2),
        "requests": requests,
        "requests_per_s": round(requests / elapsed, 2),
        "by_action": by_action,
        "per_key_max_per_second": after["per_key_max_per_second"],
        "sms_sent": len(sms_at),
        "sms_errors": after["sms_errors"],
        "codes_delivered": len(latencies),
        "codes_missing": len(sms_at) - len(latencies),
        **summary_ms(latencies),
        "cpu_s": round(cpu, 3),
        "cpu_pct_one_core": round(100 * cpu / elapsed, 1),
        "peak_rss_mb": peak_rss_mb(),
        "tracker_stats": _tracker_counts(tracker.metrics) if tracker is not None else None,
    }


def _tracker_counts(metrics: Any) -> dict[str, float]:
    """The tracker's instruments, every sample by name (labels folded into the name)."""
    counts: dict[str, float] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            counts[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return counts


# ---------------------------------------------------------------------- the orchestrator


def parse_scenarios(text: str) -> list[tuple[int, int]]:
    """ "10000x1000,1000x10" -> [(10000, 1000), (1000, 10)] (activations x keys)."""
    scenarios = []
    for part in text.split(","):
        activations, keys = part.lower().split("x")
        scenarios.append((int(activations), int(keys)))
    return scenarios


def run_worker(spec: RunSpec, timeout: float) -> dict[str, Any]:
    """Run one (scenario, mode) in a fresh process; its last stdout line is the JSON result."""
    command = [
        sys.executable, "-m", "benchmarks.tracker", "--worker",
        "--scenarios", f"{spec.activations}x{spec.keys}", "--modes", spec.mode,
        "--window", str(spec.window), "--warmup", str(spec.warmup),
        "--latency", str(spec.latency), "--sms-fraction", str(spec.sms_fraction),
        "--seed", str(spec.seed), "--poll-fast", str(spec.poll_fast),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"worker failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(lines[-1])


def compare(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per scenario: how many times fewer requests than naive, and the p95s side by side."""
    rows = []
    scenarios = sorted({(r["activations"], r["keys"]) for r in results})
    for activations, keys in scenarios:
        by_mode = {
            r["mode"]: r for r in results if (r["activations"], r["keys"]) == (activations, keys)
        }
        naive = by_mode.get("naive")
        for mode in ("batched", "per_id"):
            mine = by_mode.get(mode)
            if mine is None or naive is None:
                continue
            ratio = naive["requests"] / mine["requests"] if mine["requests"] else None
            rows.append(
                {
                    "scenario": f"{activations}/{keys}",
                    "mode": mode,
                    "fewer_requests_x": round(ratio, 2) if ratio is not None else None,
                    "p95_ms": mine["p95_ms"],
                    "naive_p95_ms": naive["p95_ms"],
                    "p95_equal_or_better": (
                        mine["p95_ms"] is not None
                        and naive["p95_ms"] is not None
                        and mine["p95_ms"] <= naive["p95_ms"]
                    ),
                }
            )
    return rows


COLUMNS = [
    ("activations", "acts"),
    ("keys", "keys"),
    ("mode", "mode"),
    ("requests_per_s", "req/s"),
    ("per_key_max_per_second", "key max/s"),
    ("p50_ms", "p50 ms"),
    ("p95_ms", "p95 ms"),
    ("max_ms", "max ms"),
    ("codes_delivered", "codes"),
    ("codes_missing", "missing"),
    ("cpu_s", "cpu s"),
    ("cpu_pct_one_core", "cpu %"),
    ("peak_rss_mb", "rss MB"),
]
COMPARE_COLUMNS = [
    ("scenario", "acts/keys"),
    ("mode", "mode"),
    ("fewer_requests_x", "x fewer req than naive"),
    ("p95_ms", "p95 ms"),
    ("naive_p95_ms", "naive p95 ms"),
    ("p95_equal_or_better", "p95 <= naive"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.tracker",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="a few seconds: tiny sizes")
    parser.add_argument(
        "--scenarios", default=None, help=f"ACTIVATIONSxKEYS,... (default {DEFAULT_SCENARIOS})"
    )
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        help="batched,per_id,naive",
    )
    parser.add_argument("--window", type=float, default=None, help="measured seconds (45)")
    parser.add_argument("--warmup", type=float, default=None, help="seconds before (5)")
    parser.add_argument("--latency", type=float, default=0.08, help="provider latency, s")
    parser.add_argument(
        "--sms-fraction",
        type=float,
        default=0.5,
        help="share of activations that get an SMS in the window",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--poll-fast",
        type=float,
        default=2.5,
        help="the tracker's POLL_FAST: fewer requests against a higher latency",
    )
    parser.add_argument("--output", type=Path, default=None, help="JSON path")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="run one (scenario, mode) in this process under cProfile; stats here",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    scenarios = parse_scenarios(args.scenarios or ("40x4" if args.quick else DEFAULT_SCENARIOS))
    window = args.window if args.window is not None else (3.0 if args.quick else 45.0)
    warmup = args.warmup if args.warmup is not None else (0.5 if args.quick else 5.0)
    latency = 0.01 if args.quick and args.latency == 0.08 else args.latency
    modes = [m for m in args.modes.split(",") if m]
    specs = [
        RunSpec(a, k, mode, window, warmup, latency, args.sms_fraction, args.seed, args.poll_fast)
        for a, k in scenarios
        for mode in modes
    ]
    if args.worker:
        print(json.dumps(asyncio.run(run_one(specs[0]))), flush=True)
        return {}
    if args.profile is not None:
        import cProfile

        profiler = cProfile.Profile()
        result = profiler.runcall(asyncio.run, run_one(specs[0]))
        profiler.dump_stats(str(args.profile))
        say(format_table([result], COLUMNS))
        return {"results": [result]}
    results = []
    for spec in specs:
        log_progress(f"tracker: {spec.activations} activations / {spec.keys} keys, {spec.mode}…")
        results.append(run_worker(spec, timeout=spec.window + spec.warmup + 300))
    comparison = compare(results)
    say(format_table(results, COLUMNS))
    if comparison:
        say("")
        say(format_table(comparison, COMPARE_COLUMNS))
    data = {
        "config": {
            "window_s": window,
            "warmup_s": warmup,
            "latency_s": latency,
            "sms_fraction": args.sms_fraction,
            "poll_fast_s": args.poll_fast,
            "naive_interval_s": NAIVE_INTERVAL,
            "quick": args.quick,
        },
        "results": results,
        "comparison": comparison,
    }
    path = write_results("tracker", data, args.output)
    say(f"\nJSON: {path}")
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    return data


if __name__ == "__main__":
    main()
