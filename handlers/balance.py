"""Balance of the active key, fetched from the provider, with a refresh button."""

from __future__ import annotations

import html
from enum import StrEnum

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.accounts import AccountService
from bot.config import Settings
from bot.errors import NoActiveKey, NotFound
from bot.formatting import format_money
from bot.i18n import Translate
from bot.presets import preset_name
from bot.provider.errors import ProviderError
from handlers.common import MenuAction, MenuCb, answer_tap, menu_button, show
from handlers.errors import error_text
from handlers.keys import KeyAction, KeyCb
from storage import User


class BalanceAction(StrEnum):
    REFRESH = "refresh"


class BalanceCb(CallbackData, prefix="bl1"):  # type: ignore[explicit-any]  # BaseModel's Any
    action: BalanceAction


def balance_keyboard(t: Translate) -> InlineKeyboardMarkup:
    refresh = InlineKeyboardButton(
        text=t("btn-balance-refresh"), callback_data=BalanceCb(action=BalanceAction.REFRESH).pack()
    )
    keys = InlineKeyboardButton(
        text=t("menu-keys"), callback_data=KeyCb(action=KeyAction.LIST).pack()
    )
    return InlineKeyboardMarkup(inline_keyboard=[[refresh], [keys, menu_button(t)]])


def no_key_keyboard(t: Translate) -> InlineKeyboardMarkup:
    add = InlineKeyboardButton(
        text=t("btn-key-add"), callback_data=KeyCb(action=KeyAction.ADD).pack()
    )
    return InlineKeyboardMarkup(inline_keyboard=[[add], [menu_button(t)]])


async def balance_screen(
    t: Translate, accounts: AccountService, user: User, settings: Settings | None, lang: str
) -> tuple[str, InlineKeyboardMarkup, str | None]:
    """(text, keyboard, short notice for a tap). Asks the provider every time."""
    try:
        key = await accounts.refresh_balance(user.id)
    except (NoActiveKey, NotFound) as exc:
        return error_text(t, exc), no_key_keyboard(t), None
    except ProviderError as exc:
        # Show the last known figure, and why it could not be refreshed.
        reason = error_text(t, exc, user=user, settings=settings)
        try:
            stale = await accounts.active_key(user.id)
        except NoActiveKey:
            return reason, no_key_keyboard(t), reason
        text = t(
            "balance-stale",
            balance=format_money(stale.balance, stale.currency, lang=lang),
            label=html.escape(stale.label),
            provider=html.escape(preset_name(stale.base_url, settings)),
        )
        return f"{text}\n\n⚠️ {reason}", balance_keyboard(t), reason
    text = t(
        "balance-text",
        balance=format_money(key.balance, key.currency, lang=lang),
        label=html.escape(key.label),
        provider=html.escape(preset_name(key.base_url, settings)),
    )
    return text, balance_keyboard(t), t("balance-updated")


async def on_balance(
    event: Message | CallbackQuery,
    state: FSMContext,
    t: Translate,
    accounts: AccountService,
    user: User,
    settings: Settings,
    lang: str,
) -> None:
    await state.clear()
    text, markup, notice = await balance_screen(t, accounts, user, settings, lang)
    await show(event, text, markup)
    await answer_tap(event, notice)


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(on_balance, Command("balance"))
    router.callback_query.register(on_balance, MenuCb.filter(F.action == MenuAction.BALANCE))
    router.callback_query.register(on_balance, BalanceCb.filter(F.action == BalanceAction.REFRESH))
    return router
