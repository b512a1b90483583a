"""UserSettingsService: registration, the settings a user can change (checked against the
choices offered), and the bot's standing in their chat (blocked, back)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.errors import Stale
from bot.settings import MARGINS, TZ_OFFSETS, UserSettingsService

ALICE = 1


@pytest.fixture
def user_settings(services: Any) -> UserSettingsService:
    return services.user_settings


async def test_register_creates_once_with_telegrams_language(
    user_settings: UserSettingsService,
) -> None:
    assert await user_settings.get(ALICE) is None
    first = await user_settings.register(ALICE, "ru")
    assert first.language == "ru" and first.auto_cancel and not first.blocked
    again = await user_settings.register(ALICE, "en")  # Telegram's language changed since
    assert again.language == "ru"  # the stored choice stays
    assert await user_settings.get(ALICE) == again


async def test_each_setting_is_stored(user_settings: UserSettingsService) -> None:
    await user_settings.register(ALICE, "en")
    assert (await user_settings.set_language(ALICE, "zh")).language == "zh"
    assert not (await user_settings.set_auto_cancel(ALICE, False)).auto_cancel
    assert (await user_settings.set_margin(ALICE, MARGINS[-1])).auto_cancel_margin == MARGINS[-1]
    assert (await user_settings.set_timezone(ALICE, 330)).timezone == "UTC+05:30"
    assert (await user_settings.set_timezone(ALICE, -210)).timezone == "UTC-03:30"
    stored = await user_settings.get(ALICE)
    assert stored is not None
    assert (stored.language, stored.auto_cancel, stored.timezone) == ("zh", False, "UTC-03:30")


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("set_language", "xx"),
        ("set_margin", 7),
        ("set_margin", -60),
        ("set_timezone", 9999),
        ("set_timezone", 61),
    ],
)
async def test_values_no_keyboard_offers_are_refused(
    user_settings: UserSettingsService, change: str, value: object
) -> None:
    before = await user_settings.register(ALICE, "en")
    with pytest.raises(Stale):
        await getattr(user_settings, change)(ALICE, value)
    assert await user_settings.get(ALICE) == before


def test_the_offered_choices() -> None:
    assert tuple(sorted(MARGINS)) == MARGINS and all(m > 0 for m in MARGINS)
    assert TZ_OFFSETS[0] == -12 * 60 and TZ_OFFSETS[-1] == 14 * 60 and 345 in TZ_OFFSETS


async def test_blocked_is_cleared_once(user_settings: UserSettingsService) -> None:
    await user_settings.mark_blocked(ALICE)  # before any other contact: the row is made
    stored = await user_settings.get(ALICE)
    assert stored is not None and stored.blocked and not stored.suspended
    assert await user_settings.clear_blocked(ALICE) is True
    assert await user_settings.clear_blocked(ALICE) is False  # a return is acted on once
    stored = await user_settings.get(ALICE)
    assert stored is not None and not stored.blocked
