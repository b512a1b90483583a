"""The load benchmark's own arithmetic: which codes count, a code's latency in stages, and the
state the seeded numbers start in."""

from __future__ import annotations

import argparse
import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from benchmarks import load
from benchmarks.load import (
    FAST_WINDOW,
    LoadSpec,
    Seeded,
    code_stages,
    held_codes,
    parse_workers,
    seed_database,
    seeded_delays,
    sms_plan,
    stage_rows,
    tap_of,
    window_sms,
)
from benchmarks.load_model import LIFETIME, code_for


def test_a_fast_code_s_latency_splits_into_finding_it_and_sending_it() -> None:
    stats = {
        "sms_at": {"1": 100.0, "2": 101.0, "3": 102.0, "4": 103.0, "5": 104.0, "6": 5.0},
        "sms_age": {"1": 10.0, "2": 10.0, "3": 10.0, "4": FAST_WINDOW + 1, "5": 10.0, "6": 1.0},
        "sms_key": {"1": "k", "2": "k", "3": "k", "4": "k", "5": "tapper", "6": "k"},
        # 1 found after 1.5 s; 2 found after 0.5 s and never sent; 3 never found.
        "seen_at": {"1": 101.5, "2": 101.5, "4": 200.0, "5": 104.1, "6": 5.1},
    }
    accepted = {"1": 101.75}
    rows = stage_rows(window_sms(stats, 50.0, 150.0, {"tapper"}), stats["seen_at"], accepted.get)
    # 4 is in the slow window, 5 a tapping user's, 6 before the window: none of them count.
    assert rows == [(100.0, 1.5, 0.25), (101.0, 0.5, None), (102.0, None, None)]
    stages = code_stages(rows)
    assert stages["fast_found_p50_s"] == 1.5 and math.isinf(stages["fast_found_p95_s"] or 0)
    assert stages["fast_sent_p50_s"] == 0.25 and math.isinf(stages["fast_sent_p95_s"] or 0)


def test_zero_workers_is_the_web_role_alone_and_a_negative_count_is_refused() -> None:
    assert parse_workers("0") == [0] and parse_workers("0,1") == [0, 1]
    with pytest.raises(argparse.ArgumentTypeError):
        parse_workers("-1")


def _children_running(module: str) -> list[int]:
    """This process's children whose command line names `module` (Linux's /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid() and module.encode() in argv:
            found.append(int(entry.name))
    return found


def test_the_outside_world_s_stand_ins_give_way_to_the_bot() -> None:
    """The sandbox and the fake Bot API stand for other machines: by default they run at a
    lower CPU priority than the bot's processes (`--outside-nice`)."""
    args = load.build_parser().parse_args(["--quick"])
    assert [spec.outside_nice for spec in load.specs_from(args)] == [10]
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    with load.neighbour(["benchmarks.telegram_proc", "--token", load.TOKEN], 4) as url:
        assert url.startswith("http://127.0.0.1:")
        children = _children_running("benchmarks.telegram_proc")
        assert [os.getpriority(os.PRIO_PROCESS, pid) for pid in children] == [min(19, ours + 4)]


async def test_the_drain_ends_once_every_code_is_in_and_never_after_its_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(load, "DRAIN_LOOK_EVERY", 0.0)
    looks: list[int] = []

    async def in_at_the_third_look() -> bool:
        looks.append(1)
        return len(looks) == 3

    await load.drain(load.LoadSpec(10, 1, drain=3600.0), in_at_the_third_look)
    assert len(looks) == 3  # not a look more, and no hour waited

    async def never() -> bool:
        looks.append(1)
        return False

    looks.clear()
    await load.drain(load.LoadSpec(10, 1, drain=0.0), never)
    assert len(looks) == 1  # its time was up: the codes still out are missed


def test_the_purchases_go_round_the_tapping_users() -> None:
    """One purchase a second among 200 users at 100 taps a second: each purchase by the next
    user, none by the same user twice in a round, and the other taps round every user."""
    taps = [tap_of(n, 100, 200) for n in range(100 * 200)]
    buyers = [user for user, buys in taps if buys]
    assert len(buyers) == 200 and sorted(buyers) == list(range(200))
    taps_each = Counter(user for user, buys in taps if not buys)
    assert set(taps_each) == set(range(200))
    assert max(taps_each.values()) - min(taps_each.values()) <= 1


def _seeded(numbers: int, keys: int) -> Seeded:
    """`numbers` numbers on `keys` keys, of ages spread evenly over a number's life."""
    per_key = numbers // keys
    entries = [
        {
            "key": f"key{k}",
            "activations": [[str(k * per_key + i + 1), "7900"] for i in range(per_key)],
        }
        for k in range(keys)
    ]
    return Seeded(entries, [LIFETIME * (n + 0.5) / numbers for n in range(numbers)])


def test_a_number_whose_sms_came_before_the_run_starts_with_its_code() -> None:
    """The steady state: a seeded number whose SMS came sooner after its purchase than its age
    holds its code; the others wait for theirs, in the run or later, and only those are in
    the SMS plan."""
    seeded, spec = _seeded(2000, 1000), LoadSpec(2000, 1000)
    held = held_codes(seeded, spec)
    delays = dict(zip((n[2] for n in seeded.numbers()), seeded_delays(seeded, spec), strict=True))
    ages = {n[2]: n[4] for n in seeded.numbers()}
    assert held and all(delays[i] == held[i] <= ages[i] for i in held)
    waiting = [i for i in ages if i not in held]
    assert all(delays[i] is None or delays[i] > ages[i] for i in waiting)
    # Most live numbers hold their code: 90 % get an SMS, most of them within two minutes.
    assert 0.7 < len(held) / len(ages) < 0.9
    plan = sms_plan(seeded, spec, seeded_at=1000.0, t0=1010.0, t_end=1070.0)
    assert plan and not {number for number, _at in plan} & set(held)


def test_the_rounds_before_and_the_quick_run_seed_every_number_waiting() -> None:
    seeded = _seeded(200, 100)
    assert held_codes(seeded, LoadSpec(200, 100, all_waiting=True)) == {}
    assert held_codes(seeded, LoadSpec(200, 100, quick=True)) == {}
    args = load.build_parser().parse_args(["--all-waiting", "--shape", "200x100"])
    assert [spec.all_waiting for spec in load.specs_from(args)] == [True]


async def test_a_held_number_is_stored_with_its_code_delivered(services: Any) -> None:
    seeded, spec = _seeded(40, 20), LoadSpec(40, 20)
    held = held_codes(seeded, spec)
    _users, owned = await seed_database(services, seeded, "http://p/", 10_000.0, spec, held)
    rows = [await services.db.activations.get_any(i) for ids in owned.values() for i in ids]
    by_provider = {row.provider_id: row for row in rows if row is not None}
    assert len(by_provider) == 40
    for provider_id, row in by_provider.items():
        if provider_id in held:
            assert [(c.code, c.delivered) for c in row.codes] == [(code_for(provider_id), True)]
            assert row.status == "received" and row.live
        else:
            assert row.codes == [] and row.status == "waiting"


async def test_the_sandbox_holds_a_seeded_code_without_timing_it() -> None:
    """`/bench/held`: the number answers with its code, and it is in no SMS time (nothing to
    time) nor among the codes whose first answer is watched (each answer would look for it)."""
    import aiohttp

    from benchmarks.sandbox_proc import BenchSandbox, CountingState
    from sandbox.state import Clock

    server = BenchSandbox(CountingState(Clock(), lifetime=1200), "127.0.0.1", 0)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            bench = f"{server.base}/bench"
            async with http.post(f"{bench}/populate", json={"keys": 1, "per_key": 2}) as reply:
                [entry] = (await reply.json())["keys"]
            held, waiting = (number[0] for number in entry["activations"])
            # One ended while the run was set up (here: never bought) is left out.
            async with http.post(f"{bench}/held", json={"ids": [held, "999999"]}) as reply:
                assert (await reply.json()) == {"held": 1}
            api = f"{server.base}/stubs/handler_api.php"
            statuses = []
            for number in (held, waiting):
                query = {"api_key": entry["key"], "action": "getStatus", "id": number}
                async with http.get(api, params=query) as reply:
                    statuses.append(await reply.text())
            async with http.get(f"{bench}/stats") as reply:
                stats = await reply.json()
    finally:
        await server.stop()
    assert statuses == [f"STATUS_OK:{code_for(held)}", "STATUS_WAIT_CODE"]
    assert stats["sms_at"] == {} and stats["seen_at"] == {}


async def test_the_naive_poller_gets_the_run_s_new_numbers_too() -> None:
    """The baseline faces the same load as the bot: numbers keep being bought at the
    steady-state rate, each polled from its purchase."""
    import asyncio
    from types import SimpleNamespace

    from benchmarks.load import naive_purchases
    from tests.harness import until

    bought: list[str] = []
    polled: list[tuple[str, str]] = []

    class Client:
        def __init__(self, api_key: str) -> None:
            self.api_key = api_key

        async def buy_activation(self, service: str, country: str) -> SimpleNamespace:
            bought.append(self.api_key)
            return SimpleNamespace(activation_id=str(len(bought)))

    providers = SimpleNamespace(client=lambda _url, api_key: Client(api_key))
    poller = SimpleNamespace(poll_new=lambda client, n: polled.append((client.api_key, n)))
    seeded = _seeded(4, 2)
    # 120 numbers a second: NUMBERS / 1,200 s, a number's life.
    spec = LoadSpec(int(120 * LIFETIME), 2)
    stop = asyncio.Event()
    buying = asyncio.create_task(naive_purchases(providers, "http://p", seeded, poller, spec, stop))
    await until(lambda: len(polled) >= 10)
    stop.set()
    await buying
    assert polled == [(key, str(n)) for n, key in enumerate(bought, start=1)]
    assert set(bought) <= {"key0", "key1"}
