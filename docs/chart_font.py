"""Make bot/fonts/chart-cjk-sc.otf: the glyphs the charts need for Chinese, from Noto Sans CJK SC.

    python -m docs.chart_font                       # Debian's fonts-noto-cjk as the source
    python -m docs.chart_font --source NotoSansCJKsc-Regular.otf

The charts draw with DejaVu Sans (matplotlib's own font: Latin, Cyrillic, digits) and take what
it lacks from this font. The full CJK font is 19 MB; the bot's Chinese texts use a few hundred
characters, so the repository carries only those (every character of bot/locales/zh), renamed
as the SIL Open Font License asks of a modified font. Run it again after the Chinese texts gain
characters: tests/bot/test_charts.py fails while a chart word has no glyph.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

from bot.charts import CJK_FAMILY, CJK_FONT

ROOT = Path(__file__).resolve().parent.parent
ZH_TEXTS = ROOT / "bot" / "locales" / "zh"
DEBIAN_SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
SC_IN_COLLECTION = 2  # JP, KR, SC, TC, HK: the order of Noto's .ttc


def chinese_characters(folder: Path = ZH_TEXTS) -> str:
    """Every character of the Chinese texts that is not ASCII, sorted (a stable subset)."""
    seen = {ch for path in folder.glob("*.ftl") for ch in path.read_text("utf-8") if ord(ch) > 127}
    return "".join(sorted(seen))


def make_subset(source: Path, output: Path, characters: str) -> int:
    """Write the subset; returns how many of `characters` it has a glyph for."""
    font = TTFont(source, fontNumber=SC_IN_COLLECTION if source.suffix == ".ttc" else -1)
    options = subset.Options()
    options.hinting = False
    options.layout_features = []
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=characters)
    subsetter.subset(font)
    _rename(font)
    font.save(output)
    charmap = font.getBestCmap()
    return sum(1 for ch in characters if ord(ch) in charmap)


def _rename(font: TTFont) -> None:
    """A modified OFL font does not carry the original's name."""
    names = font["name"]
    postscript = CJK_FAMILY.replace(" ", "")
    for record in list(names.names):
        if record.nameID in (1, 4, 16):
            names.setName(
                CJK_FAMILY, record.nameID, record.platformID, record.platEncID, record.langID
            )
        elif record.nameID == 6:
            names.setName(
                f"{postscript}-Regular", 6, record.platformID, record.platEncID, record.langID
            )
        elif record.nameID == 3:
            names.setName(
                f"{postscript}-subset", 3, record.platformID, record.platEncID, record.langID
            )
    font["CFF "].cff.fontNames = [f"{postscript}-Regular"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--source", type=Path, default=DEBIAN_SOURCE)
    parser.add_argument("--output", type=Path, default=CJK_FONT)
    args = parser.parse_args()
    characters = chinese_characters()
    covered = make_subset(args.source, args.output, characters)
    size = args.output.stat().st_size
    print(f"{args.output}: {covered} of {len(characters)} characters, {size // 1024} KB")


if __name__ == "__main__":
    main()
