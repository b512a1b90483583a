"""The rental card's buttons: refresh, SMS list, history, extend, finish, cancel.

One handler per `RentalAction`. Each tap is re-checked against the tapping user by the use case
(another user's rental is NotFound). A refusal (the provider's or the use case's) is the alert
of the tap's one answer, and the card is redrawn when its state may have moved on.

One live card per rental: the card's screens (SMS, history, extend, the confirmations) are drawn
in the card's own message and lead back to it; opening the rental from anywhere else moves the
card (a new message, the old one retired); the ways out (main menu, the lists) come below.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.accounts import AccountService
from bot.catalog import CatalogService
from bot.config import Settings
from bot.errors import NotFound, UseCaseError
from bot.formatting import format_time, user_timezone
from bot.i18n import Translate
from bot.presets import provider_zone
from bot.provider.errors import ProviderError
from bot.rentals import CancelRefused, RentalService, Repeat
from bot.tracker.notifier import Recipient
from handlers.common import answer_quietly, main_menu_keyboard, page_of, show
from handlers.errors import error_text
from handlers.live_card import retire_card
from handlers.rent.callbacks import RentalAction, RentalCb, RentExtendCb
from handlers.rent.keyboards import (
    cancel_confirm_keyboard,
    card_only_keyboard,
    extend_confirm_keyboard,
    extend_options_keyboard,
    finish_confirm_keyboard,
    history_keyboard,
    sms_keyboard,
)
from handlers.rent.outcome import show_checking
from handlers.rent.presenter import render_rental_card, rental_card_data
from handlers.rent.prices import Confirming, confirmed_price, remember_price
from handlers.rent.views import (
    render_cancel_confirm,
    render_extend_choose,
    render_extend_confirm,
    render_finish_confirm,
    render_history,
    render_sms_page,
)
from handlers.start import main_menu_text, menu_key
from storage.models import Rental, User

HISTORY_PER_PAGE = 5

# What a repeated extension tap says, by what the first tap of its token is doing.
_EXTEND_REPEAT = {
    Repeat.RUNNING: "rent-still-extending",
    Repeat.CHECKING: "rent-extend-pending",
    Repeat.DONE: "rent-extend-done",
    Repeat.FAILED: "rent-extend-repeat-failed",
    Repeat.UNCONFIRMED: "rent-extend-repeat-unconfirmed",
}

# What a tap may be refused with: said as an alert, never raised to the dispatcher.
REFUSALS = (ProviderError, UseCaseError)


@dataclass(frozen=True, slots=True)
class CardTap:
    """A tap on (or under) a rental card, with what drawing the card needs."""

    callback: CallbackQuery
    t: Translate
    lang: str
    user: User
    rentals: RentalService
    catalog: CatalogService
    settings: Settings
    clock: Callable[[], float]

    async def screen(self, text: str, markup: InlineKeyboardMarkup) -> None:
        """A screen under the card, in the tapped message; the tap answered without a word."""
        await show(self.callback, text, markup)
        await answer_quietly(self.callback)

    async def below(self, text: str, markup: InlineKeyboardMarkup | None) -> Message | None:
        """A screen as a NEW message at the bottom of the chat: the tapped one (a card) stays."""
        message = self.callback.message
        if isinstance(message, Message):
            return await message.answer(text, reply_markup=markup)
        if self.callback.bot is None:
            return None
        return await self.callback.bot.send_message(self.user.id, text, reply_markup=markup)

    async def card_view(self, rental: Rental) -> tuple[str, InlineKeyboardMarkup]:
        key = await self.rentals.key_of(self.user.id, rental)
        data = await rental_card_data(
            rental,
            Recipient(user=self.user, key=key),
            lang=self.lang,
            rentals=self.rentals,
            catalog=self.catalog,
            settings=self.settings,
            now=self.clock(),
        )
        return render_rental_card(data, self.t)

    async def show_card(
        self, rental_id: int, notice: str | None = None, *, alert: bool = False
    ) -> None:
        """Draw the rental's card, as stored now, into the tapped message (which becomes the
        card the tracker edits), then answer the tap once, with `notice`."""
        rental = await self.rentals.get(self.user.id, rental_id)
        shown = await show(self.callback, *await self.card_view(rental))
        if shown is not None:
            await self.rentals.card_shown(rental.id, shown.chat.id, shown.message_id)
        await answer_quietly(self.callback, notice, alert=alert)

    async def move_card(self, rental: Rental) -> None:
        """The card anew at the bottom of the chat, stored as THE card, and the message that was
        the card retired into a stub: exactly one message has the rental's live buttons."""
        sent = await self.below(*await self.card_view(rental))
        if sent is None:
            return
        await self.rentals.card_shown(rental.id, sent.chat.id, sent.message_id)
        if self.callback.bot is not None and rental.chat_id is not None:
            old = rental.message_id if rental.chat_id == sent.chat.id else None
            await retire_card(self.callback.bot, rental.chat_id, old, sent.message_id, self.t)

    def tapped_card(self, rental: Rental) -> bool:
        """True when the tap came from the rental's own card (or a screen drawn in it)."""
        message = self.callback.message
        return (
            message is not None
            and rental.message_id == message.message_id
            and rental.chat_id == message.chat.id
        )

    async def refuse(self, exc: BaseException, rental_id: int) -> None:
        """Say why, as an alert; redraw the card when its state may have moved on (a rental
        found ended, an SMS that blocks the cancel). Telegram takes ONE answer per tap, so the
        alert travels in the answer that also ends the redraw."""
        text = self.text_of(exc)
        if not isinstance(exc, NotFound):
            try:
                await self.show_card(rental_id, text, alert=True)
                return
            except NotFound:
                pass
        await answer_quietly(self.callback, text, alert=True)

    def text_of(self, exc: BaseException) -> str:
        if isinstance(exc, CancelRefused):
            return self.t(f"rent-cancel-reason-{exc.reason}")
        return error_text(self.t, exc, user=self.user, settings=self.settings)

    @asynccontextmanager
    async def refusals(self, rental_id: int) -> AsyncIterator[None]:
        """Run a tap's work; a refusal inside becomes the tap's alert (see `refuse`)."""
        try:
            yield
        except REFUSALS as exc:
            await self.refuse(exc, rental_id)


async def card_tap(
    callback: CallbackQuery,
    t: Translate,
    lang: str,
    user: User,
    rentals: RentalService,
    catalog: CatalogService,
    settings: Settings,
    clock: Callable[[], float],
) -> dict[str, CardTap]:
    """A filter that always passes and hands the handler its `tap` (aiogram merges a filter's
    dict into the handler's arguments): the dependencies are named, with their types, once."""
    return {"tap": CardTap(callback, t, lang, user, rentals, catalog, settings, clock)}


# ------------------------------------------------------------------ one handler per action


async def on_open(_: CallbackQuery, callback_data: RentalCb, tap: CardTap) -> None:
    """The card: redrawn in place from its own message ("back to the number"); opened from
    anywhere else (My numbers, the history, an old message) it moves to the bottom."""
    async with tap.refusals(callback_data.id):
        rental = await tap.rentals.opened(tap.user.id, callback_data.id)
        if tap.tapped_card(rental):
            await tap.show_card(rental.id)
            return
        await tap.move_card(rental)
        await answer_quietly(tap.callback)


async def on_refresh(_: CallbackQuery, callback_data: RentalCb, tap: CardTap) -> None:
    async with tap.refusals(callback_data.id):
        rental = await tap.rentals.refresh(tap.user.id, callback_data.id)
        await tap.show_card(rental.id, tap.t("rent-refreshed"))


async def on_sms(_: CallbackQuery, callback_data: RentalCb, tap: CardTap) -> None:
    async with tap.refusals(callback_data.id):
        rental = await tap.rentals.get(tap.user.id, callback_data.id)
        page = await tap.rentals.sms(tap.user.id, rental.id, callback_data.page)
        if page.page >= page.pages and page.total:  # past the last page: show the last one
            page = await tap.rentals.sms(tap.user.id, rental.id, page.pages - 1)
        key = await tap.rentals.key_of(tap.user.id, rental)
        text = render_sms_page(
            tap.t,
            rental,
            page,
            user_timezone(tap.user.timezone),
            provider_zone(key.base_url, tap.settings),
        )
        await tap.screen(text, sms_keyboard(tap.t, rental.id, page.page, page.pages))


async def on_history(_: CallbackQuery, callback_data: RentalCb, tap: CardTap) -> None:
    async with tap.refusals(callback_data.id):
        rental = await tap.rentals.get(tap.user.id, callback_data.id)
        items = await tap.rentals.rental_history(tap.user.id, rental.id)
        page, pages, shown = page_of(items, callback_data.page, HISTORY_PER_PAGE)
        key = await tap.rentals.key_of(tap.user.id, rental)
        text = render_history(
            tap.t,
            rental,
            shown,
            page,
            pages,
            lang=tap.lang,
            tz=user_timezone(tap.user.timezone),
            provider_tz=provider_zone(key.base_url, tap.settings),
            currency=key.currency,
        )
        await tap.screen(text, history_keyboard(tap.t, rental.id, page, pages))


async def on_extend(_: CallbackQuery, callback_data: RentalCb, tap: CardTap) -> None:
    async with tap.refusals(callback_data.id):
        rental = await tap.rentals.live(tap.user.id, callback_data.id)
        options = await tap.rentals.extend_options(tap.user.id, rental.id)
        if not options:
            await tap.screen(tap.t("rent-extend-none"), card_only_keyboard(tap.t, rental.id))
            return
        key = await tap.rentals.key_of(tap.user.id, rental)
        markup = extend_options_keyboard(tap.t, rental.id, options, key.currency, tap.lang)
        await tap.screen(render_extend_choose(tap.t, rental), markup)


async def on_extend_quote(
    _: CallbackQuery, callback_data: RentalCb, tap: CardTap, state: FSMContext
) -> None:
    async with tap.refusals(callback_data.id):
        rental = await tap.rentals.live(tap.user.id, callback_data.id)
        option = await tap.rentals.extend_option(tap.user.id, rental.id, callback_data.arg)
        if option is None:
            await tap.screen(tap.t("rent-price-unknown"), card_only_keyboard(tap.t, rental.id))
            return
        key = await tap.rentals.key_of(tap.user.id, rental)
        balance = await tap.rentals.key_balance(tap.user.id, key)
        text = render_extend_confirm(
            tap.t,
            rental,
            option,
            balance,
            key.currency,
            lang=tap.lang,
            tz=user_timezone(tap.user.timezone),
        )
        # A fresh one-time token per confirmation screen: the tap on it extends at most once.
        token = await tap.rentals.extend_token(
            tap.user.id, rental.id, hours=option.hours, price=option.cost
        )
        await remember_price(state, Confirming.EXTEND, token, option.cost)
        markup = extend_confirm_keyboard(tap.t, rental.id, option, token, key.currency, tap.lang)
        await tap.screen(text, markup)


async def on_finish_ask(_: CallbackQuery, callback_data: RentalCb, tap: CardTap) -> None:
    async with tap.refusals(callback_data.id):
        rental = await tap.rentals.live(tap.user.id, callback_data.id)
        await tap.screen(
            render_finish_confirm(tap.t, rental), finish_confirm_keyboard(tap.t, rental.id)
        )


async def on_finish(_: CallbackQuery, callback_data: RentalCb, tap: CardTap) -> None:
    async with tap.refusals(callback_data.id):
        rental = await tap.rentals.finish(tap.user.id, callback_data.id)
        await tap.show_card(rental.id, tap.t("rent-finished"))


async def on_cancel_ask(_: CallbackQuery, callback_data: RentalCb, tap: CardTap) -> None:
    async with tap.refusals(callback_data.id):
        rental = await tap.rentals.cancellable(tap.user.id, callback_data.id)
        await tap.screen(
            render_cancel_confirm(tap.t, rental), cancel_confirm_keyboard(tap.t, rental.id)
        )


async def on_menu_below(
    _: CallbackQuery, tap: CardTap, accounts: AccountService, state: FSMContext
) -> None:
    """« Main menu from a card's message: the menu comes below and the card stays."""
    await state.clear()  # as every main-menu button: it leaves any input screen
    key = await menu_key(accounts, tap.user)
    await tap.below(main_menu_text(tap.t, key, tap.settings, tap.lang), main_menu_keyboard(tap.t))
    await answer_quietly(tap.callback)


async def on_cancel(_: CallbackQuery, callback_data: RentalCb, tap: CardTap) -> None:
    async with tap.refusals(callback_data.id):
        rental = await tap.rentals.cancel(tap.user.id, callback_data.id)
        await tap.show_card(rental.id, tap.t("rent-cancelled"))


async def on_extend_confirmed(
    callback: CallbackQuery, callback_data: RentExtendCb, tap: CardTap, state: FSMContext
) -> None:
    """The extension's confirm button: extends once per token, at the price the screen showed."""

    async def started() -> None:  # the intent is written: the screen says what happens now
        await show(callback, tap.t("rent-extending"), None)

    async with tap.refusals(callback_data.id):
        result = await tap.rentals.extend(
            tap.user.id,
            callback_data.id,
            token=callback_data.token,
            hours=callback_data.hours,
            started=started,
            # The message that says "checking" if the answer is lost: reconciliation edits it.
            message_id=callback.message.message_id if callback.message is not None else None,
            cost=await confirmed_price(state, Confirming.EXTEND, callback_data.token),
        )
        if result.stale:  # a token never issued for this extension, or expired: nothing bought
            await answer_quietly(callback, tap.t("rent-stale"), alert=True)
        elif result.pending:
            await show_checking(callback, tap.t, rental_id=callback_data.id)
        elif result.duplicate or result.rental is None:
            await answer_quietly(callback, tap.t(_EXTEND_REPEAT[result.repeat or Repeat.DONE]))
        else:
            ends = format_time(result.rental.ends_at, user_timezone(tap.user.timezone))
            await tap.show_card(result.rental.id, tap.t("rent-extended", at=ends))


# ------------------------------------------------------------------ the router


def create_router() -> Router:
    router = Router(name=__name__)
    on = router.callback_query.register
    on(on_open, RentalCb.filter(F.action == RentalAction.OPEN), card_tap)
    on(on_refresh, RentalCb.filter(F.action == RentalAction.REFRESH), card_tap)
    on(on_sms, RentalCb.filter(F.action == RentalAction.SMS), card_tap)
    on(on_history, RentalCb.filter(F.action == RentalAction.HISTORY), card_tap)
    on(on_extend, RentalCb.filter(F.action == RentalAction.EXTEND), card_tap)
    on(on_extend_quote, RentalCb.filter(F.action == RentalAction.EXTEND_QUOTE), card_tap)
    on(on_finish_ask, RentalCb.filter(F.action == RentalAction.FINISH_ASK), card_tap)
    on(on_finish, RentalCb.filter(F.action == RentalAction.FINISH), card_tap)
    on(on_cancel_ask, RentalCb.filter(F.action == RentalAction.CANCEL_ASK), card_tap)
    on(on_cancel, RentalCb.filter(F.action == RentalAction.CANCEL), card_tap)
    on(on_menu_below, RentalCb.filter(F.action == RentalAction.MENU), card_tap)
    on(on_extend_confirmed, RentExtendCb.filter(), card_tap)
    return router
