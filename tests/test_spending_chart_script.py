"""The docs picture's script still seeds a history through the repositories and draws it."""

from __future__ import annotations

from pathlib import Path

from bot.charts import HEIGHT_PX, WIDTH_PX, png_size
from docs import spending_chart


def test_the_docs_chart_script_draws_a_seeded_history(tmp_path: Path) -> None:
    output = tmp_path / "chart.png"
    spending_chart.main(["--output", str(output), "--days", "5"])
    assert png_size(output.read_bytes()) == (WIDTH_PX, HEIGHT_PX)


def test_the_docs_chart_script_draws_in_chinese(tmp_path: Path) -> None:
    output = tmp_path / "chart-zh.png"
    spending_chart.main(["--output", str(output), "--days", "3", "--lang", "zh"])
    assert png_size(output.read_bytes()) == (WIDTH_PX, HEIGHT_PX)
