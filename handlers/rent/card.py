"""The rental card's buttons: refresh, SMS list, history, extend, finish, cancel.

One handler per `RentalAction`. Each tap is re-checked against the tapping user by the use case
(another user's rental is NotFound). A refusal (the provider's or the use case's) is the alert
of the tap's one answer, and the card is redrawn when its state may have moved on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup

from bot.catalog import CatalogService
from bot.config import Settings
from bot.errors import NotFound, UseCaseError
from bot.formatting import format_time, user_timezone
from bot.i18n import Translate
from bot.presets import provider_zone
from bot.provider.errors import ProviderError
from bot.rentals import CancelRefused, RentalService
from bot.tracker.notifier import Recipient
from handlers.common import answer_quietly, page_of, show
from handlers.errors import error_text
from handlers.rent.callbacks import RentalAction, RentalCb, RentExtendCb
from handlers.rent.keyboards import (
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
    render_extend_choose,
    render_extend_confirm,
    render_finish_confirm,
    render_history,
    render_sms_page,
)
from storage.models import User

HISTORY_PER_PAGE = 5

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

    async def show_card(
        self, rental_id: int, notice: str | None = None, *, alert: bool = False
    ) -> None:
        """Draw the rental's card, as stored now, into the tapped message (which becomes the
        card the tracker edits), then answer the tap once, with `notice`."""
        rental = await self.rentals.get(self.user.id, rental_id)
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
        shown = await show(self.callback, *render_rental_card(data, self.t))
        if shown is not None:
            await self.rentals.card_shown(rental.id, shown.chat.id, shown.message_id)
        await answer_quietly(self.callback, notice, alert=alert)

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
    async with tap.refusals(callback_data.id):
        await tap.show_card(callback_data.id)


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
        markup = extend_options_keyboard(tap.t, rental.id, options, key.currency)
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
        text = render_extend_confirm(tap.t, rental, option, balance, key.currency)
        # A fresh one-time token per confirmation screen: the tap on it extends at most once.
        token = await tap.rentals.extend_token(
            tap.user.id, rental.id, hours=option.hours, price=option.cost
        )
        await remember_price(state, Confirming.EXTEND, token, option.cost)
        markup = extend_confirm_keyboard(tap.t, rental.id, option, token, key.currency)
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


async def on_cancel(_: CallbackQuery, callback_data: RentalCb, tap: CardTap) -> None:
    async with tap.refusals(callback_data.id):
        rental = await tap.rentals.cancel(tap.user.id, callback_data.id)
        await tap.show_card(rental.id, tap.t("rent-cancelled"))


async def on_extend_confirmed(
    callback: CallbackQuery, callback_data: RentExtendCb, tap: CardTap, state: FSMContext
) -> None:
    """The extension's confirm button: extends once per token, at the price the screen showed."""
    async with tap.refusals(callback_data.id):
        result = await tap.rentals.extend(
            tap.user.id,
            callback_data.id,
            token=callback_data.token,
            hours=callback_data.hours,
            # The message that says "checking" if the answer is lost: reconciliation edits it.
            message_id=callback.message.message_id if callback.message is not None else None,
            cost=await confirmed_price(state, Confirming.EXTEND, callback_data.token),
        )
        if result.stale:  # a token never issued for this extension, or expired: nothing bought
            await answer_quietly(callback, tap.t("rent-stale"), alert=True)
        elif result.pending:
            await show_checking(callback, tap.t, rental_id=callback_data.id)
        elif result.duplicate or result.rental is None:
            await answer_quietly(callback, tap.t("rent-duplicate"))
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
    on(on_cancel, RentalCb.filter(F.action == RentalAction.CANCEL), card_tap)
    on(on_extend_confirmed, RentExtendCb.filter(), card_tap)
    return router
