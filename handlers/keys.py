"""API keys: add (preset or custom URL, key checked with getBalance, its message deleted),
label, list, switch the active key, rename, delete. Several keys per user.

Every callback names a key by id only; the id is always resolved together with the user's id,
so a crafted callback naming someone else's key finds nothing and changes nothing.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable
from decimal import Decimal
from enum import StrEnum

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.accounts import AccountService, clean_label, looks_like_key
from bot.config import Settings
from bot.errors import NotFound
from bot.formatting import format_money, mask_key
from bot.i18n import Translate
from bot.low_balance import LowBalanceService, parse_threshold
from bot.presets import is_internal_address, normalize_base_url, preset_by_id, preset_name, presets
from bot.provider.errors import ProviderError
from handlers.common import (
    CallbackId,
    MenuAction,
    MenuCb,
    answer_quietly,
    answer_tap,
    cancel_button,
    delete_quietly,
    input_flags,
    menu_button,
    remember_prompt,
    show,
)
from handlers.deeplinks import PENDING_BUY, BuyLink, pending_buy
from handlers.errors import error_text, is_bad_key, is_wrong_address
from handlers.fsm_storage import enter_screen
from storage import KeyProfile, User

log = logging.getLogger(__name__)


class KeyAction(StrEnum):
    LIST = "list"
    ADD = "add"
    PRESET = "pre"  # p: the preset's id
    URL = "url"  # a custom provider URL
    OPEN = "open"
    USE = "use"
    RENAME = "ren"
    DELETE = "del"  # asks to confirm
    DELETE_CONFIRMED = "delok"
    CONTINUE = "then"  # p: the buy link that waited for the first key (handlers.start)
    LOW_BALANCE = "low"  # ask for the low-balance threshold
    LOW_BALANCE_OFF = "lowoff"


class KeyCb(CallbackData, prefix="k1"):  # type: ignore[explicit-any]  # BaseModel's Any
    action: KeyAction
    id: CallbackId = 0
    p: str = ""


class AddKey(StatesGroup):
    url = State()  # waiting for a custom provider URL
    key = State()  # waiting for the API key (its message is deleted)
    label = State()  # waiting for a label of the key just added


class RenameKey(StatesGroup):
    label = State()


class LowBalance(StatesGroup):
    amount = State()  # waiting for the threshold of the key in the state's data


# Texts that are commands are never taken as input (a key typed as "/start" is not a key).
NOT_COMMAND = F.text & ~F.text.startswith("/")


# --- views ---------------------------------------------------------------------------------


def key_line(t: Translate, key: KeyProfile, settings: Settings | None, lang: str) -> str:
    return t(
        "keys-line",
        marker="✅" if key.active else "▫️",
        label=html.escape(key.label),
        provider=html.escape(preset_name(key.base_url, settings)),
        masked=mask_key(key.api_key),
        balance=format_money(key.balance, key.currency, lang=lang),
    )


def keys_text(t: Translate, keys: list[KeyProfile], settings: Settings | None, lang: str) -> str:
    if not keys:
        return f"{t('keys-title')}\n\n{t('keys-empty')}"
    lines = "\n".join(key_line(t, key, settings, lang) for key in keys)
    return f"{t('keys-title')}\n\n{lines}\n\n{t('keys-hint')}"


def keys_keyboard(t: Translate, keys: list[KeyProfile]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for key in keys:
        marker = "✅ " if key.active else ""
        builder.button(
            text=f"{marker}{key.label}", callback_data=KeyCb(action=KeyAction.OPEN, id=key.id)
        )
    builder.button(text=t("btn-key-add"), callback_data=KeyCb(action=KeyAction.ADD))
    builder.adjust(1)
    builder.row(menu_button(t))
    return builder.as_markup()


def key_card_text(
    t: Translate,
    key: KeyProfile,
    settings: Settings | None,
    lang: str,
    threshold: Decimal | None = None,
) -> str:
    text = t(
        "key-card",
        label=html.escape(key.label),
        provider=html.escape(preset_name(key.base_url, settings)),
        masked=mask_key(key.api_key),
        balance=format_money(key.balance, key.currency, lang=lang),
        state=t("key-state-active") if key.active else t("key-state-inactive"),
    )
    if threshold is not None:
        amount = format_money(threshold, key.currency, lang=lang)
        text += "\n" + t("key-low-balance-line", threshold=amount)
    return text


def key_card_keyboard(
    t: Translate, key: KeyProfile, threshold: Decimal | None = None, lang: str = "en"
) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = []
    if not key.active:
        rows.append(_button(t("btn-key-use"), KeyCb(action=KeyAction.USE, id=key.id)))
    rows.append(
        _button(t("btn-key-rename"), KeyCb(action=KeyAction.RENAME, id=key.id))
        + _button(t("btn-key-delete"), KeyCb(action=KeyAction.DELETE, id=key.id))
    )
    ask = KeyCb(action=KeyAction.LOW_BALANCE, id=key.id)
    if threshold is None:
        rows.append(_button(t("btn-key-low-balance"), ask))
    else:
        amount = format_money(threshold, key.currency, lang=lang)
        rows.append(_button(t("btn-key-low-balance-change", threshold=amount), ask))
        off = KeyCb(action=KeyAction.LOW_BALANCE_OFF, id=key.id)
        rows.append(_button(t("btn-key-low-balance-off"), off))
    rows.append(_button(t("btn-keys-back"), KeyCb(action=KeyAction.LIST)))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _button(text: str, data: CallbackData) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(text=text, callback_data=data.pack())]


def presets_keyboard(t: Translate, settings: Settings | None) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for preset in presets(settings):
        builder.button(text=preset.name, callback_data=KeyCb(action=KeyAction.PRESET, p=preset.id))
    builder.button(text=t("btn-custom-url"), callback_data=KeyCb(action=KeyAction.URL))
    builder.adjust(2)
    builder.row(
        InlineKeyboardButton(text=t("btn-back"), callback_data=KeyCb(action=KeyAction.LIST).pack())
    )
    return builder.as_markup()


def with_continue(
    t: Translate, markup: InlineKeyboardMarkup, pending: BuyLink | None
) -> InlineKeyboardMarkup:
    """`markup` with "Go on to the purchase" on top when the user came from a buy link."""
    if pending is None:
        return markup
    go_on = _button(t("btn-key-continue"), KeyCb(action=KeyAction.CONTINUE, p=pending.payload))
    return InlineKeyboardMarkup(inline_keyboard=[go_on, *markup.inline_keyboard])


def only_cancel(t: Translate) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[cancel_button(t)]])


# --- screens -------------------------------------------------------------------------------


async def show_keys(
    target: Message | CallbackQuery,
    t: Translate,
    accounts: AccountService,
    user: User,
    settings: Settings,
    lang: str,
) -> None:
    keys = await accounts.list_keys_with_balances(user.id)
    await show(target, keys_text(t, keys, settings, lang), keys_keyboard(t, keys))


async def show_key_card(
    target: Message | CallbackQuery,
    t: Translate,
    key: KeyProfile,
    settings: Settings,
    lang: str,
    low_balance: LowBalanceService | None = None,
) -> None:
    threshold = await low_balance.threshold(key.user_id, key.id) if low_balance else None
    text = key_card_text(t, key, settings, lang, threshold)
    await show(target, text, key_card_keyboard(t, key, threshold, lang))


async def on_keys(
    event: Message | CallbackQuery,
    state: FSMContext,
    t: Translate,
    accounts: AccountService,
    user: User,
    settings: Settings,
    lang: str,
) -> None:
    await clear_input(state)
    await show_keys(event, t, accounts, user, settings, lang)
    await answer_tap(event)


async def clear_input(state: FSMContext) -> None:
    """Leave any input; a buy link that waits for the user's first key keeps waiting (the
    no-key screen leads here, and on to adding a key)."""
    pending = await pending_buy(state)
    await state.clear()
    if pending is not None:
        await state.set_data({PENDING_BUY: pending.payload})


async def on_open(
    callback: CallbackQuery,
    callback_data: KeyCb,
    state: FSMContext,
    t: Translate,
    accounts: AccountService,
    user: User,
    settings: Settings,
    lang: str,
    low_balance: LowBalanceService,
) -> None:
    await state.clear()
    key = await _key_or_notice(callback, t, accounts.get_key(user.id, callback_data.id))
    if key is None:
        return
    key = await accounts.with_known_balance(key)
    await show_key_card(callback, t, key, settings, lang, low_balance)
    await answer_quietly(callback)


async def _key_or_notice(
    callback: CallbackQuery, t: Translate, lookup: Awaitable[KeyProfile]
) -> KeyProfile | None:
    """The key a tap names, or None once the user is told it is gone (deleted since, or an id
    that is not theirs)."""
    try:
        return await lookup
    except NotFound as exc:
        await answer_quietly(callback, error_text(t, exc))
        return None


async def _delete_key(accounts: AccountService, user: User, key_id: int) -> KeyProfile:
    """Delete one of the user's keys; the key as it was, for the notice."""
    key = await accounts.get_key(user.id, key_id)
    await accounts.delete(user.id, key.id)
    return key


# --- adding a key --------------------------------------------------------------------------


async def on_add(
    callback: CallbackQuery, state: FSMContext, t: Translate, settings: Settings
) -> None:
    await clear_input(state)
    await show(callback, t("keys-choose-provider"), presets_keyboard(t, settings))
    await answer_quietly(callback)


async def on_preset(
    callback: CallbackQuery,
    callback_data: KeyCb,
    state: FSMContext,
    t: Translate,
    settings: Settings,
) -> None:
    preset = preset_by_id(settings, callback_data.p)
    if preset is None:  # a tampered id, or the sandbox switched off since
        await answer_quietly(callback, t("error-stale"))
        return
    await ask_for_key(callback, state, t, preset.base_url, preset.name)
    await answer_quietly(callback)


async def on_custom(callback: CallbackQuery, state: FSMContext, t: Translate) -> None:
    await state.set_state(AddKey.url)
    await remember_prompt(state, await show(callback, t("keys-send-url"), only_cancel(t)))
    await answer_quietly(callback)


async def ask_again(message: Message, state: FSMContext, t: Translate, text: str) -> None:
    """A new prompt for the same input (the one above loses its Cancel): what went wrong and
    what to send."""
    await remember_prompt(state, await message.answer(text, reply_markup=only_cancel(t)))


async def on_custom_url(
    message: Message, state: FSMContext, t: Translate, settings: Settings
) -> None:
    base_url = normalize_base_url(message.text or "")
    if base_url is None:
        await ask_again(message, state, t, t("keys-bad-url"))
        return
    # Loopback only in sandbox mode (the sandbox itself lives on 127.0.0.1).
    if is_internal_address(base_url, settings):
        await ask_again(message, state, t, t("keys-internal-url"))
        return
    await ask_for_key(message, state, t, base_url, preset_name(base_url, settings), custom=True)


async def ask_for_key(
    target: Message | CallbackQuery,
    state: FSMContext,
    t: Translate,
    base_url: str,
    name: str,
    *,
    custom: bool = False,
) -> None:
    await enter_screen(state, AddKey.key, base_url=base_url, provider=name, custom=custom)
    prompt = await show(target, t("keys-send-key", provider=html.escape(name)), only_cancel(t))
    await remember_prompt(state, prompt)


async def on_key_text(
    message: Message,
    bot: Bot,
    state: FSMContext,
    t: Translate,
    accounts: AccountService,
    user: User,
    settings: Settings,
    lang: str,
) -> None:
    # The key must not stay in the chat history, whatever happens next.
    deleted = await delete_quietly(bot, message)
    api_key = (message.text or "").strip()
    data = await state.get_data()
    base_url = data.get("base_url")
    if not base_url:
        await state.clear()
        await message.answer(t("error-stale"), reply_markup=only_cancel(t))
        return
    warning = "" if deleted else f"\n\n{t('keys-delete-yourself')}"
    if not looks_like_key(api_key):
        await ask_again(message, state, t, t("keys-bad-format") + warning)
        return
    provider = data.get("provider") or preset_name(base_url, settings)
    label = await _default_label(accounts, user, provider)
    try:
        key = await accounts.add_key(user.id, base_url=base_url, api_key=api_key, label=label)
    except ProviderError as exc:
        log.info("key check failed: %s", exc.code)
        custom = bool(data.get("custom"))
        retry = await _key_refused(state, t, exc, custom=custom, user=user, settings=settings)
        await ask_again(message, state, t, retry + warning)
        return
    await enter_screen(state, AddKey.label, key_id=key.id)
    keep = _button(t("btn-keep-label", label=key.label), KeyCb(action=KeyAction.OPEN, id=key.id))
    done = with_continue(t, InlineKeyboardMarkup(inline_keyboard=[keep]), await pending_buy(state))
    added = t(
        "keys-added",
        label=html.escape(key.label),
        balance=format_money(key.balance, key.currency, lang=lang),
    )
    await remember_prompt(state, await message.answer(added + warning, reply_markup=done))


async def _key_refused(
    state: FSMContext,
    t: Translate,
    exc: ProviderError,
    *,
    custom: bool,
    user: User,
    settings: Settings,
) -> str:
    """What went wrong with the key check, and the one thing to do next: another key when the
    provider refused this one; the address again when a custom one is not a provider (the
    state goes back to asking for it); else the same key again once the provider can answer."""
    if is_bad_key(exc):
        return t("keys-rejected")
    reason = error_text(t, exc, user=user, settings=settings)
    if custom and is_wrong_address(exc):
        await state.set_state(AddKey.url)
        return f"{reason}\n\n{t('keys-send-url-again')}"
    return f"{reason}\n\n{t('keys-try-again')}"


async def _default_label(accounts: AccountService, user: User, provider: str) -> str:
    """The provider's name, numbered when the user already has a key with that label."""
    taken = {key.label for key in await accounts.list_keys(user.id)}
    label, number = provider, 2
    while label in taken:
        label, number = f"{provider} {number}", number + 1
    return clean_label(label)


async def on_label_text(
    message: Message,
    state: FSMContext,
    t: Translate,
    accounts: AccountService,
    user: User,
    settings: Settings,
    lang: str,
    low_balance: LowBalanceService,
) -> None:
    label = clean_label(message.text or "")
    if not label:
        await ask_again(message, state, t, t("keys-bad-label"))
        return
    key_id = (await state.get_data()).get("key_id")
    pending = await pending_buy(state)
    await state.clear()
    try:
        key = await accounts.rename(user.id, int(key_id or 0), label)
    except NotFound as exc:
        await message.answer(error_text(t, exc), reply_markup=only_cancel(t))
        return
    threshold = await low_balance.threshold(user.id, key.id)
    await message.answer(
        f"{t('keys-label-saved', label=html.escape(key.label))}\n\n"
        f"{key_card_text(t, key, settings, lang, threshold)}",
        reply_markup=with_continue(t, key_card_keyboard(t, key, threshold, lang), pending),
    )


# --- managing keys -------------------------------------------------------------------------


async def on_use(
    callback: CallbackQuery,
    callback_data: KeyCb,
    t: Translate,
    accounts: AccountService,
    user: User,
    settings: Settings,
    lang: str,
    low_balance: LowBalanceService,
) -> None:
    key = await _key_or_notice(callback, t, accounts.set_active(user.id, callback_data.id))
    if key is None:
        return
    await show_key_card(callback, t, key, settings, lang, low_balance)
    await answer_quietly(callback, t("keys-now-active", label=key.label))


async def on_rename(
    callback: CallbackQuery,
    callback_data: KeyCb,
    state: FSMContext,
    t: Translate,
    accounts: AccountService,
    user: User,
) -> None:
    key = await _key_or_notice(callback, t, accounts.get_key(user.id, callback_data.id))
    if key is None:
        return
    await state.set_state(RenameKey.label)
    await state.set_data({"key_id": key.id})
    prompt = t("keys-rename-prompt", label=html.escape(key.label))
    await remember_prompt(state, await show(callback, prompt, only_cancel(t)))
    await answer_quietly(callback)


async def on_delete(
    callback: CallbackQuery,
    callback_data: KeyCb,
    t: Translate,
    accounts: AccountService,
    user: User,
) -> None:
    key = await _key_or_notice(callback, t, accounts.get_key(user.id, callback_data.id))
    if key is None:
        return
    confirm = InlineKeyboardMarkup(
        inline_keyboard=[
            _button(t("btn-key-delete-yes"), KeyCb(action=KeyAction.DELETE_CONFIRMED, id=key.id))
            + _button(t("btn-key-delete-no"), KeyCb(action=KeyAction.OPEN, id=key.id))
        ]
    )
    await show(callback, t("keys-delete-confirm", label=html.escape(key.label)), confirm)
    await answer_quietly(callback)


async def on_delete_confirmed(
    callback: CallbackQuery,
    callback_data: KeyCb,
    t: Translate,
    accounts: AccountService,
    user: User,
    settings: Settings,
    lang: str,
) -> None:
    key = await _key_or_notice(callback, t, _delete_key(accounts, user, callback_data.id))
    if key is None:
        return
    await show_keys(callback, t, accounts, user, settings, lang)
    await answer_quietly(callback, t("keys-deleted", label=key.label))


# --- low-balance notice ----------------------------------------------------------------------


async def on_low_balance(
    callback: CallbackQuery,
    callback_data: KeyCb,
    state: FSMContext,
    t: Translate,
    accounts: AccountService,
    user: User,
) -> None:
    """Ask for the amount under which the key's owner wants a notice."""
    key = await _key_or_notice(callback, t, accounts.get_key(user.id, callback_data.id))
    if key is None:
        return
    await state.set_state(LowBalance.amount)
    await state.set_data({"key_id": key.id})
    prompt = t("low-balance-ask", label=html.escape(key.label))
    await remember_prompt(state, await show(callback, prompt, only_cancel(t)))
    await answer_quietly(callback)


async def on_low_balance_text(
    message: Message,
    state: FSMContext,
    t: Translate,
    accounts: AccountService,
    user: User,
    settings: Settings,
    lang: str,
    low_balance: LowBalanceService,
) -> None:
    threshold = parse_threshold(message.text or "")
    if threshold is None:
        await ask_again(message, state, t, t("low-balance-bad"))
        return
    key_id = int((await state.get_data()).get("key_id") or 0)
    await state.clear()
    try:
        await low_balance.set_threshold(user.id, key_id, threshold)
        key = await accounts.get_key(user.id, key_id)
    except NotFound as exc:
        await message.answer(error_text(t, exc), reply_markup=only_cancel(t))
        return
    amount = format_money(threshold, key.currency, lang=lang)
    saved = t("low-balance-saved", label=html.escape(key.label), threshold=amount)
    await message.answer(
        f"{saved}\n\n{key_card_text(t, key, settings, lang, threshold)}",
        reply_markup=key_card_keyboard(t, key, threshold, lang),
    )


async def on_low_balance_off(
    callback: CallbackQuery,
    callback_data: KeyCb,
    t: Translate,
    accounts: AccountService,
    user: User,
    settings: Settings,
    lang: str,
    low_balance: LowBalanceService,
) -> None:
    key = await _key_or_notice(callback, t, accounts.get_key(user.id, callback_data.id))
    if key is None:
        return
    await low_balance.set_threshold(user.id, key.id, None)
    await show_key_card(callback, t, key, settings, lang, low_balance)
    await answer_quietly(callback, t("low-balance-off", label=key.label))


def create_router() -> Router:
    router = Router(name=__name__)
    cb = router.callback_query
    router.message.register(on_keys, Command("keys"))
    cb.register(on_keys, MenuCb.filter(F.action == MenuAction.KEYS))
    cb.register(on_keys, KeyCb.filter(F.action == KeyAction.LIST))
    cb.register(on_open, KeyCb.filter(F.action == KeyAction.OPEN))
    cb.register(on_add, KeyCb.filter(F.action == KeyAction.ADD))
    cb.register(on_preset, KeyCb.filter(F.action == KeyAction.PRESET))
    cb.register(on_custom, KeyCb.filter(F.action == KeyAction.URL))
    cb.register(on_use, KeyCb.filter(F.action == KeyAction.USE))
    cb.register(on_rename, KeyCb.filter(F.action == KeyAction.RENAME))
    cb.register(on_delete, KeyCb.filter(F.action == KeyAction.DELETE))
    cb.register(on_delete_confirmed, KeyCb.filter(F.action == KeyAction.DELETE_CONFIRMED))
    cb.register(on_low_balance, KeyCb.filter(F.action == KeyAction.LOW_BALANCE))
    cb.register(on_low_balance_off, KeyCb.filter(F.action == KeyAction.LOW_BALANCE_OFF))
    router.message.register(on_custom_url, AddKey.url, NOT_COMMAND, flags=input_flags())
    # The one place an API key is welcome: this handler deletes its message itself.
    router.message.register(
        on_key_text, AddKey.key, NOT_COMMAND, flags=input_flags(takes_api_key=True)
    )
    router.message.register(on_label_text, AddKey.label, NOT_COMMAND, flags=input_flags())
    router.message.register(on_label_text, RenameKey.label, NOT_COMMAND, flags=input_flags())
    router.message.register(
        on_low_balance_text, LowBalance.amount, NOT_COMMAND, flags=input_flags()
    )
    return router
