"""Your data (/mydata): what the bot keeps about the user, and deleting all of it.

Deleting asks once for a confirmation that says what happens to live numbers (each is ended
first: cancelled while it has no code, finished otherwise). When one cannot be ended now,
nothing is deleted and the screen says which number holds it up and why.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from html import escape

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.formatting import format_duration
from bot.i18n import Translate
from bot.mydata import EraseResult, Hold, Holdup, MyDataService
from handlers.common import answer_quietly, answer_tap, back_button, menu_button, show
from storage import User, UserDataCounts


class MyDataAction(StrEnum):
    SHOW = "s"
    ASK = "a"  # the confirmation
    ERASE = "e"  # confirmed: end live numbers, then delete


class MyDataCb(CallbackData, prefix="d1"):  # type: ignore[explicit-any]  # BaseModel's Any
    action: MyDataAction


def _button(text: str, action: MyDataAction) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=MyDataCb(action=action).pack())


def summary_text(t: Translate, counts: UserDataCounts) -> str:
    return t(
        "mydata-summary",
        keys=counts.keys,
        activations=counts.activations,
        codes=counts.codes,
        rentals=counts.rentals,
        sms=counts.rental_sms,
        live=counts.live_activations + counts.live_rentals,
        favourites=counts.favourites,
        recents=counts.recents,
        settings=t("mydata-yes") if counts.has_settings else t("mydata-no"),
    )


def summary_keyboard(t: Translate) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[_button(t("mydata-btn-delete"), MyDataAction.ASK)], [menu_button(t)]]
    )


def confirm_text(t: Translate, counts: UserDataCounts) -> str:
    live = counts.live_activations + counts.live_rentals
    lines = [t("mydata-confirm")]
    if live:
        lines.append(t("mydata-confirm-live", live=live))
    return "\n\n".join(lines)


def confirm_keyboard(t: Translate) -> InlineKeyboardMarkup:
    back = back_button(t, MyDataCb(action=MyDataAction.SHOW).pack())
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(t("mydata-btn-confirm"), MyDataAction.ERASE)],
            [back, menu_button(t)],
        ]
    )


def holdup_line(t: Translate, holdup: Holdup, now: float, lang: str) -> str:
    phone = escape("+" + holdup.phone.lstrip("+")) if holdup.phone else ""
    if holdup.hold is Hold.LOCKED:
        left = format_duration(max(0.0, (holdup.until or now) - now), lang)
        return t("mydata-hold-locked", phone=phone, left=left)
    return t(f"mydata-hold-{holdup.hold}", phone=phone)


def result_text(t: Translate, result: EraseResult, now: float, lang: str) -> str:
    if result.erased:
        return t("mydata-erased", ended=result.ended)
    lines = [t("mydata-not-erased")]
    lines.extend(holdup_line(t, holdup, now, lang) for holdup in result.holdups)
    if result.ended:
        lines.append(t("mydata-ended-some", ended=result.ended))
    return "\n".join(lines)


async def on_mydata(
    event: Message | CallbackQuery,
    state: FSMContext,
    t: Translate,
    mydata: MyDataService,
    user: User,
) -> None:
    await state.clear()
    counts = await mydata.summary(user.id)
    await show(event, summary_text(t, counts), summary_keyboard(t))
    await answer_tap(event)


async def on_ask(query: CallbackQuery, t: Translate, mydata: MyDataService, user: User) -> None:
    counts = await mydata.summary(user.id)
    await show(query, confirm_text(t, counts), confirm_keyboard(t))
    await answer_quietly(query)


async def on_erase(
    query: CallbackQuery,
    state: FSMContext,
    t: Translate,
    mydata: MyDataService,
    user: User,
    lang: str,
    clock: Callable[[], float],
) -> None:
    await state.clear()
    result = await mydata.erase(user.id)
    if result.erased:
        markup = InlineKeyboardMarkup(inline_keyboard=[[menu_button(t)]])
    else:
        back = back_button(t, MyDataCb(action=MyDataAction.SHOW).pack())
        markup = InlineKeyboardMarkup(inline_keyboard=[[back, menu_button(t)]])
    await show(query, result_text(t, result, clock(), lang), markup)
    await answer_quietly(query)


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(on_mydata, Command("mydata"))
    tap = router.callback_query.register
    tap(on_mydata, MyDataCb.filter(F.action == MyDataAction.SHOW))
    tap(on_ask, MyDataCb.filter(F.action == MyDataAction.ASK))
    tap(on_erase, MyDataCb.filter(F.action == MyDataAction.ERASE))
    return router
