"""Settings: language, auto-cancel and its margin, time zone (a UTC offset).

The values a callback carries are checked by the settings use case against the choices offered
(`bot.settings`), so a crafted callback cannot store anything the keyboard would not have
produced: it is answered "out of date".
"""

from __future__ import annotations

from collections.abc import Awaitable
from enum import StrEnum

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.errors import Stale
from bot.formatting import format_duration, parse_utc_offset, utc_offset_label
from bot.i18n import LANGUAGES, Translate, Translator
from bot.settings import MARGINS, TZ_OFFSETS, UserSettingsService
from handlers import replace_settings
from handlers.common import MenuAction, MenuCb, answer_quietly, answer_tap, menu_button, show
from handlers.errors import error_text
from storage import User

__all__ = ["MARGINS", "TZ_OFFSETS", "SettingsAction", "SettingsCb", "create_router"]

LANGUAGE_NAMES = {"en": "🇬🇧 English", "ru": "🇷🇺 Русский", "zh": "🇨🇳 中文"}


class SettingsAction(StrEnum):
    OPEN = "open"
    LANGUAGES = "lang"  # the language picker
    SET_LANGUAGE = "setlang"  # v: a language code
    AUTO_CANCEL = "auto"  # v: "1" on, "0" off
    MARGINS = "margin"  # the margin picker
    SET_MARGIN = "setmargin"  # v: seconds
    TIMEZONES = "tz"  # the time zone picker
    SET_TIMEZONE = "settz"  # v: minutes from UTC


class SettingsCb(CallbackData, prefix="s1"):  # type: ignore[explicit-any]  # BaseModel's Any
    action: SettingsAction
    v: str = ""


def _cb(action: SettingsAction, v: str = "") -> str:
    return SettingsCb(action=action, v=v).pack()


def settings_text(t: Translate, user: User, lang: str) -> str:
    minutes = parse_utc_offset(user.timezone)
    zone = utc_offset_label(minutes) if minutes is not None else user.timezone
    return t(
        "settings-text",
        language=LANGUAGE_NAMES.get(lang, lang),
        auto=t("settings-on") if user.auto_cancel else t("settings-off"),
        margin=format_duration(user.auto_cancel_margin, lang),
        timezone=zone,
    )


def settings_keyboard(t: Translate, user: User) -> InlineKeyboardMarkup:
    toggle = t("btn-auto-off") if user.auto_cancel else t("btn-auto-on")
    flip = "0" if user.auto_cancel else "1"
    rows = [
        [InlineKeyboardButton(text=t("btn-language"), callback_data=_cb(SettingsAction.LANGUAGES))],
        [InlineKeyboardButton(text=toggle, callback_data=_cb(SettingsAction.AUTO_CANCEL, flip))],
        [InlineKeyboardButton(text=t("btn-margin"), callback_data=_cb(SettingsAction.MARGINS))],
        [InlineKeyboardButton(text=t("btn-timezone"), callback_data=_cb(SettingsAction.TIMEZONES))],
        [replace_settings.open_button(t)],
        [menu_button(t)],
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def back_to_settings(t: Translate) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=t("btn-back"), callback_data=_cb(SettingsAction.OPEN))


def language_keyboard(t: Translate, current: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for code in LANGUAGES:
        mark = "✅ " if code == current else ""
        builder.button(
            text=f"{mark}{LANGUAGE_NAMES[code]}",
            callback_data=_cb(SettingsAction.SET_LANGUAGE, code),
        )
    builder.adjust(1)
    builder.row(back_to_settings(t))
    return builder.as_markup()


def margin_keyboard(t: Translate, user: User, lang: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for seconds in MARGINS:
        mark = "✅ " if seconds == user.auto_cancel_margin else ""
        builder.button(
            text=f"{mark}{format_duration(seconds, lang)}",
            callback_data=_cb(SettingsAction.SET_MARGIN, str(seconds)),
        )
    builder.adjust(3)
    builder.row(back_to_settings(t))
    return builder.as_markup()


def timezone_keyboard(t: Translate, user: User) -> InlineKeyboardMarkup:
    current = parse_utc_offset(user.timezone)
    builder = InlineKeyboardBuilder()
    for minutes in TZ_OFFSETS:
        mark = "✅" if minutes == current else ""
        builder.button(
            text=f"{mark}{utc_offset_label(minutes)}",
            callback_data=_cb(SettingsAction.SET_TIMEZONE, str(minutes)),
        )
    builder.adjust(4)
    builder.row(back_to_settings(t))
    return builder.as_markup()


async def _show_settings(
    target: Message | CallbackQuery, t: Translate, user: User, lang: str
) -> None:
    await show(target, settings_text(t, user, lang), settings_keyboard(t, user))


async def _save(
    callback: CallbackQuery,
    t: Translate,
    lang: str,
    saving: Awaitable[User],
    *,
    saved_t: Translate | None = None,
) -> None:
    """Store a change through the use case and show the settings screen with it (in `saved_t`
    when the change was the language); a value the keyboards never offered is answered "out
    of date" and changes nothing."""
    try:
        updated = await saving
    except Stale as exc:
        await answer_quietly(callback, error_text(t, exc))
        return
    shown_t = saved_t or t
    await _show_settings(callback, shown_t, updated, lang)
    await answer_quietly(callback, shown_t("settings-saved"))


def _int_or_none(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


async def on_settings(
    event: Message | CallbackQuery, state: FSMContext, t: Translate, user: User, lang: str
) -> None:
    await state.clear()
    await _show_settings(event, t, user, lang)
    await answer_tap(event)


async def on_language_picker(callback: CallbackQuery, t: Translate, lang: str) -> None:
    await show(callback, t("settings-choose-language"), language_keyboard(t, lang))
    await answer_quietly(callback)


async def on_set_language(
    callback: CallbackQuery,
    callback_data: SettingsCb,
    t: Translate,
    user: User,
    user_settings: UserSettingsService,
    translator: Translator,
) -> None:
    language = callback_data.v
    saving = user_settings.set_language(user.id, language)
    # The answer is already in the new language.
    await _save(callback, t, language, saving, saved_t=translator.bind(language))


async def on_toggle_auto(
    callback: CallbackQuery,
    callback_data: SettingsCb,
    t: Translate,
    user: User,
    lang: str,
    user_settings: UserSettingsService,
) -> None:
    if callback_data.v not in ("0", "1"):  # the two values the toggle button carries
        await answer_quietly(callback, error_text(t, Stale()))
        return
    enabled = callback_data.v == "1"
    await _save(callback, t, lang, user_settings.set_auto_cancel(user.id, enabled))


async def on_margin_picker(callback: CallbackQuery, t: Translate, user: User, lang: str) -> None:
    await show(callback, t("settings-choose-margin"), margin_keyboard(t, user, lang))
    await answer_quietly(callback)


async def on_set_margin(
    callback: CallbackQuery,
    callback_data: SettingsCb,
    t: Translate,
    user: User,
    lang: str,
    user_settings: UserSettingsService,
) -> None:
    seconds = _int_or_none(callback_data.v)
    if seconds is None:
        await answer_quietly(callback, error_text(t, Stale()))
        return
    await _save(callback, t, lang, user_settings.set_margin(user.id, seconds))


async def on_timezone_picker(callback: CallbackQuery, t: Translate, user: User) -> None:
    await show(callback, t("settings-choose-timezone"), timezone_keyboard(t, user))
    await answer_quietly(callback)


async def on_set_timezone(
    callback: CallbackQuery,
    callback_data: SettingsCb,
    t: Translate,
    user: User,
    lang: str,
    user_settings: UserSettingsService,
) -> None:
    minutes = _int_or_none(callback_data.v)
    if minutes is None:
        await answer_quietly(callback, error_text(t, Stale()))
        return
    await _save(callback, t, lang, user_settings.set_timezone(user.id, minutes))


def create_router() -> Router:
    router = Router(name=__name__)
    cb = router.callback_query
    router.message.register(on_settings, Command("settings"))
    cb.register(on_settings, MenuCb.filter(F.action == MenuAction.SETTINGS))
    cb.register(on_settings, SettingsCb.filter(F.action == SettingsAction.OPEN))
    cb.register(on_language_picker, SettingsCb.filter(F.action == SettingsAction.LANGUAGES))
    cb.register(on_set_language, SettingsCb.filter(F.action == SettingsAction.SET_LANGUAGE))
    cb.register(on_toggle_auto, SettingsCb.filter(F.action == SettingsAction.AUTO_CANCEL))
    cb.register(on_margin_picker, SettingsCb.filter(F.action == SettingsAction.MARGINS))
    cb.register(on_set_margin, SettingsCb.filter(F.action == SettingsAction.SET_MARGIN))
    cb.register(on_timezone_picker, SettingsCb.filter(F.action == SettingsAction.TIMEZONES))
    cb.register(on_set_timezone, SettingsCb.filter(F.action == SettingsAction.SET_TIMEZONE))
    return router
