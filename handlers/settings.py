"""Settings: language, auto-cancel and its margin, time zone (a UTC offset).

Every value a callback carries is checked against the choices offered, so a crafted callback
cannot store anything the keyboard would not have produced.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.formatting import format_duration, parse_utc_offset, utc_offset_label
from bot.i18n import LANGUAGES, Translate, Translator
from handlers.common import MenuCb, answer_quietly, answer_tap, menu_button, show
from storage import Database, User

router = Router(name=__name__)

LANGUAGE_NAMES = {"en": "🇬🇧 English", "ru": "🇷🇺 Русский", "zh": "🇨🇳 中文"}
MARGINS: tuple[int, ...] = (30, 60, 120, 180, 300)  # seconds before expiry
# Whole hours from UTC-12 to UTC+14, and the half/quarter-hour zones in use.
TZ_OFFSETS: tuple[int, ...] = tuple(
    sorted({h * 60 for h in range(-12, 15)} | {-210, 210, 270, 330, 345, 390, 525, 570, 630})
)


class SettingsCb(CallbackData, prefix="s1"):
    """action: open | lang | setlang | auto | margin | setmargin | tz | settz; v: the value."""

    action: str
    v: str = ""


def _cb(action: str, v: str = "") -> str:
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
        [InlineKeyboardButton(text=t("btn-language"), callback_data=_cb("lang"))],
        [InlineKeyboardButton(text=toggle, callback_data=_cb("auto", flip))],
        [InlineKeyboardButton(text=t("btn-margin"), callback_data=_cb("margin"))],
        [InlineKeyboardButton(text=t("btn-timezone"), callback_data=_cb("tz"))],
        [menu_button(t)],
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def back_to_settings(t: Translate) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=t("btn-back"), callback_data=_cb("open"))


def language_keyboard(t: Translate, current: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for code in LANGUAGES:
        mark = "✅ " if code == current else ""
        builder.button(text=f"{mark}{LANGUAGE_NAMES[code]}", callback_data=_cb("setlang", code))
    builder.adjust(1)
    builder.row(back_to_settings(t))
    return builder.as_markup()


def margin_keyboard(t: Translate, user: User, lang: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for seconds in MARGINS:
        mark = "✅ " if seconds == user.auto_cancel_margin else ""
        builder.button(
            text=f"{mark}{format_duration(seconds, lang)}",
            callback_data=_cb("setmargin", str(seconds)),
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
            text=f"{mark}{utc_offset_label(minutes)}", callback_data=_cb("settz", str(minutes))
        )
    builder.adjust(4)
    builder.row(back_to_settings(t))
    return builder.as_markup()


async def _show_settings(
    target: Message | CallbackQuery, t: Translate, user: User, lang: str
) -> None:
    await show(target, settings_text(t, user, lang), settings_keyboard(t, user))


async def _save(
    callback: CallbackQuery, t: Translate, db: Database, user: User, lang: str, **changes: object
) -> None:
    """Store the changed settings and show the settings screen with them."""
    updated = await db.users.update(user.id, **changes)
    await _show_settings(callback, t, updated, lang)
    await answer_quietly(callback, t("settings-saved"))


@router.message(Command("settings"))
@router.callback_query(MenuCb.filter(F.action == "settings"))
@router.callback_query(SettingsCb.filter(F.action == "open"))
async def on_settings(
    event: Message | CallbackQuery, state: FSMContext, t: Translate, user: User, lang: str
) -> None:
    await state.clear()
    await _show_settings(event, t, user, lang)
    await answer_tap(event)


@router.callback_query(SettingsCb.filter(F.action == "lang"))
async def on_language_picker(callback: CallbackQuery, t: Translate, lang: str) -> None:
    await show(callback, t("settings-choose-language"), language_keyboard(t, lang))
    await answer_quietly(callback)


@router.callback_query(SettingsCb.filter(F.action == "setlang"))
async def on_set_language(
    callback: CallbackQuery,
    callback_data: SettingsCb,
    t: Translate,
    user: User,
    db: Database,
    translator: Translator,
) -> None:
    if callback_data.v not in LANGUAGES:
        await answer_quietly(callback, t("error-stale"))
        return
    new_t = translator.bind(callback_data.v)  # the answer is already in the new language
    await _save(callback, new_t, db, user, callback_data.v, language=callback_data.v)


@router.callback_query(SettingsCb.filter(F.action == "auto"))
async def on_toggle_auto(
    callback: CallbackQuery,
    callback_data: SettingsCb,
    t: Translate,
    user: User,
    lang: str,
    db: Database,
) -> None:
    if callback_data.v not in ("0", "1"):
        await answer_quietly(callback, t("error-stale"))
        return
    await _save(callback, t, db, user, lang, auto_cancel=callback_data.v == "1")


@router.callback_query(SettingsCb.filter(F.action == "margin"))
async def on_margin_picker(callback: CallbackQuery, t: Translate, user: User, lang: str) -> None:
    await show(callback, t("settings-choose-margin"), margin_keyboard(t, user, lang))
    await answer_quietly(callback)


@router.callback_query(SettingsCb.filter(F.action == "setmargin"))
async def on_set_margin(
    callback: CallbackQuery,
    callback_data: SettingsCb,
    t: Translate,
    user: User,
    lang: str,
    db: Database,
) -> None:
    seconds = int(callback_data.v) if callback_data.v.isdigit() else -1
    if seconds not in MARGINS:
        await answer_quietly(callback, t("error-stale"))
        return
    await _save(callback, t, db, user, lang, auto_cancel_margin=seconds)


@router.callback_query(SettingsCb.filter(F.action == "tz"))
async def on_timezone_picker(callback: CallbackQuery, t: Translate, user: User) -> None:
    await show(callback, t("settings-choose-timezone"), timezone_keyboard(t, user))
    await answer_quietly(callback)


@router.callback_query(SettingsCb.filter(F.action == "settz"))
async def on_set_timezone(
    callback: CallbackQuery,
    callback_data: SettingsCb,
    t: Translate,
    user: User,
    lang: str,
    db: Database,
) -> None:
    try:
        minutes = int(callback_data.v)
    except ValueError:
        minutes = None
    if minutes not in TZ_OFFSETS:
        await answer_quietly(callback, t("error-stale"))
        return
    await _save(callback, t, db, user, lang, timezone=utc_offset_label(minutes))
