"""The activation card's buttons: one handler per action.

Every button names the activation by its local id only; the owner is checked on every tap
(`OrderService.get` is scoped to the user), so crafted callback data naming someone else's
number changes nothing. The card the user taps becomes the one the tracker keeps up to date.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiogram import Router
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.catalog import CatalogService
from bot.config import Settings
from bot.errors import CodeReceived, NotFound, Stale
from bot.favourites import FavouritesService
from bot.formatting import format_duration
from bot.i18n import Translate
from bot.orders import OrderService
from bot.provider.errors import ProviderError
from bot.replace import ReplaceService
from bot.tracker.notifier import Recipient
from handlers.activation.callbacks import ActivationAction, ActivationCb
from handlers.activation.flow import BuyContext, buy_context, show_confirm
from handlers.activation.presenter import activation_card_data, render_activation_card
from handlers.common import ActiveKeyLoader, answer_quietly, show
from handlers.errors import error_text
from handlers.live_card import retire_card
from storage import Activation, User
from storage.chains import CardMarks


@dataclass(frozen=True, slots=True)
class CardTap:
    """One tap on a card: who tapped, in which language, and the use cases it goes through."""

    query: CallbackQuery
    user: User
    lang: str
    t: Translate
    catalog: CatalogService
    orders: OrderService
    active_key: ActiveKeyLoader
    clock: Callable[[], float]

    async def view(
        self, activation: Activation, marks: CardMarks | None = None
    ) -> tuple[str, InlineKeyboardMarkup]:
        # Most numbers were bought with the key this update read with the user: no second read.
        key = await self.orders.key_of(activation, known=await self.active_key())
        to = Recipient(user=self.user, key=key)
        data = await activation_card_data(
            activation,
            to,
            lang=self.lang,
            catalog=self.catalog,
            orders=self.orders,
            now=self.clock(),
            marks=marks,
        )
        return render_activation_card(data, self.t)

    async def redraw(self, activation: Activation | None) -> bool:
        """Show this number's card as of now in the tapped message (or, when that cannot be
        edited any more, in a new one); True when the chat shows it. The message showing it
        becomes the card the tracker keeps up to date."""
        if activation is None or not isinstance(self.query.message, Message):
            return False  # gone between the read and the tap, or no message to draw in
        shown = await show(self.query, *await self.view(activation))
        if shown is None:
            return False
        if (activation.chat_id, activation.message_id) != (shown.chat.id, shown.message_id):
            await self.orders.card_shown(activation.id, shown.chat.id, shown.message_id)
        return True

    async def move(self, activation: Activation, marks: CardMarks | None = None) -> bool:
        """Draw the number's card in a new message at the bottom of the chat, make it THE card
        (stored first), then turn the previous card into a stub without buttons: one message
        with live buttons per number. True when the chat shows it."""
        message = self.query.message
        if not isinstance(message, Message) or self.query.bot is None:
            return False
        text, markup = await self.view(activation, marks)
        sent = await message.answer(text, reply_markup=markup)
        await self.orders.card_shown(activation.id, sent.chat.id, sent.message_id)
        if activation.message_id is not None:
            chat = activation.chat_id if activation.chat_id is not None else sent.chat.id
            await retire_card(self.query.bot, chat, activation.message_id, sent.message_id, self.t)
        return True

    async def reload(self, activation_id: int) -> Activation | None:
        return await self.orders.get(self.user.id, activation_id)


async def _owned(
    query: CallbackQuery,
    callback_data: ActivationCb,
    orders: OrderService,
    user: User,
    t: Translate,
) -> Activation | None:
    """The user's own number named by the tap; a crafted id naming another's finds nothing."""
    activation = await orders.get(user.id, callback_data.id)
    if activation is None:
        await _not_found(query, t)
    return activation


async def _not_found(query: CallbackQuery, t: Translate) -> None:
    """The tapped number is not the user's (a crafted id) or is gone: said in an alert."""
    await answer_quietly(query, t("act-not-found"), alert=True)


# ------------------------------------------------------------------ open, favourite, again


async def card_tap(
    query: CallbackQuery,
    user: User,
    lang: str,
    t: Translate,
    catalog: CatalogService,
    orders: OrderService,
    active_key: ActiveKeyLoader,
    clock: Callable[[], float],
) -> dict[str, CardTap]:
    """A filter that always passes and hands the handler its `tap` (aiogram merges a filter's
    dict into the handler's arguments): the card's dependencies are named, with their types,
    once."""
    return {"tap": CardTap(query, user, lang, t, catalog, orders, active_key, clock)}


async def on_open(query: CallbackQuery, callback_data: ActivationCb, tap: CardTap) -> None:
    """A number opened from a list (My numbers): its card moves below the list. The number
    and its card's marks come in one read."""
    found = await tap.orders.get_for_card(tap.user.id, callback_data.id)
    if found is None:
        await _not_found(query, tap.t)
        return
    await answer_quietly(query)
    await tap.move(*found)


async def on_favourite(
    query: CallbackQuery,
    callback_data: ActivationCb,
    tap: CardTap,
    favourites: FavouritesService,
) -> None:
    """⭐ stars the number's (service, country) for the buy flow's quick picks; a second tap
    un-stars it. The card's button says which it is now."""
    activation = await _owned(query, callback_data, tap.orders, tap.user, tap.t)
    if activation is None:
        return
    starred = await favourites.toggle(tap.user.id, activation.service, activation.country)
    await answer_quietly(query, tap.t("act-notice-fav") if starred else tap.t("act-notice-unfav"))
    await tap.redraw(activation)


async def on_again(query: CallbackQuery, callback_data: ActivationCb, ctx: BuyContext) -> None:
    """The confirm screen of the same offer, in a new message: the card keeps its number."""
    activation = await _owned(query, callback_data, ctx.orders, ctx.user, ctx.t)
    if activation is None:
        return
    await answer_quietly(query)
    below = query.message if isinstance(query.message, Message) else query
    await show_confirm(below, ctx, service=activation.service, country=activation.country)


# ------------------------------------------------------------------ status buttons

# One status button: the use case's call on the owner's live number; returns the number as
# stored after it and the tap's short notice.
StatusCall = Callable[[CardTap, Activation, float], Awaitable[tuple[Activation, str]]]


async def _sms_sent(tap: CardTap, a: Activation, now: float) -> tuple[Activation, str]:
    return await tap.orders.mark_sms_sent(tap.user.id, a.id), tap.t("act-notice-sms-sent")


async def _another(tap: CardTap, a: Activation, now: float) -> tuple[Activation, str]:
    fresh = await tap.orders.request_another(tap.user.id, a.id)
    notice = "act-notice-checking" if fresh.pending_change else "act-notice-another"
    return fresh, tap.t(notice)


async def _done(tap: CardTap, a: Activation, now: float) -> tuple[Activation, str]:
    return await tap.orders.finish(tap.user.id, a.id), tap.t("act-notice-done")


async def _cancel(tap: CardTap, a: Activation, now: float) -> tuple[Activation, str]:
    result = await tap.orders.cancel(tap.user.id, a.id)
    fresh, t = result.activation, tap.t
    if result.checking:
        return fresh, t("act-notice-checking")
    if result.scheduled:
        wait = fresh.cancel_allowed_at - now
        if wait > 0:
            left = format_duration(wait, tap.lang)
            return fresh, t("act-notice-cancel-scheduled", left=left)
        return fresh, t("act-notice-cancel-retry")
    return fresh, t("act-notice-cancelled")


async def _refresh(tap: CardTap, a: Activation, now: float) -> tuple[Activation, str]:
    return await tap.orders.refresh(tap.user.id, a.id), ""


async def _status_tap(
    call: StatusCall,
    query: CallbackQuery,
    callback_data: ActivationCb,
    tap: CardTap,
    settings: Settings | None,
) -> None:
    """A button that changes the number: checked, performed through the use case, and the
    tapped message redrawn as the number's card."""
    t, orders, user = tap.t, tap.orders, tap.user
    a = await _owned(query, callback_data, orders, user, t)
    if a is None:
        return
    if not a.live:
        await answer_quietly(query, t("act-ended"))
        await tap.redraw(a)
        return
    try:
        a, notice = await call(tap, a, tap.clock())
    except CodeReceived:
        # Cancel on a number with a code (an older card, or the code arrived while the cancel
        # was on its way): refused by the use case, and the card shows the code.
        await answer_quietly(query, t("act-cancel-has-code"), alert=True)
        await tap.redraw(await tap.reload(callback_data.id))
        return
    except NotFound:
        # Ended between the read and the tap (or "another code" is not possible any more).
        await answer_quietly(query, t("act-stale"))
        await tap.redraw(await tap.reload(callback_data.id))
        return
    except ProviderError as exc:
        await answer_quietly(query, error_text(t, exc, user=user, settings=settings), alert=True)
        await tap.redraw(await tap.reload(callback_data.id))
        return
    await answer_quietly(query, notice)
    if await tap.redraw(a):
        # Codes the card now shows have reached the chat: the tracker must not send them again.
        await orders.codes_shown(a)


async def on_sms_sent(
    query: CallbackQuery,
    callback_data: ActivationCb,
    tap: CardTap,
    settings: Settings | None = None,
) -> None:
    """📨 SMS sent: the service was asked to send the SMS."""
    await _status_tap(_sms_sent, query, callback_data, tap, settings)


async def on_another(
    query: CallbackQuery,
    callback_data: ActivationCb,
    tap: CardTap,
    settings: Settings | None = None,
) -> None:
    """🔁 one more code on the same number."""
    await _status_tap(_another, query, callback_data, tap, settings)


async def on_done(
    query: CallbackQuery,
    callback_data: ActivationCb,
    tap: CardTap,
    settings: Settings | None = None,
) -> None:
    """✅ the user is done with the number."""
    await _status_tap(_done, query, callback_data, tap, settings)


async def on_cancel(
    query: CallbackQuery,
    callback_data: ActivationCb,
    tap: CardTap,
    settings: Settings | None = None,
) -> None:
    """✖️ cancel (refund); never once a code came."""
    await _status_tap(_cancel, query, callback_data, tap, settings)


async def on_refresh(
    query: CallbackQuery,
    callback_data: ActivationCb,
    tap: CardTap,
    settings: Settings | None = None,
) -> None:
    """🔄 ask the provider now."""
    await _status_tap(_refresh, query, callback_data, tap, settings)


async def on_stop_replace(
    query: CallbackQuery, callback_data: ActivationCb, tap: CardTap, auto_replace: ReplaceService
) -> None:
    """⏹ stop the number's auto-replace chain: the number stays, nothing more is bought."""
    t = tap.t
    if await _owned(query, callback_data, tap.orders, tap.user, t) is None:
        return
    try:
        await auto_replace.stop(tap.user.id, callback_data.id)
    except (NotFound, Stale):
        await answer_quietly(query, t("replace-stop-stale"))
    else:
        await answer_quietly(query, t("replace-stopped-tap"))
    await tap.redraw(await tap.reload(callback_data.id))


def create_router() -> Router:
    """The card's taps are the bot's most frequent: the router decodes the callback data once
    (its filter injects `callback_data`), and each handler only compares the decoded action,
    instead of every handler decoding the data again until one matches."""
    router = Router(name=__name__)
    router.callback_query.filter(ActivationCb.filter())
    tap = router.callback_query.register
    tap(on_open, _Action(ActivationAction.OPEN), card_tap)
    tap(on_favourite, _Action(ActivationAction.FAVOURITE), card_tap)
    tap(on_again, _Action(ActivationAction.AGAIN), buy_context)
    tap(on_sms_sent, _Action(ActivationAction.SMS_SENT), card_tap)
    tap(on_another, _Action(ActivationAction.ANOTHER), card_tap)
    tap(on_done, _Action(ActivationAction.DONE), card_tap)
    tap(on_cancel, _Action(ActivationAction.CANCEL), card_tap)
    tap(on_refresh, _Action(ActivationAction.REFRESH), card_tap)
    tap(on_stop_replace, _Action(ActivationAction.STOP_REPLACE), card_tap)
    return router


class _Action(Filter):
    """Picks the handler of one action from the `callback_data` the router's filter decoded."""

    def __init__(self, action: ActivationAction) -> None:
        self.action = action

    async def __call__(self, query: CallbackQuery, callback_data: ActivationCb) -> bool:
        return callback_data.action == self.action
