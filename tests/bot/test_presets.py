"""Each provider preset names the zone of its timestamps; a custom address uses a setting."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.config import DEFAULT_PROVIDER_URL
from bot.presets import COMPATIBLE, provider_zone


def _offset(tz: Any) -> timedelta:
    return datetime(2026, 11, 30, 12, tzinfo=tz).utcoffset() or timedelta(0)


def test_grizzly_and_the_sms_activate_family_keep_moscow_time(settings: Any) -> None:
    assert str(provider_zone(DEFAULT_PROVIDER_URL, settings)) == "Europe/Moscow"
    for preset in COMPATIBLE:
        assert str(provider_zone(preset.base_url, settings)) == "Europe/Moscow"


def test_the_sandbox_preset_agrees_with_what_the_sandbox_emits(settings: Any) -> None:
    from sandbox.state import SandboxState

    emitted = timedelta(hours=SandboxState().tz_offset_hours)
    assert _offset(provider_zone(settings.sandbox_url, settings)) == emitted


def test_a_custom_address_uses_the_setting(settings: Any) -> None:
    custom = "https://sms.example.com/stubs/handler_api.php"
    assert str(provider_zone(custom, settings)) == "Europe/Moscow"  # the default
    changed = settings.model_copy(update={"custom_provider_tz": "+05:30"})
    assert _offset(provider_zone(custom, changed)) == timedelta(hours=5, minutes=30)
    assert _offset(provider_zone(custom, None)) == timedelta(hours=3)
