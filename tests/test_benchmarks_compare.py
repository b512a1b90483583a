"""benchmarks.compare: reading the figures of each benchmark's JSON, lining old and new up,
ratios and flags. No benchmark runs here (benchmarks are figures, not tests)."""

from __future__ import annotations

import argparse
import resource

import pytest

from benchmarks.common import format_table
from benchmarks.compare import (
    BENCHMARKS,
    Comparison,
    Figure,
    benchmark_args,
    catalog_figures,
    compare_runs,
    format_comparisons,
    format_range,
    handlers_figures,
    parse_only,
    process_figures,
    run_order,
    tracker_figures,
)


def _named(figures: list[Figure]) -> dict[str, Figure]:
    return {figure.name: figure for figure in figures}


def test_catalog_figures_are_each_steps_median_and_p95() -> None:
    data = {
        "steps": [
            {"step": "parse + index (one service)", "median_ms": 45.0, "p95_ms": 51.5},
            {"step": "render services page", "median_ms": 0.12, "p95_ms": None},
        ]
    }
    figures = _named(catalog_figures(data))
    assert set(figures) == {
        "parse + index (one service): median ms",
        "parse + index (one service): p95 ms",
        "render services page: median ms",
    }  # a figure the run did not report is left out, not read as 0
    assert figures["parse + index (one service): p95 ms"].value == 51.5
    assert not any(figure.higher_is_better for figure in figures.values())


def test_handlers_figures_throughput_is_better_higher() -> None:
    data = {
        "rows": [
            {
                "workload": "mix (no provider I/O)",
                "updates_per_s": 1190.4,
                "p50_ms": 0.8,
                "p95_ms": 1.1,
                "max_ms": 4.1,
                "provider_requests": 0,
                "db_hops_per_update": 3.0,
            }
        ],
        "full_gc_ms_warmed_heap": 130.5,
    }
    figures = _named(handlers_figures(data))
    assert figures["mix (no provider I/O): updates/s"].higher_is_better
    assert figures["mix (no provider I/O): updates/s"].value == 1190.4
    assert figures["mix (no provider I/O): db hops/update"].value == 3.0
    assert figures["mix (no provider I/O): provider requests"].value == 0
    assert not figures["mix (no provider I/O): p95 ms"].higher_is_better
    assert figures["full GC of the warmed heap ms"].value == 130.5


def test_tracker_figures_per_scenario_and_mode() -> None:
    row = {
        "activations": 1000,
        "keys": 10,
        "mode": "batched",
        "requests_per_s": 4.0,
        "per_key_max_per_second": 1,
        "p50_ms": 1300.0,
        "p95_ms": 2430.0,
        "codes_missing": 0,
        "cpu_pct_one_core": 1.4,
        "peak_rss_mb": 51.0,
        "tracker_stats": {"ticks": 10},
    }
    figures = _named(tracker_figures({"results": [row, {**row, "mode": "per_id"}]}))
    assert figures["1000/10 batched: p95 ms"].value == 2430.0
    assert figures["1000/10 per_id: provider req/s"].value == 4.0
    assert figures["1000/10 batched: codes missing"].value == 0
    assert figures["1000/10 batched: peak RSS MB"].value == 51.0
    assert len(figures) == 14


def test_ratio_is_of_each_trees_best_round() -> None:
    latency = Comparison("p95 ms", old=(10.0, 14.0), new=(11.0, 30.0))
    assert latency.ratio == pytest.approx(1.1)  # min over min: a busy round does not count
    throughput = Comparison(
        "updates/s", old=(900.0, 1000.0), new=(950.0, 700.0), higher_is_better=True
    )
    assert throughput.ratio == pytest.approx(0.95)  # max over max


def test_flag_when_worse_by_more_than_the_threshold_either_direction() -> None:
    slower = Comparison("p95 ms", old=(10.0,), new=(11.5,))
    assert slower.worse_by() == pytest.approx(0.15) and slower.flagged(0.10)
    within = Comparison("p95 ms", old=(10.0,), new=(10.9,))
    assert not within.flagged(0.10)
    faster = Comparison("p95 ms", old=(10.0,), new=(5.0,))
    assert faster.worse_by() == pytest.approx(-0.5) and not faster.flagged(0.10)
    fewer_updates = Comparison("updates/s", old=(1000.0,), new=(850.0,), higher_is_better=True)
    assert fewer_updates.worse_by() == pytest.approx(0.15) and fewer_updates.flagged(0.10)
    more_updates = Comparison("updates/s", old=(1000.0,), new=(2000.0,), higher_is_better=True)
    assert not more_updates.flagged(0.10)


def test_zero_before() -> None:
    assert Comparison("codes missing", old=(0.0,), new=(0.0,)).ratio == 1.0
    missing = Comparison("codes missing", old=(0.0,), new=(3.0,))
    assert missing.ratio is None and missing.flagged(0.10)  # from none missing to some: worse
    appeared = Comparison("updates/s", old=(0.0,), new=(5.0,), higher_is_better=True)
    assert appeared.ratio is None and not appeared.flagged(0.10)


def test_a_figure_one_side_lacks_is_shown_not_flagged() -> None:
    only_new = Comparison("new figure", old=(), new=(1.0,))
    assert only_new.ratio is None and only_new.worse_by() is None
    assert not only_new.flagged(0.10)


def test_compare_runs_lines_up_rounds_in_first_seen_order() -> None:
    old_runs = [
        [Figure("a", 1.0), Figure("b", 10.0, True)],
        [Figure("a", 2.0), Figure("b", 12.0, True)],
    ]
    new_runs = [
        [Figure("b", 11.0, True), Figure("a", 1.5), Figure("c", 7.0)],
        [Figure("a", 1.7), Figure("b", 13.0, True), Figure("c", 8.0)],
    ]
    comparisons = compare_runs(old_runs, new_runs)
    assert [c.name for c in comparisons] == ["a", "b", "c"]
    a, b, c = comparisons
    assert a.old == (1.0, 2.0) and a.new == (1.5, 1.7) and not a.higher_is_better
    assert b.old == (10.0, 12.0) and b.new == (11.0, 13.0) and b.higher_is_better
    assert c.old == () and c.new == (7.0, 8.0)


def test_ranges_and_table() -> None:
    assert format_range(()) == "-"
    assert format_range((45.25,)) == "45.2"
    assert format_range((1190.4, 1351.0)) == "1,190–1,351"
    assert format_range((0.12, 0.12)) == "0.12"
    assert format_range((0.0,)) == "0"
    table = format_comparisons(
        [
            Comparison("mix: p95 ms", old=(1.0, 1.1), new=(1.3, 1.4)),
            Comparison("mix: updates/s", old=(1000.0,), new=(990.0,), higher_is_better=True),
        ],
        0.10,
    )
    lines = table.splitlines()
    assert lines[0].split() == ["figure", "old", "new", "new/old"]
    assert lines[2].startswith("mix: p95 ms") and "1–1.1" in lines[2]
    assert "1.30" in lines[2] and lines[2].rstrip().endswith("WORSE >10%")
    assert "0.99" in lines[3] and "WORSE" not in lines[3]


def test_format_table_left_aligns_the_columns_asked() -> None:
    rows = [{"name": "a", "n": 1}, {"name": "bbb", "n": 22}]
    table = format_table(rows, [("name", "name"), ("n", "n")], left=("name",))
    assert table.splitlines()[2:] == ["a      1", "bbb   22"]
    assert format_table(rows, [("name", "name"), ("n", "n")]).splitlines()[2] == "   a   1"


def test_rounds_alternate_which_tree_goes_first() -> None:
    assert run_order(3) == [("old", "new"), ("new", "old"), ("old", "new")]


def test_only_and_arguments() -> None:
    assert parse_only("tracker, catalog") == ["tracker", "catalog"]
    with pytest.raises(argparse.ArgumentTypeError):
        parse_only("catalog,storage")
    with pytest.raises(argparse.ArgumentTypeError):
        parse_only(",")
    tracker = BENCHMARKS["tracker"]
    assert "--quick" in benchmark_args(tracker, None, quick=True)
    assert "--quick" not in benchmark_args(tracker, None, quick=False)
    assert benchmark_args(tracker, "--scenarios 100x10 --window 5", quick=True) == [
        "--scenarios",
        "100x10",
        "--window",
        "5",
    ]


def test_process_figures_from_the_kernels_account() -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures = _named(process_figures(usage))
    assert set(figures) == {"process peak RSS MB", "process CPU s"}
    assert figures["process peak RSS MB"].value == round(usage.ru_maxrss / 1024, 1) > 0
    assert figures["process CPU s"].value == round(usage.ru_utime + usage.ru_stime, 2)
    assert not any(figure.higher_is_better for figure in figures.values())
