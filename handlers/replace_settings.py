"""Settings → 🔁 Auto-replace: the user's defaults for new purchases (on or off, how long to
wait for a code, how many numbers at most, the spending cap).

Every value a button carries is checked by the use case against the choices offered
(`bot.replace`): a crafted callback changes nothing and is answered "out of date".
"""

from __future__ import annotations

from collections.abc import Awaitable
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup

from bot.errors import Stale
from bot.i18n import Translate
from bot.replace import AFTER_CHOICES, ATTEMPT_CHOICES, CAP_CHOICES, ReplaceService
from handlers.common import MenuAction, MenuCb, answer_quietly, back_button, menu_button, show
from handlers.errors import error_text
from storage import User
from storage.chains import ReplaceDefaults

NO_CAP = "-"  # the cap button meaning "the numbers x the price"


class ReplaceSettingsAction(StrEnum):
    OPEN = "open"
    ENABLE = "on"  # v: "1" on, "0" off
    AFTER = "after"  # v: seconds
    ATTEMPTS = "n"  # v: numbers at most
    CAP = "cap"  # v: an amount, or NO_CAP
    NEXT_COUNTRY = "nc"  # v: "1" on, "0" off


class ReplaceSettingsCb(CallbackData, prefix="rs1"):  # type: ignore[explicit-any]  # as SettingsCb
    action: ReplaceSettingsAction
    v: str = ""


def _cb(action: ReplaceSettingsAction, v: str = "") -> str:
    return ReplaceSettingsCb(action=action, v=v).pack()


def open_button(t: Translate) -> InlineKeyboardButton:
    """The settings screen's row that leads here."""
    return InlineKeyboardButton(
        text=t("replace-settings-button"), callback_data=_cb(ReplaceSettingsAction.OPEN)
    )


def _cap_text(cap: Decimal | None) -> str:
    return NO_CAP if cap is None else format(cap.normalize(), "f")


def replace_settings_view(
    t: Translate, defaults: ReplaceDefaults
) -> tuple[str, InlineKeyboardMarkup]:
    cap = t("replace-settings-cap-none") if defaults.cap is None else _cap_text(defaults.cap)
    text = t(
        "replace-settings-text",
        enabled=t("settings-on") if defaults.enabled else t("settings-off"),
        minutes=str(defaults.after // 60),
        attempts=str(defaults.attempts),
        cap=cap,
        next_country=t("settings-on") if defaults.next_country else t("settings-off"),
    )

    def mark(chosen: bool, label: str) -> str:
        return f"✅ {label}" if chosen else label

    toggle = t("replace-settings-turn-off") if defaults.enabled else t("replace-settings-turn-on")
    rows = [
        [
            InlineKeyboardButton(
                text=toggle,
                callback_data=_cb(ReplaceSettingsAction.ENABLE, "0" if defaults.enabled else "1"),
            )
        ],
        [
            InlineKeyboardButton(
                text=mark(
                    s == defaults.after, "⏱ " + t("replace-settings-minutes", minutes=s // 60)
                ),
                callback_data=_cb(ReplaceSettingsAction.AFTER, str(s)),
            )
            for s in AFTER_CHOICES
        ],
        [
            InlineKeyboardButton(
                text=mark(n == defaults.attempts, f"🔢 {n}"),
                callback_data=_cb(ReplaceSettingsAction.ATTEMPTS, str(n)),
            )
            for n in ATTEMPT_CHOICES
        ],
    ]
    caps = [
        InlineKeyboardButton(
            text=mark(
                cap_choice == defaults.cap,
                "💰 "
                + (
                    t("replace-settings-cap-price") if cap_choice is None else _cap_text(cap_choice)
                ),
            ),
            callback_data=_cb(ReplaceSettingsAction.CAP, _cap_text(cap_choice)),
        )
        for cap_choice in CAP_CHOICES
    ]
    rows += [caps[i : i + 3] for i in range(0, len(caps), 3)]
    next_label = (
        t("replace-settings-next-off") if defaults.next_country else t("replace-settings-next-on")
    )
    next_value = "0" if defaults.next_country else "1"
    rows.append(
        [
            InlineKeyboardButton(
                text=next_label, callback_data=_cb(ReplaceSettingsAction.NEXT_COUNTRY, next_value)
            )
        ]
    )
    settings = MenuCb(action=MenuAction.SETTINGS).pack()
    rows.append([back_button(t, settings), menu_button(t)])
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


async def _save(query: CallbackQuery, t: Translate, saving: Awaitable[ReplaceDefaults]) -> None:
    try:
        saved = await saving
    except Stale as exc:
        await answer_quietly(query, error_text(t, exc))
        return
    await show(query, *replace_settings_view(t, saved))
    await answer_quietly(query, t("settings-saved"))


async def on_open(
    query: CallbackQuery, t: Translate, user: User, auto_replace: ReplaceService
) -> None:
    await show(query, *replace_settings_view(t, await auto_replace.defaults(user.id)))
    await answer_quietly(query)


async def on_enable(
    query: CallbackQuery,
    callback_data: ReplaceSettingsCb,
    t: Translate,
    user: User,
    auto_replace: ReplaceService,
) -> None:
    if callback_data.v not in ("0", "1"):
        await answer_quietly(query, error_text(t, Stale()))
        return
    await _save(query, t, auto_replace.set_enabled(user.id, callback_data.v == "1"))


async def on_after(
    query: CallbackQuery,
    callback_data: ReplaceSettingsCb,
    t: Translate,
    user: User,
    auto_replace: ReplaceService,
) -> None:
    seconds = int(callback_data.v) if callback_data.v.isdigit() else -1
    await _save(query, t, auto_replace.set_after(user.id, seconds))


async def on_attempts(
    query: CallbackQuery,
    callback_data: ReplaceSettingsCb,
    t: Translate,
    user: User,
    auto_replace: ReplaceService,
) -> None:
    attempts = int(callback_data.v) if callback_data.v.isdigit() else -1
    await _save(query, t, auto_replace.set_attempts(user.id, attempts))


async def on_cap(
    query: CallbackQuery,
    callback_data: ReplaceSettingsCb,
    t: Translate,
    user: User,
    auto_replace: ReplaceService,
) -> None:
    cap: Decimal | None = None
    if callback_data.v != NO_CAP:
        try:
            cap = Decimal(callback_data.v)
        except InvalidOperation:
            cap = None
        if cap is None or not cap.is_finite():
            await answer_quietly(query, error_text(t, Stale()))
            return
    await _save(query, t, auto_replace.set_cap(user.id, cap))


async def on_next_country(
    query: CallbackQuery,
    callback_data: ReplaceSettingsCb,
    t: Translate,
    user: User,
    auto_replace: ReplaceService,
) -> None:
    if callback_data.v not in ("0", "1"):
        await answer_quietly(query, error_text(t, Stale()))
        return
    await _save(query, t, auto_replace.set_next_country(user.id, callback_data.v == "1"))


def create_router() -> Router:
    router = Router(name=__name__)
    tap = router.callback_query.register
    tap(on_open, ReplaceSettingsCb.filter(F.action == ReplaceSettingsAction.OPEN))
    tap(on_enable, ReplaceSettingsCb.filter(F.action == ReplaceSettingsAction.ENABLE))
    tap(on_after, ReplaceSettingsCb.filter(F.action == ReplaceSettingsAction.AFTER))
    tap(on_attempts, ReplaceSettingsCb.filter(F.action == ReplaceSettingsAction.ATTEMPTS))
    tap(on_cap, ReplaceSettingsCb.filter(F.action == ReplaceSettingsAction.CAP))
    tap(on_next_country, ReplaceSettingsCb.filter(F.action == ReplaceSettingsAction.NEXT_COUNTRY))
    return router
