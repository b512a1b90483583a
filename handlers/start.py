"""/start (with a buy link: that purchase, see handlers.deeplinks), the main menu, /cancel
(leaves any input state), the menu's "main" action, and the bot's membership in a private chat
(the user blocked or unblocked it)."""

from __future__ import annotations

import html

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import (
    KICKED,
    MEMBER,
    ChatMemberUpdatedFilter,
    Command,
    CommandObject,
    CommandStart,
)
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, ChatMemberUpdated, Message

from bot.accounts import AccountService
from bot.config import Settings
from bot.formatting import format_money
from bot.i18n import Translate
from bot.presets import preset_name
from bot.provider.errors import ProviderError
from bot.settings import UserSettingsService
from handlers.activation.flow import BuyContext, buy_context, show_confirm
from handlers.activation.views import no_key_view
from handlers.common import MenuAction, MenuCb, answer_quietly, main_menu_keyboard, show
from handlers.deeplinks import PENDING_BUY, BuyLink, parse_buy_payload
from handlers.keys import KeyAction, KeyCb
from handlers.middlewares import CardResender, welcome_back
from storage import KeyProfile, User

PRIVATE = F.chat.type == ChatType.PRIVATE


def main_menu_text(
    t: Translate, key: KeyProfile | None, settings: Settings | None, lang: str
) -> str:
    """The menu's heading: which key is active and its balance, or how to begin."""
    if key is None:
        return f"{t('menu-title')}\n\n{t('menu-no-key')}"
    line = t(
        "menu-active-key",
        label=html.escape(key.label),
        provider=html.escape(preset_name(key.base_url, settings)),
        balance=format_money(key.balance, key.currency, lang=lang),
    )
    return f"{t('menu-title')}\n\n{line}"


async def menu_key(accounts: AccountService, user: User) -> KeyProfile | None:
    """The active key for the menu, with a balance that money movements made unknown asked
    again."""
    key = await accounts.find_active(user.id)
    return None if key is None else await accounts.with_known_balance(key)


async def on_start(
    message: Message,
    state: FSMContext,
    t: Translate,
    user: User,
    settings: Settings,
    accounts: AccountService,
    lang: str,
    ctx: BuyContext,
    command: CommandObject | None = None,
) -> None:
    await state.clear()
    # A buy link (t.me/<bot>?start=buy-tg-0) opens that purchase; anything else, or an offer
    # the provider does not know, gets the welcome.
    link = parse_buy_payload(command.args if command is not None else None)
    if link is not None and await open_buy_link(message, ctx, link):
        return
    first = html.escape(message.from_user.first_name) if message.from_user else ""
    key = await menu_key(accounts, user)
    welcome = t("start-welcome", name=first) if key is None else t("start-welcome-back", name=first)
    await message.answer(
        f"{welcome}\n\n{main_menu_text(t, key, settings, lang)}", reply_markup=main_menu_keyboard(t)
    )


async def on_menu_command(
    message: Message,
    state: FSMContext,
    t: Translate,
    user: User,
    settings: Settings,
    accounts: AccountService,
    lang: str,
) -> None:
    await state.clear()
    key = await menu_key(accounts, user)
    await message.answer(main_menu_text(t, key, settings, lang), reply_markup=main_menu_keyboard(t))


async def on_cancel(
    message: Message,
    state: FSMContext,
    t: Translate,
    user: User,
    settings: Settings,
    accounts: AccountService,
    lang: str,
) -> None:
    was = await state.get_state()
    await state.clear()
    notice = t("cancel-done") if was is not None else t("cancel-nothing")
    key = await menu_key(accounts, user)
    await message.answer(
        f"{notice}\n\n{main_menu_text(t, key, settings, lang)}", reply_markup=main_menu_keyboard(t)
    )


async def on_main_menu(
    callback: CallbackQuery,
    state: FSMContext,
    t: Translate,
    user: User,
    settings: Settings,
    accounts: AccountService,
    lang: str,
) -> None:
    # "Main menu" is also every input screen's Cancel button: it always leaves the state.
    await state.clear()
    key = await menu_key(accounts, user)
    await show(callback, main_menu_text(t, key, settings, lang), main_menu_keyboard(t))
    await answer_quietly(callback)


async def open_buy_link(event: Message | CallbackQuery, ctx: BuyContext, link: BuyLink) -> bool:
    """Show the confirm screen of the offer `link` names (the buy flow's own screen); without
    a key, the no-key screen, and the link waits for the key. False, with nothing shown, when
    the provider knows no such service or country: the caller shows what it would have."""
    key = await ctx.key()
    if key is None:
        await ctx.state.set_data({PENDING_BUY: link.payload})
        await show(event, *no_key_view(ctx.t))
        return True
    try:
        services = await ctx.catalog.service_names(key, ctx.lang)
        countries = await ctx.catalog.countries(key)
    except ProviderError:
        pass  # the confirm screen asks again and says what the provider answered
    else:
        if link.service not in services or link.country not in countries:
            return False
    await show_confirm(event, ctx, service=link.service, country=link.country)
    return True


async def on_continue(
    callback: CallbackQuery, callback_data: KeyCb, ctx: BuyContext, t: Translate
) -> None:
    """The first key is in: on to the purchase the buy link named (checked as the link was)."""
    link = parse_buy_payload(callback_data.p)
    await ctx.state.clear()
    if link is None or not await open_buy_link(callback, ctx, link):
        await answer_quietly(callback, t("error-not-found"))
        return
    await answer_quietly(callback)


# --- the user blocks or unblocks the bot (its membership in their private chat) ---------------


async def on_bot_blocked(event: ChatMemberUpdated, user_settings: UserSettingsService) -> None:
    # Nothing can be sent now; the tracker keeps tracking (and cancelling) their numbers.
    await user_settings.mark_blocked(event.from_user.id)


async def on_bot_unblocked(
    event: ChatMemberUpdated,
    user_settings: UserSettingsService,
    notifier: CardResender | None = None,
) -> None:
    await welcome_back(user_settings, notifier, event.from_user.id)


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(on_start, CommandStart(), buy_context)
    router.message.register(on_menu_command, Command("menu"))
    router.message.register(on_cancel, Command("cancel"))
    router.callback_query.register(on_main_menu, MenuCb.filter(F.action == MenuAction.MAIN))
    router.callback_query.register(
        on_continue, KeyCb.filter(F.action == KeyAction.CONTINUE), buy_context
    )
    router.my_chat_member.register(
        on_bot_blocked, PRIVATE, ChatMemberUpdatedFilter(member_status_changed=KICKED)
    )
    router.my_chat_member.register(
        on_bot_unblocked, PRIVATE, ChatMemberUpdatedFilter(member_status_changed=MEMBER)
    )
    return router
