"""Old against new, side by side: the three benchmarks on an old commit and on this tree.

    python -m benchmarks.compare                        # c30cc6a against this tree, 2 rounds
    python -m benchmarks.compare --quick --rounds 1     # a smoke run (a minute or so)
    python -m benchmarks.compare --old 1c9659e --only catalog,handlers --rounds 3
    python -m benchmarks.compare --only tracker --tracker-args="--scenarios 1000x100 --window 20"

The old commit is checked out into a temporary `git worktree` (removed afterwards). Each
benchmark runs as a subprocess of this Python with the tree's root as its working directory and
PYTHONPATH, so each tree measures its own code with its own benchmark file (the two may import
different module paths). Runs alternate between the trees, and each round swaps which tree goes
first (old, new, then new, old, ...), so a drift in the machine's load falls on both alike.

Figures come from the JSON file each benchmark writes (`--output`, an option the old commit's
benchmarks already take, so the old tree needs no change), plus the peak RSS and CPU seconds of
the catalog and handlers processes, read from the kernel's accounting of the finished child (the
tracker reports its workers' own). Per figure: the range over the rounds for each tree, and
new/old of each tree's best round (load from elsewhere only ever makes a run worse); a figure
worse by more than 10 % (`--threshold`) is flagged (updates/s is better higher, every other
figure lower). Wall-clock timings on a shared machine are noisy: read the ranges before the
flags, look at the exact figures (database round trips, provider requests) and the CPU seconds,
and re-run with more rounds, or on a quiet machine, where the ranges overlap.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import format_table, log_progress, say, write_results

DEFAULT_OLD = "c30cc6a"  # the last commit before the architecture issue
DEFAULT_THRESHOLD = 0.10
ROOT = Path(__file__).resolve().parent.parent
SIDES = ("old", "new")

JsonObject = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured number of one run, and which way is better."""

    name: str
    value: float
    higher_is_better: bool = False


@dataclass(frozen=True, slots=True)
class Benchmark:
    """How to run one benchmark for a comparison and which of its figures matter."""

    name: str
    full_args: tuple[str, ...]
    quick_args: tuple[str, ...]
    figures: Callable[[JsonObject], list[Figure]]
    # The process's own peak RSS and CPU seconds are figures (not for the tracker's orchestrator,
    # whose workers report their own).
    counts_process: bool


def _figure(name: str, value: object, *, higher_is_better: bool = False) -> list[Figure]:
    """A figure when the run reported a number; nothing for a missing or empty one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return []
    return [Figure(name, float(value), higher_is_better)]


def catalog_figures(data: JsonObject) -> list[Figure]:
    """Per step: the median and p95 milliseconds."""
    figures: list[Figure] = []
    for step in data.get("steps", []):
        figures += _figure(f"{step['step']}: median ms", step.get("median_ms"))
        figures += _figure(f"{step['step']}: p95 ms", step.get("p95_ms"))
    return figures


def handlers_figures(data: JsonObject) -> list[Figure]:
    """Per workload: throughput, p50/p95, database round trips and provider requests per tap;
    and one full collection of the warmed heap (which grows with what the bot keeps alive)."""
    figures: list[Figure] = []
    for row in data.get("rows", []):
        name = row["workload"]
        figures += _figure(f"{name}: updates/s", row.get("updates_per_s"), higher_is_better=True)
        figures += _figure(f"{name}: p50 ms", row.get("p50_ms"))
        figures += _figure(f"{name}: p95 ms", row.get("p95_ms"))
        figures += _figure(f"{name}: db hops/update", row.get("db_hops_per_update"))
        figures += _figure(f"{name}: provider requests", row.get("provider_requests"))
    figures += _figure("full GC of the warmed heap ms", data.get("full_gc_ms_warmed_heap"))
    return figures


def tracker_figures(data: JsonObject) -> list[Figure]:
    """Per scenario and mode: provider load, delivery latency, missed codes, CPU and memory."""
    figures: list[Figure] = []
    for row in data.get("results", []):
        name = f"{row['activations']}/{row['keys']} {row['mode']}"
        figures += _figure(f"{name}: provider req/s", row.get("requests_per_s"))
        figures += _figure(f"{name}: busiest key-second", row.get("per_key_max_per_second"))
        figures += _figure(f"{name}: p50 ms", row.get("p50_ms"))
        figures += _figure(f"{name}: p95 ms", row.get("p95_ms"))
        figures += _figure(f"{name}: codes missing", row.get("codes_missing"))
        figures += _figure(f"{name}: CPU % one core", row.get("cpu_pct_one_core"))
        figures += _figure(f"{name}: peak RSS MB", row.get("peak_rss_mb"))
    return figures


# The naive mode polls through the provider client only: it does not measure the tracker, so a
# comparison leaves it out (add `--modes batched,per_id,naive` to --tracker-args for a control).
TRACKED_MODES = ("--modes", "batched,per_id")
BENCHMARKS: dict[str, Benchmark] = {
    "catalog": Benchmark("catalog", (), ("--quick",), catalog_figures, counts_process=True),
    "handlers": Benchmark("handlers", (), ("--quick",), handlers_figures, counts_process=True),
    "tracker": Benchmark(
        "tracker",
        ("--scenarios", "1000x10,1000x100,10000x1000", "--window", "30", *TRACKED_MODES),
        ("--quick", *TRACKED_MODES),
        tracker_figures,
        counts_process=False,
    ),
}


# ---------------------------------------------------------------------- comparing figures


@dataclass(frozen=True, slots=True)
class Comparison:
    """One figure over the rounds of both trees."""

    name: str
    old: tuple[float, ...]
    new: tuple[float, ...]
    higher_is_better: bool = False

    def best(self, values: Sequence[float]) -> float:
        """A tree's best round: a busy machine only ever makes a run slower, so the best of
        the rounds is the closest to what the code itself costs."""
        return max(values) if self.higher_is_better else min(values)

    @property
    def ratio(self) -> float | None:
        """new/old of each tree's best round; None when a side is missing or old is 0 and new
        is not (no finite ratio); 1.0 when both are 0."""
        if not self.old or not self.new:
            return None
        old, new = self.best(self.old), self.best(self.new)
        if old == 0:
            return 1.0 if new == 0 else None
        return new / old

    def worse_by(self) -> float | None:
        """How much worse new is than old, as a fraction (negative: better); None when the
        sides cannot be compared. From 0 to anything is infinitely worse when lower is better
        (e.g. a code missing) and infinitely better when higher is."""
        if not self.old or not self.new:
            return None
        ratio = self.ratio
        if ratio is None:
            return -float("inf") if self.higher_is_better else float("inf")
        return 1 - ratio if self.higher_is_better else ratio - 1

    def flagged(self, threshold: float) -> bool:
        worse = self.worse_by()
        return worse is not None and worse > threshold


def compare_runs(
    old_runs: Sequence[Sequence[Figure]], new_runs: Sequence[Sequence[Figure]]
) -> list[Comparison]:
    """Line up each figure's values over the rounds of both trees, in the order the figures
    first appear (old's order, then any figure only the new tree reports)."""
    order: dict[str, bool] = {}  # name -> higher_is_better, insertion-ordered
    values: dict[str, dict[str, list[float]]] = {}
    for side, runs in (("old", old_runs), ("new", new_runs)):
        for run in runs:
            for figure in run:
                order.setdefault(figure.name, figure.higher_is_better)
                by_side = values.setdefault(figure.name, {"old": [], "new": []})
                by_side[side].append(figure.value)
    return [
        Comparison(name, tuple(values[name]["old"]), tuple(values[name]["new"]), better)
        for name, better in order.items()
    ]


def format_number(value: float) -> str:
    if value != value or value in (float("inf"), -float("inf")):
        return str(value)
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}".rstrip("0").rstrip(".") if value else "0"


def format_range(values: Sequence[float]) -> str:
    """'-' for none, '45.3' for one (or all equal), '44.1–45.3' for a spread."""
    if not values:
        return "-"
    low, high = format_number(min(values)), format_number(max(values))
    return low if low == high else f"{low}–{high}"


def comparison_rows(comparisons: Sequence[Comparison], threshold: float) -> list[dict[str, str]]:
    rows = []
    for item in comparisons:
        ratio = item.ratio
        if ratio is not None:
            shown = f"{ratio:.2f}"
        elif item.old and item.new:
            shown = "from 0"  # old was 0, new is not: no finite ratio
        else:
            shown = "-"
        rows.append(
            {
                "figure": item.name,
                "old": format_range(item.old),
                "new": format_range(item.new),
                "ratio": shown,
                "flag": f"WORSE >{threshold:.0%}" if item.flagged(threshold) else "",
            }
        )
    return rows


COLUMNS = [
    ("figure", "figure"),
    ("old", "old"),
    ("new", "new"),
    ("ratio", "new/old"),
    ("flag", ""),
]


def format_comparisons(comparisons: Sequence[Comparison], threshold: float) -> str:
    return format_table(comparison_rows(comparisons, threshold), COLUMNS, left=("figure", "flag"))


def run_order(rounds: int) -> list[tuple[str, str]]:
    """Which tree goes first in each round: old, new; then new, old; ... (drift cancels)."""
    return [SIDES if index % 2 == 0 else SIDES[::-1] for index in range(rounds)]


def parse_only(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose among {', '.join(BENCHMARKS)} (got {text!r})")
    return names


# ---------------------------------------------------------------------- running the trees


class BenchmarkFailed(RuntimeError):
    pass


@dataclass(slots=True)
class Tree:
    """A source tree to measure: its root and the commit it shows."""

    side: str
    root: Path
    label: str
    runs: dict[str, list[list[Figure]]] = field(default_factory=dict)


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BenchmarkFailed(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def current_label(root: Path) -> str:
    label = git(root, "rev-parse", "--short", "HEAD")
    if git(root, "status", "--porcelain", "--untracked-files=no"):
        label += "+changes"
    return label


@contextmanager
def old_worktree(root: Path, commit: str, scratch: Path) -> Iterator[Path]:
    """The old commit checked out (detached) beside the scratch files; removed afterwards."""
    path = scratch / "old-tree"
    git(root, "worktree", "add", "--detach", "--quiet", str(path), commit)
    try:
        yield path
    finally:
        done = subprocess.run(
            ["git", "-C", str(root), "worktree", "remove", "--force", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            log_progress(f"could not remove the worktree {path}: {done.stderr.strip()}")
            subprocess.run(["git", "-C", str(root), "worktree", "prune"], check=False)


def tree_env(root: Path) -> dict[str, str]:
    """The environment of a run: this tree alone on PYTHONPATH (an editable install of the
    project elsewhere must not supply the modules)."""
    return {**os.environ, "PYTHONPATH": str(root)}


def prepare(python: str, tree: Tree) -> None:
    """Byte-compile the tree (so neither side's first run pays for it) and check that its own
    modules are the ones imported."""
    env = tree_env(tree.root)
    subprocess.run(
        [python, "-m", "compileall", "-q", "bot", "handlers", "storage", "sandbox", "benchmarks"],
        cwd=tree.root,
        env=env,
        capture_output=True,
        check=False,
    )
    done = subprocess.run(
        [python, "-c", "import bot, handlers; print(bot.__file__); print(handlers.__file__)"],
        cwd=tree.root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    imported = [Path(line).resolve() for line in done.stdout.split()]
    if done.returncode != 0 or not all(p.is_relative_to(tree.root.resolve()) for p in imported):
        raise BenchmarkFailed(
            f"the {tree.side} tree ({tree.root}) does not import its own modules: "
            f"{done.stdout.strip() or done.stderr.strip()[-500:]}"
        )


def run_benchmark(
    python: str, tree: Tree, benchmark: Benchmark, args: Sequence[str], scratch: Path, tag: str
) -> list[Figure]:
    """One run of one benchmark in one tree; its figures."""
    output = scratch / f"{benchmark.name}-{tree.side}-{tag}.json"
    log = scratch / f"{benchmark.name}-{tree.side}-{tag}.log"
    command = [python, "-m", f"benchmarks.{benchmark.name}", *args, "--output", str(output)]
    with log.open("w") as sink:
        process = subprocess.Popen(
            command, cwd=tree.root, env=tree_env(tree.root), stdout=sink, stderr=subprocess.STDOUT
        )
        # wait4 (not wait): the kernel's account of this child alone, its peak RSS included.
        _pid, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0 or not output.exists():
        tail = log.read_text(errors="replace")[-3000:]
        raise BenchmarkFailed(
            f"{benchmark.name} failed in the {tree.side} tree ({process.returncode}):\n{tail}"
        )
    figures = benchmark.figures(json.loads(output.read_text()))
    if benchmark.counts_process:
        figures += process_figures(usage)
    return figures


def process_figures(usage: resource.struct_rusage) -> list[Figure]:
    """What the kernel counted for a finished run: its peak memory, and the CPU seconds it used
    (the whole run, start-up included). CPU time is the figure a busy machine disturbs least:
    waiting for a core is not counted, unlike in the benchmark's own wall-clock timings."""
    return [
        Figure("process peak RSS MB", round(usage.ru_maxrss / 1024, 1)),
        Figure("process CPU s", round(usage.ru_utime + usage.ru_stime, 2)),
    ]


def measure(
    python: str,
    trees: Mapping[str, Tree],
    plan: Sequence[tuple[Benchmark, Sequence[str]]],
    rounds: int,
    scratch: Path,
) -> None:
    for index, order in enumerate(run_order(rounds), start=1):
        for benchmark, args in plan:
            for side in order:
                tree = trees[side]
                log_progress(f"{benchmark.name}: round {index}/{rounds}, {side} ({tree.label})…")
                figures = run_benchmark(python, tree, benchmark, args, scratch, str(index))
                tree.runs.setdefault(benchmark.name, []).append(figures)


def measure_trees(
    python: str, old: str, plan: Sequence[tuple[Benchmark, Sequence[str]]], rounds: int
) -> dict[str, Tree]:
    """Both trees measured: the old commit in a temporary worktree, this tree in place."""
    old_commit = git(ROOT, "rev-parse", "--verify", "--short", f"{old}^{{commit}}")
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as scratch_name:
        scratch = Path(scratch_name)
        with old_worktree(ROOT, old_commit, scratch) as old_root:
            trees = {
                "old": Tree("old", old_root, old_commit),
                "new": Tree("new", ROOT, current_label(ROOT)),
            }
            for tree in trees.values():
                prepare(python, tree)
            measure(python, trees, plan, rounds, scratch)
    return trees


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--old", default=DEFAULT_OLD, help=f"the old commit ({DEFAULT_OLD})")
    parser.add_argument("--rounds", type=int, default=2, help="runs per tree and benchmark (2)")
    parser.add_argument("--quick", action="store_true", help="short configurations: a smoke run")
    parser.add_argument(
        "--only",
        type=parse_only,
        default=list(BENCHMARKS),
        help="a comma-separated subset of catalog,handlers,tracker",
    )
    for name in BENCHMARKS:
        parser.add_argument(
            f"--{name}-args",
            default=None,
            help=f"arguments for benchmarks.{name}, replacing the defaults (quoted)",
        )
    parser.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help="flag a figure worse by more than this fraction (0.10)",
    )
    parser.add_argument("--python", default=sys.executable, help="the interpreter for the runs")
    parser.add_argument("--output", type=Path, default=None, help="JSON path")
    return parser


def benchmark_args(benchmark: Benchmark, override: str | None, quick: bool) -> list[str]:
    if override is not None:
        return shlex.split(override)
    return list(benchmark.quick_args if quick else benchmark.full_args)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    if args.rounds < 1:
        raise SystemExit("--rounds must be at least 1")
    plan = [
        (
            BENCHMARKS[name],
            benchmark_args(BENCHMARKS[name], getattr(args, f"{name}_args"), args.quick),
        )
        for name in args.only
    ]
    try:
        trees = measure_trees(args.python, args.old, plan, args.rounds)
    except BenchmarkFailed as failure:
        raise SystemExit(f"benchmarks.compare: {failure}") from failure

    results: dict[str, Any] = {}
    flagged: list[str] = []
    for benchmark, bench_args in plan:
        comparisons = compare_runs(
            trees["old"].runs[benchmark.name], trees["new"].runs[benchmark.name]
        )
        say(
            f"\n{benchmark.name} (old {trees['old'].label}, new {trees['new'].label}, "
            f"{args.rounds} round{'s' if args.rounds > 1 else ''}; "
            f"args: {' '.join(bench_args) or 'defaults'})"
        )
        say(format_comparisons(comparisons, args.threshold))
        flagged += [f"{benchmark.name}: {c.name}" for c in comparisons if c.flagged(args.threshold)]
        results[benchmark.name] = {
            "args": bench_args,
            "figures": [
                {
                    "figure": c.name,
                    "old": list(c.old),
                    "new": list(c.new),
                    "higher_is_better": c.higher_is_better,
                    "ratio": c.ratio,
                    "flagged": c.flagged(args.threshold),
                }
                for c in comparisons
            ],
        }
    say(
        f"\n{len(flagged)} figure(s) worse by more than {args.threshold:.0%}"
        + (":\n  " + "\n  ".join(flagged) if flagged else ".")
    )
    data = {
        "old": trees["old"].label,
        "new": trees["new"].label,
        "rounds": args.rounds,
        "quick": args.quick,
        "threshold": args.threshold,
        "benchmarks": results,
        "flagged": flagged,
    }
    path = write_results("compare", data, args.output)
    say(f"\nJSON: {path}")
    return data


if __name__ == "__main__":
    main()
