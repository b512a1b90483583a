"""Charts as PNG bytes: pure (data in, image out), drawn with matplotlib's Agg canvas.

Every call builds its own `Figure` and canvas, never pyplot's global state, so renders may run
in worker threads side by side (the caller runs them off the event loop, see bot.spending).
Texts come in already translated. They are drawn with DejaVu Sans (matplotlib's own: Latin,
Cyrillic, digits) and, for what it lacks, the bundled Chinese subset `CJK_FONT` (matplotlib's
font fallback); `can_draw` says whether the two have every glyph of a text (the image falls back
to English where they have not; the caption carries the user's language).

matplotlib (and numpy under it) takes seconds to import on a busy machine, so it is imported by
the functions that draw, when the first chart is drawn, in the worker thread drawing it: never
at the bot's start-up (a restart must be quick: numbers are waiting) nor on the event loop.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.font_manager import FontProperties

# Telegram shows photos up to 1280 px wide without scaling them down: one size for every chart.
WIDTH_PX = 1200
HEIGHT_PX = 675
DPI = 100
# Panels at most (one per currency); the rest are named in the caption, not drawn.
MAX_PANELS = 3
# Day labels on the x axis at most; the others are left out so they never overlap.
MAX_TICKS = 16

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# The glyphs of the Chinese texts, cut from Noto Sans CJK SC (docs/chart_font.py makes it; SIL
# OFL, bot/fonts/OFL.txt): a few hundred KB instead of a 19 MB system font the host may lack.
CJK_FONT = Path(__file__).resolve().parent / "fonts" / "chart-cjk-sc.otf"
CJK_FAMILY = "Chart CJK SC"
# In order: a glyph missing from the first comes from the next (matplotlib >= 3.6).
FAMILIES = ("DejaVu Sans", CJK_FAMILY)


@dataclass(frozen=True, slots=True)
class Series:
    """One layer of the stacked bars: a label and a value per day."""

    label: str
    color: str
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Panel:
    """One chart area (e.g. one currency): its title, its y-axis label and its layers."""

    title: str
    unit: str
    series: tuple[Series, ...]


@dataclass(frozen=True, slots=True)
class StackedBars:
    title: str
    days: tuple[str, ...]  # x-axis labels, one per bar
    panels: tuple[Panel, ...]  # none: the chart says `empty` instead
    empty: str


def render_stacked_bars(chart: StackedBars) -> bytes:
    """The chart as a PNG of WIDTH_PX × HEIGHT_PX pixels (call it off the event loop)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # see the module's docstring
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(chart.title, fontproperties=_font(15))
    panels = chart.panels[:MAX_PANELS]
    if not panels or not chart.days:
        axes = figure.add_subplot()
        axes.set_axis_off()
        axes.text(
            0.5,
            0.5,
            chart.empty,
            ha="center",
            va="center",
            color="#555555",
            fontproperties=_font(16),
        )
    else:
        grid = figure.subplots(len(panels), 1, sharex=True, squeeze=False)
        for axes, panel in zip(grid[:, 0], panels, strict=True):
            _draw_panel(axes, panel, len(chart.days))
        _label_days(grid[-1, 0], chart.days)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _draw_panel(axes: Axes, panel: Panel, days: int) -> None:
    positions = list(range(days))
    bottom = [0.0] * days
    for series in panel.series:
        axes.bar(positions, series.values, bottom=bottom, color=series.color, label=series.label)
        bottom = [b + v for b, v in zip(bottom, series.values, strict=True)]
    axes.set_title(panel.title, loc="left", fontproperties=_font(12))
    axes.set_ylabel(panel.unit, fontproperties=_font(10))
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    axes.legend(loc="upper left", prop=_font(9), frameon=False, ncols=len(panel.series))
    top = max(bottom, default=0.0)
    axes.set_ylim(0, top * 1.25 if top > 0 else 1)


def _label_days(axes: Axes, days: tuple[str, ...]) -> None:
    step = max(1, -(-len(days) // MAX_TICKS))
    shown = list(range(0, len(days), step))
    axes.set_xticks(shown, [days[i] for i in shown], rotation=45, ha="right", fontsize=9)
    axes.set_xlim(-0.6, len(days) - 0.4)


def _font(size: float) -> FontProperties:
    """The chart's fonts, in fallback order, at `size` points."""
    from matplotlib.font_manager import FontProperties  # see the module's docstring

    _register_cjk()
    return FontProperties(family=list(FAMILIES), size=size)


@lru_cache(maxsize=1)
def _register_cjk() -> None:
    """Tell matplotlib's font list about the bundled font, once per process (lru_cache holds a
    lock-free result; a second registration by a racing thread is harmless)."""
    from matplotlib.font_manager import fontManager  # see the module's docstring

    fontManager.addfont(str(CJK_FONT))


@lru_cache(maxsize=1)
def _font_charmap() -> frozenset[int]:
    """The code points the chart's fonts have between them."""
    from matplotlib.font_manager import FontProperties, findfont  # see the module's docstring
    from matplotlib.ft2font import FT2Font

    _register_cjk()
    charmap: set[int] = set()
    for family in FAMILIES:
        path = findfont(FontProperties(family=[family]), fallback_to_default=False)
        charmap.update(FT2Font(path).get_charmap())
    return frozenset(charmap)


def can_draw(*texts: str) -> bool:
    """True when the chart's fonts have a glyph for every character of `texts` (DejaVu Sans has
    Latin and Cyrillic, the bundled subset the Chinese texts; anything else, e.g. a key label in
    Japanese, would come out as boxes). Reads the fonts on first use: call it off the loop."""
    charmap = _font_charmap()
    return all(ord(ch) in charmap for text in texts for ch in text if not ch.isspace())


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's header (its IHDR chunk); ValueError when not a PNG."""
    if len(data) < 24 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)
