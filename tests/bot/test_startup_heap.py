"""Every role, once started, keeps its start-up heap out of the collector's sight and collects
less often (bot.main.freeze_startup_heap): checked in a process of its own, since it changes
the interpreter it runs in."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import gc, json
from bot.telegram_models import import_aiogram
import_aiogram()
from bot.main import GC_THRESHOLDS, freeze_startup_heap
before = gc.get_threshold()
freeze_startup_heap()
print(json.dumps({"before": before, "after": gc.get_threshold(), "wanted": GC_THRESHOLDS,
                  "frozen": gc.get_freeze_count()}))
"""


def test_a_started_role_freezes_its_start_up_heap_and_collects_less_often() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["after"] == seen["wanted"] != seen["before"]
    assert seen["wanted"][0] > 10 * seen["before"][0]  # young collections far apart
    assert seen["frozen"] > 100_000  # aiogram's models and the rest of start-up
