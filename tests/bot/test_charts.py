"""Charts: a valid PNG of the promised size, drawn in a worker thread, a bounded number at once."""

from __future__ import annotations

import asyncio
import struct
import threading
import warnings
import zlib
from dataclasses import replace
from datetime import UTC
from typing import Any

from bot.charts import (
    HEIGHT_PX,
    WIDTH_PX,
    Panel,
    Series,
    StackedBars,
    can_draw,
    png_size,
    render_stacked_bars,
)
from bot.i18n import Translator
from bot.spending import ChartTexts, Outcome, SpendingService, aggregate, chart_texts
from storage import Database
from storage.spending import SpendingGroups
from tests.bot.test_spending import WEEK
from tests.harness import until

TEXTS = ChartTexts("Spending", "Nothing", {o: o.value for o in Outcome}, "?")


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """A PNG's chunks, each checked against its CRC (read here, not with the module's helper)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        data = png[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", png[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + data) == crc, kind
        chunks.append((kind, data))
        offset += 12 + length
    return chunks


def _assert_png_of_chart_size(png: bytes) -> None:
    chunks = _chunks(png)
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height = struct.unpack(">II", chunks[0][1][:8])
    assert (width, height) == (WIDTH_PX, HEIGHT_PX)
    assert png_size(png) == (WIDTH_PX, HEIGHT_PX)


def test_a_chart_is_a_png_of_the_expected_size() -> None:
    days = tuple(f"01-{d:02d}" for d in range(1, 32))
    panels = (
        Panel(
            "RUB", "₽", (Series("Code received", "#2e7d32", tuple(float(d) for d in range(31))),)
        ),
        Panel("USD", "$", (Series("Refunded", "#bdbdbd", (0.5,) * 31),)),
    )
    _assert_png_of_chart_size(render_stacked_bars(StackedBars("Spending", days, panels, "-")))


def test_an_empty_chart_is_the_same_size() -> None:
    _assert_png_of_chart_size(render_stacked_bars(StackedBars("Spending", (), (), "Nothing")))


def test_png_size_refuses_what_is_not_a_png() -> None:
    for junk in (b"", b"GIF89a" + b"\0" * 30, b"\x89PNG\r\n\x1a\n" + b"\0" * 8):
        try:
            png_size(junk)
        except ValueError:
            continue
        raise AssertionError(f"{junk!r} taken for a PNG")


def test_can_draw_knows_the_fonts_glyphs() -> None:
    assert can_draw("Spending per day", "Расходы по дням")
    assert not can_draw("\ue000")  # a private-use character no font has


def _chinese_chart() -> StackedBars:
    """Every word a chart can show, in Chinese, with the spans the bot writes into titles."""
    t = Translator().bind("zh")
    span = t("spending-span", first="2027-01-11", last="2027-01-17")
    texts = chart_texts(t, t("spending-chart-title", span=span))
    series = tuple(Series(label, "#2e7d32", (1.0, 2.0)) for label in texts.outcomes.values())
    panels = (
        Panel(texts.unknown_currency, "", series),
        Panel(t("admin-chart-title", days=30), "", series),
    )
    return StackedBars(texts.title, ("01-11", "01-12"), panels, texts.empty)


def _missing_glyph_warnings(chart: StackedBars) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        render_stacked_bars(chart)
    return [str(w.message) for w in caught if "missing from" in str(w.message)]


def test_every_chinese_chart_word_is_drawn_not_boxed() -> None:
    chart = _chinese_chart()
    words = [chart.title, chart.empty]
    words += [p.title for p in chart.panels] + [s.label for s in chart.panels[0].series]
    assert can_draw(*words), "a Chinese chart word has no glyph: run python -m docs.chart_font"
    assert _missing_glyph_warnings(chart) == []
    empty = replace(chart, panels=())
    assert _missing_glyph_warnings(empty) == []


def test_a_character_no_chart_font_has_is_reported_missing() -> None:
    """The check above can fail: matplotlib warns for a glyph neither font has."""
    assert _missing_glyph_warnings(replace(_chinese_chart(), title="グラフ")) != []


async def test_the_chart_is_drawn_in_a_worker_thread_a_bounded_number_at_once(
    tdb: Database, clock: Any
) -> None:
    loop_thread = threading.get_ident()
    gate = threading.Event()
    running, peak, threads = 0, 0, set()
    lock = threading.Lock()

    def held_render(chart: StackedBars) -> bytes:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            threads.add(threading.get_ident())
        gate.wait(timeout=30)  # a guard against a hang, not a budget
        with lock:
            running -= 1
        return render_stacked_bars(chart)

    spending = SpendingService(tdb, clock, render=held_render, max_renders=1)
    report = aggregate(SpendingGroups((), (), True), WEEK, UTC)
    first = asyncio.create_task(spending.chart(report, TEXTS))
    second = asyncio.create_task(spending.chart(report, TEXTS))
    await until(lambda: running == 1)
    # The event loop is free while a chart is drawn: this runs although the render is held.
    assert await asyncio.sleep(0, result="loop alive") == "loop alive"
    gate.set()
    pngs = await asyncio.gather(first, second)
    assert peak == 1  # max_renders=1: the second waited its turn
    assert loop_thread not in threads
    for png in pngs:
        _assert_png_of_chart_size(png)
