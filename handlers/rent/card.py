"""The rental card and its buttons: SMS list, extend, history, finish, cancel, refresh."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiogram import Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery

from bot.errors import NotFound, Stale, UseCaseError
from bot.i18n import Translate
from bot.presets import provider_zone
from bot.provider.errors import ProviderError
from bot.rentals import CancelRefused, RentalService
from handlers.common import page_of
from handlers.errors import error_text
from handlers.rent.callbacks import RentalCb, RentExtendCb
from handlers.rent.keyboards import (
    card_only_keyboard,
    extend_confirm_keyboard,
    extend_options_keyboard,
    finish_confirm_keyboard,
    history_keyboard,
    sms_keyboard,
)
from handlers.rent.shared import (
    answer,
    card_parts,
    confirmed_price,
    edit,
    remember_price,
    show_screen,
    user_tz,
    wake_tracker,
)
from handlers.rent.views import (
    format_at,
    render_extend_choose,
    render_extend_confirm,
    render_finish_confirm,
    render_history,
    render_sms_page,
)
from storage.models import Rental

router = Router(name=__name__)
log = logging.getLogger(__name__)

HISTORY_PER_PAGE = 5


class _Ctx:
    """What every card handler needs, gathered once."""

    def __init__(
        self,
        callback: CallbackQuery,
        t: Translate,
        lang: str,
        user: Any,
        rentals: RentalService,
        catalog: Any,
        clock: Callable[[], float],
        state: FSMContext | None = None,
        settings: Any = None,
    ) -> None:
        self.callback, self.t, self.lang, self.user = callback, t, lang, user
        self.rentals, self.catalog, self.clock = rentals, catalog, clock
        self.state, self.settings = state, settings
        self.user_id = callback.from_user.id

    async def show_card(
        self, rental: Rental, notice: str | None = None, *, alert: bool = False
    ) -> None:
        """Edit the tapped message into the card (it becomes the card the tracker updates),
        then answer the tap once, with `notice` (as an alert when `alert`)."""
        fresh = await self.rentals.get(self.user_id, rental.id)
        text, markup = await card_parts(
            fresh,
            user_id=self.user_id,
            user=self.user,
            t=self.t,
            lang=self.lang,
            rentals=self.rentals,
            catalog=self.catalog,
            now=self.clock(),
            settings=self.settings,
        )
        shown = await edit(self.callback, text, markup)
        if shown is not None:
            await self.rentals.db.rentals.set_card(fresh.id, shown.chat.id, shown.message_id)
        await answer(self.callback, notice, alert=alert)

    async def refuse(self, exc: BaseException, rental_id: int | None = None) -> None:
        """Say why, as an alert; redraw the card when its state may have moved on.

        Telegram takes ONE answer per tap (a second is refused as "query is too old"), so
        the alert travels in the answer that also ends the redraw."""
        rental: Rental | None = None
        if rental_id is not None and not isinstance(exc, NotFound):
            try:
                rental = await self.rentals.get(self.user_id, rental_id)
            except NotFound:
                rental = None
        text = self.text_of(exc)
        if rental is not None:
            await self.show_card(rental, text, alert=True)
            return
        await answer(self.callback, text, alert=True)

    def text_of(self, exc: BaseException) -> str:
        if isinstance(exc, CancelRefused):
            return self.t(f"rent-cancel-reason-{exc.reason}")
        return error_text(self.t, exc, user=self.user, settings=self.settings)


@router.callback_query(RentalCb.filter())
async def rental_action(
    callback: CallbackQuery,
    callback_data: RentalCb,
    t: Translate,
    lang: str,
    user: Any,
    rentals: RentalService,
    catalog: Any,
    clock: Callable[[], float],
    tracker: Any = None,
    state: FSMContext | None = None,
    settings: Any = None,
) -> None:
    ctx = _Ctx(callback, t, lang, user, rentals, catalog, clock, state, settings)
    handler = _ACTIONS.get(callback_data.action)
    if handler is None:
        await answer(callback, t("error-stale"))
        return
    try:
        await handler(ctx, callback_data)
    except (ProviderError, UseCaseError) as exc:
        await ctx.refuse(exc, callback_data.id)
    if callback_data.action in ("finy", "cnl", "ref"):
        wake_tracker(tracker)


async def _open(ctx: _Ctx, data: RentalCb) -> None:
    await ctx.show_card(await ctx.rentals.get(ctx.user_id, data.id))


async def _refresh(ctx: _Ctx, data: RentalCb) -> None:
    rental = await ctx.rentals.refresh(ctx.user_id, data.id)
    await ctx.show_card(rental, ctx.t("rent-refreshed"))


async def _sms(ctx: _Ctx, data: RentalCb) -> None:
    rental = await ctx.rentals.get(ctx.user_id, data.id)
    page = await ctx.rentals.sms(ctx.user_id, rental.id, data.page)
    if page.page >= page.pages and page.total:
        page = await ctx.rentals.sms(ctx.user_id, rental.id, page.pages - 1)
    key = await ctx.rentals.key_of(ctx.user_id, rental)
    provider_tz = provider_zone(key.base_url, ctx.settings)
    text = render_sms_page(ctx.t, rental, page, user_tz(ctx.user), provider_tz)
    await show_screen(ctx.callback, text, sms_keyboard(ctx.t, rental.id, page.page, page.pages))


async def _history(ctx: _Ctx, data: RentalCb) -> None:
    rental = await ctx.rentals.get(ctx.user_id, data.id)
    items = await ctx.rentals.rental_history(ctx.user_id, rental.id)
    page, pages, shown = page_of(items, data.page, HISTORY_PER_PAGE)
    key = await ctx.rentals.key_of(ctx.user_id, rental)
    zones = {"tz": user_tz(ctx.user), "provider_tz": provider_zone(key.base_url, ctx.settings)}
    text = render_history(ctx.t, rental, shown, page, pages, **zones)
    await show_screen(ctx.callback, text, history_keyboard(ctx.t, rental.id, page, pages))


async def _extend_choose(ctx: _Ctx, data: RentalCb) -> None:
    rental = await _live(ctx, data.id)
    options = await ctx.rentals.extend_options(ctx.user_id, rental.id)
    key = await ctx.rentals.key_of(ctx.user_id, rental)
    if not options:
        await show_screen(
            ctx.callback, ctx.t("rent-extend-none"), card_only_keyboard(ctx.t, rental.id)
        )
        return
    text = render_extend_choose(ctx.t, rental)
    markup = extend_options_keyboard(ctx.t, rental.id, options, key.currency)
    await show_screen(ctx.callback, text, markup)


async def _extend_quote(ctx: _Ctx, data: RentalCb) -> None:
    rental = await _live(ctx, data.id)
    option = await ctx.rentals.extend_option(ctx.user_id, rental.id, data.arg)
    if option is None:
        await show_screen(
            ctx.callback, ctx.t("rent-price-unknown"), card_only_keyboard(ctx.t, rental.id)
        )
        return
    key = await ctx.rentals.key_of(ctx.user_id, rental)
    balance = await ctx.rentals.key_balance(ctx.user_id, key)
    text = render_extend_confirm(ctx.t, rental, option, balance, key.currency)
    token = await ctx.rentals.extend_token(
        ctx.user_id, rental.id, hours=option.hours, price=option.cost
    )
    await remember_price(ctx.state, "extend", token, option.cost)
    markup = extend_confirm_keyboard(ctx.t, rental.id, option, token, key.currency)
    await show_screen(ctx.callback, text, markup)


async def _finish_ask(ctx: _Ctx, data: RentalCb) -> None:
    rental = await _live(ctx, data.id)
    text = render_finish_confirm(ctx.t, rental)
    await show_screen(ctx.callback, text, finish_confirm_keyboard(ctx.t, rental.id))


async def _finish(ctx: _Ctx, data: RentalCb) -> None:
    rental = await ctx.rentals.finish(ctx.user_id, data.id)
    await ctx.show_card(rental, ctx.t("rent-finished"))


async def _cancel(ctx: _Ctx, data: RentalCb) -> None:
    rental = await ctx.rentals.cancel(ctx.user_id, data.id)
    await ctx.show_card(rental, ctx.t("rent-cancelled"))


async def _live(ctx: _Ctx, rental_id: int) -> Rental:
    rental = await ctx.rentals.get(ctx.user_id, rental_id)
    if not rental.live:
        raise Stale()
    return rental


_ACTIONS = {
    "open": _open,
    "ref": _refresh,
    "sms": _sms,
    "hist": _history,
    "ext": _extend_choose,
    "extq": _extend_quote,
    "fin": _finish_ask,
    "finy": _finish,
    "cnl": _cancel,
}


@router.callback_query(RentExtendCb.filter())
async def extend(
    callback: CallbackQuery,
    callback_data: RentExtendCb,
    t: Translate,
    lang: str,
    user: Any,
    rentals: RentalService,
    catalog: Any,
    clock: Callable[[], float],
    tracker: Any = None,
    state: FSMContext | None = None,
    settings: Any = None,
) -> None:
    ctx = _Ctx(callback, t, lang, user, rentals, catalog, clock, state, settings)
    cost = await confirmed_price(state, "extend", callback_data.token)
    try:
        result = await rentals.extend(
            ctx.user_id,
            callback_data.id,
            token=callback_data.token,
            hours=callback_data.hours,
            # The card shows "checking" if the answer is lost: reconciliation edits it back.
            message_id=callback.message.message_id if callback.message else None,
            cost=cost,
        )
    except (ProviderError, UseCaseError) as exc:
        await ctx.refuse(exc, callback_data.id)
        return
    if result.stale:  # a token never issued for this extension, or expired: nothing bought
        await answer(callback, t("rent-stale"), alert=True)
        return
    if result.pending:
        wake_tracker(tracker)
        await edit(callback, t("rent-extend-pending"), card_only_keyboard(t, callback_data.id))
        await answer(callback, t("rent-extend-pending"), alert=True)
        return
    if result.duplicate or result.rental is None:
        await answer(callback, t("rent-duplicate"))
        return
    wake_tracker(tracker)
    notice = t("rent-extended", at=format_at(result.rental.ends_at, user_tz(user)))
    await ctx.show_card(result.rental, notice)
