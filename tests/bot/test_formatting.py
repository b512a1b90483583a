"""Money, durations, masked keys, flags and time-zone settings as the views show them."""

from __future__ import annotations

from datetime import UTC, timedelta
from decimal import Decimal

import pytest

from bot.formatting import (
    flag,
    format_duration,
    format_money,
    mask_key,
    parse_utc_offset,
    user_timezone,
    utc_offset_label,
)


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("10.500000"), "10.50"),
        (Decimal("0.035"), "0.035"),
        (Decimal("100"), "100.00"),
        (Decimal("1.23456"), "1.2346"),
        ("7.5", "7.50"),
        (None, "—"),
        ("nan", "—"),
        ("garbage", "—"),
    ],
)
def test_format_money(amount: object, text: str) -> None:
    assert format_money(amount) == text  # type: ignore[arg-type]


def test_format_money_with_currency() -> None:
    assert format_money(Decimal("5"), "RUB") == "5.00 ₽"
    assert format_money(Decimal("5"), "XYZ") == "5.00 XYZ"


def test_format_duration() -> None:
    assert format_duration(3 * 86400 + 4 * 3600 + 59) == "3 d 4 h"
    assert format_duration(1200) == "20 min"
    assert format_duration(45) == "45 s"
    assert format_duration(-5) == "0 s"
    assert format_duration(3700, "ru") == "1 ч 1 мин"
    assert format_duration(90000, "zh") == "1天1小时"


def test_mask_key_shows_only_the_tail() -> None:
    assert mask_key("abcdef0123456789") == "••••6789"
    # A short key shows less: never more than a third of it.
    assert mask_key("12345678") == "••••78"
    assert mask_key("ab") == "••••"


def test_flag() -> None:
    assert flag("ru") == "🇷🇺" and flag("US") == "🇺🇸"
    assert flag("") == "" and flag("RUS") == "" and flag("1a") == ""


def test_utc_offsets_round_trip() -> None:
    for minutes in (0, 180, -300, 330, 345, -210, 840, -720):
        assert parse_utc_offset(utc_offset_label(minutes)) == minutes
    assert parse_utc_offset("UTC+3") == 180
    assert parse_utc_offset("+15:00") is None
    assert parse_utc_offset("Europe/Moscow") is None
    assert user_timezone("UTC+05:30").utcoffset(None) == timedelta(hours=5, minutes=30)
    assert user_timezone("UTC") is UTC
    assert user_timezone("Nowhere/City") is UTC


# ------------------------------------------------------------------ long texts (item 30)

_HOSTILE_LONG = "&<" * 2500  # 5,000 characters that grow fivefold when escaped


def _entities_whole(piece: str) -> bool:
    """Every `&` in `piece` starts a complete entity (nothing cut in the middle)."""
    import re

    return all(
        re.match(r"&(amp|lt|gt|quot|#x27);", piece[i:]) for i, ch in enumerate(piece) if ch == "&"
    )


@pytest.mark.parametrize("limit", [7, 100, 2500, 4000])
def test_clip_escaped_cuts_after_escaping_never_inside_an_entity(limit: int) -> None:
    from bot.formatting import clip_escaped

    clipped = clip_escaped(_HOSTILE_LONG, limit)
    assert len(clipped) <= limit and clipped.endswith("…")
    assert _entities_whole(clipped)
    assert clip_escaped("a&b", limit) == "a&amp;b"  # short texts are only escaped


@pytest.mark.parametrize("limit", [10, 999, 4000])
def test_split_escaped_keeps_every_character(limit: int) -> None:
    import html

    from bot.formatting import split_escaped

    pieces = split_escaped(_HOSTILE_LONG + "end", limit)
    assert all(0 < len(piece) <= limit and _entities_whole(piece) for piece in pieces)
    assert html.unescape("".join(pieces)) == _HOSTILE_LONG + "end"
    assert split_escaped("", limit) == [""]


# ------------------------------------------------------------------ provider times (item 9)

MOSCOW = "Europe/Moscow"


@pytest.mark.parametrize(
    ("raw", "utc"),
    [
        ("2023-10-26 11:03:39", "2023-10-26 08:03 UTC"),  # Grizzly: Moscow time, no zone
        (" 2023-10-25 11:02:31", "2023-10-25 08:02 UTC"),  # the seed page's leading space
        ("2026-1-2 3-4-5", "2026-01-02 00:04 UTC"),  # BANNED:'…'
        ("'2026-1-2 3-4-5'", "2026-01-02 00:04 UTC"),
        ("2025-08-22T08:54:25+00:00", "2025-08-22 08:54 UTC"),  # its own zone wins
        ("2022-07-17T19:54:55+03:00", "2022-07-17 16:54 UTC"),
        ("1800000000", "2027-01-15 08:00 UTC"),
    ],
)
def test_provider_times_are_read_in_the_providers_zone(raw: str, utc: str) -> None:
    from zoneinfo import ZoneInfo

    from bot.formatting import format_provider_time

    assert format_provider_time(raw, ZoneInfo(MOSCOW), UTC) == utc


def test_provider_times_show_in_the_users_zone_labelled() -> None:
    from zoneinfo import ZoneInfo

    from bot.formatting import format_provider_time, format_time

    moscow = ZoneInfo(MOSCOW)
    assert format_provider_time("2023-10-26 11:03:39", moscow, user_timezone("+05:30")) == (
        "2023-10-26 13:33 UTC+05:30"
    )
    assert format_provider_time("2023-10-26 11:03:39", moscow, moscow) == (
        "2023-10-26 11:03 Europe/Moscow"
    )
    assert format_provider_time("yesterday", moscow, UTC) is None
    assert format_provider_time(None, moscow, UTC) is None
    assert format_time(1_800_000_000, user_timezone("UTC-3")) == "2027-01-15 05:00 UTC-03:00"


def test_format_money_uses_the_languages_decimal_mark() -> None:
    assert format_money(Decimal("0.5"), "RUB", lang="ru") == "0,50 ₽"
    assert format_money(Decimal("0.5"), "USD", lang="zh") == "0.50 $"
