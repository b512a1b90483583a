"""The activation card: one message per bought number, edited in place as it moves on.

`render_activation_card` and `activation_card_keyboard` are pure views (the tracker's notifier
calls them too). Every button names the activation by its local id only; the owner is checked
on every tap, so crafted callback data naming someone else's number changes nothing.
"""

from __future__ import annotations

import html
import logging
from typing import Any

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.catalog import CatalogService
from bot.config import Settings
from bot.errors import CodeReceived, NotFound
from bot.flags import country_flag
from bot.formatting import clip_escaped, format_duration, format_money
from bot.i18n import Translate
from bot.orders import OrderService
from bot.provider.errors import ProviderError
from handlers.common import CallbackId, menu_button
from handlers.errors import error_text
from handlers.names import names_of
from storage import Activation, Database, User

log = logging.getLogger(__name__)

router = Router(name=__name__)

_CODE_LIMIT = 300  # escaped characters of one code on the card (a card holds every round)

STATUS_ACTIONS = frozenset({"sms", "more", "done", "cancel", "refresh"})


class ActivationCb(CallbackData, prefix="a1"):
    """open, sms (status 1), more (status 3), done (6), cancel (8), refresh, fav, again."""

    action: str
    id: CallbackId


def _lang_of(t: Translate) -> str:
    """The bound translator's language, read back from a catalog entry every language has."""
    code = t("act-lang-code")
    return code if code in ("en", "ru", "zh") else "en"


def _duration(seconds: float, t: Translate) -> str:
    return format_duration(max(0.0, seconds), _lang_of(t))


def _status_line(a: Activation, t: Translate) -> str:
    if a.status == "waiting":
        return t("act-status-waiting-sent") if a.sms_sent else t("act-status-waiting")
    return t(f"act-status-{a.status}")


def render_activation_card(
    a: Activation,
    t: Translate,
    now: float,
    *,
    country_name: str,
    service_name: str,
    flag: str | None = None,
) -> str:
    """The card's text (HTML). `flag` defaults to the flag of an English `country_name`."""
    flag = flag if flag is not None else country_flag(country_name)
    lines = [
        t(
            "act-card-title",
            service=html.escape(service_name),
            flag=flag,
            country=html.escape(country_name),
        ),
        t("act-card-number", phone=f"<code>+{html.escape(a.phone)}</code>"),
        t("act-card-price", price=html.escape(format_money(a.cost, a.currency))),
        t("act-card-status", status=_status_line(a, t)),
    ]
    if a.live:
        lines.append(t("act-card-time-left", left=_duration(a.ends_at - now, t)))
        if a.pending_change is not None:
            lines.append(t("act-card-checking"))
        elif a.cancel_requested and not a.codes:  # a number with a code is never cancelled
            wait = a.cancel_allowed_at - now
            lines.append(
                t("act-card-cancel-scheduled", left=_duration(wait, t))
                if wait > 0
                else t("act-card-cancelling")
            )
        elif not a.codes and now < a.cancel_allowed_at:
            lines.append(t("act-card-cancel-locked", left=_duration(a.cancel_allowed_at - now, t)))
    if a.codes:
        lines.append(t("act-card-codes"))
        for code in sorted(a.codes, key=lambda c: c.round):
            # Cut after escaping: a provider's "code" may be any length, the card may not.
            lines.append(f"  {code.round + 1}. <code>{clip_escaped(code.code, _CODE_LIMIT)}</code>")
    elif a.live:
        lines.append(t("act-card-no-code"))
    return "\n".join(lines)


def _btn(text: str, action: str, activation_id: int) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=text, callback_data=ActivationCb(action=action, id=activation_id).pack()
    )


def activation_card_keyboard(a: Activation, t: Translate, now: float) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = []
    if a.live:
        if a.status == "waiting" and not a.sms_sent and not a.codes:
            rows.append([_btn(t("act-btn-sms-sent"), "sms", a.id)])
        if a.codes and a.status == "received" and a.can_get_another_sms is not False:
            rows.append([_btn(t("act-btn-another"), "more", a.id)])
        if a.codes:
            rows.append([_btn(t("act-btn-done"), "done", a.id)])
        else:
            if a.cancel_requested:
                label = t("act-btn-cancel-scheduled")
            elif now < a.cancel_allowed_at:
                label = t("act-btn-cancel-in", left=_duration(a.cancel_allowed_at - now, t))
            else:
                label = t("act-btn-cancel")
            rows.append([_btn(label, "cancel", a.id)])
        rows.append(
            [_btn(t("act-btn-refresh"), "refresh", a.id), _btn(t("act-btn-fav"), "fav", a.id)]
        )
    else:
        rows.append([_btn(t("act-btn-again"), "again", a.id), _btn(t("act-btn-fav"), "fav", a.id)])
    rows.append([menu_button(t)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def card_names(
    db: Database, catalog: CatalogService, a: Activation, lang: str
) -> tuple[str, str, str]:
    """(service name, country name in `lang`, flag); the codes and 🌐 when unknown."""
    names = await names_of(db, catalog, a, lang)
    return names.service, names.country, names.flag


async def render_card(
    a: Activation, *, t: Translate, lang: str, db: Database, catalog: CatalogService, now: float
) -> tuple[str, InlineKeyboardMarkup]:
    """THE getter of the activation card: the tap handlers and the tracker's notifier both
    draw it through here, so a card looks the same whoever redraws it."""
    service_name, country_name, flag = await card_names(db, catalog, a, lang)
    text = render_activation_card(
        a, t, now, country_name=country_name, service_name=service_name, flag=flag
    )
    return text, activation_card_keyboard(a, t, now)


async def _edit_card(
    query: CallbackQuery,
    a: Activation,
    *,
    t: Translate,
    lang: str,
    db: Database,
    catalog: CatalogService,
    now: float,
) -> bool:
    """Edit the tapped message into the card; True when the chat now shows it."""
    message = query.message
    if not isinstance(message, Message):
        return False
    text, markup = await render_card(a, t=t, lang=lang, db=db, catalog=catalog, now=now)
    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as error:
        if "not modified" not in str(error):
            log.debug("card edit failed: %s", error)
            return False
    if (a.chat_id, a.message_id) != (message.chat.id, message.message_id):
        # The card the user taps is the one the tracker keeps up to date.
        await db.activations.set_card(a.id, message.chat.id, message.message_id)
    return True


async def _run_status_action(
    action: str, orders: OrderService, user_id: int, activation_id: int, t: Translate, now: float
) -> tuple[Activation, str]:
    """Perform one status button; returns the activation and the tap's short notice."""
    if action == "sms":
        return await orders.mark_sms_sent(user_id, activation_id), t("act-notice-sms-sent")
    if action == "more":
        a = await orders.request_another(user_id, activation_id)
        return a, t("act-notice-checking") if a.pending_change else t("act-notice-another")
    if action == "done":
        return await orders.finish(user_id, activation_id), t("act-notice-done")
    if action == "cancel":
        result = await orders.cancel(user_id, activation_id)
        a = result.activation
        if result.checking:
            return a, t("act-notice-checking")
        if result.scheduled:
            wait = a.cancel_allowed_at - now
            notice = (
                t("act-notice-cancel-scheduled", left=_duration(wait, t))
                if wait > 0
                else t("act-notice-cancel-retry")
            )
            return a, notice
        return a, t("act-notice-cancelled")
    return await orders.refresh(user_id, activation_id), ""


@router.callback_query(ActivationCb.filter())
async def on_activation(
    query: CallbackQuery,
    callback_data: ActivationCb,
    user: User,
    lang: str,
    t: Translate,
    db: Database,
    catalog: CatalogService,
    orders: OrderService,
    clock: Any,
    state: Any = None,
    accounts: Any = None,
    tracker: Any = None,
    settings: Settings | None = None,
) -> None:
    action = callback_data.action
    # Ownership first: a crafted id naming another user's number finds nothing.
    a = await db.activations.get(user.id, callback_data.id)
    if a is None:
        await query.answer(t("act-not-found"), show_alert=True)
        return

    async def redraw(activation: Activation | None) -> bool:
        """The tapped message as this number's card, as of now."""
        if activation is None:  # gone between the read and the tap
            return False
        return await _edit_card(
            query, activation, t=t, lang=lang, db=db, catalog=catalog, now=clock()
        )

    if action == "open":
        await query.answer()
        await redraw(a)
        return
    if action == "fav":
        await db.picks.add_favourite(user.id, a.service, a.country)
        await query.answer(t("act-notice-fav"))
        return
    if action == "again":
        await query.answer()
        from handlers.buy import BuyContext, show_confirm

        ctx = BuyContext(user, lang, t, db, catalog, state=state, accounts=accounts, orders=orders)
        await show_confirm(query, ctx, service=a.service, country=a.country)
        return
    if action not in STATUS_ACTIONS:
        await query.answer(t("act-stale"))
        return
    if not a.live:
        await query.answer(t("act-ended"))
        await redraw(a)
        return
    if action == "cancel" and a.codes:
        # An older card of a number that got its code since: refused here, whichever card.
        await query.answer(t("act-cancel-has-code"), show_alert=True)
        await redraw(a)
        return
    try:
        a, notice = await _run_status_action(action, orders, user.id, a.id, t, clock())
    except CodeReceived:
        # The code arrived while the cancel was on its way: refused, and the card shows it.
        await query.answer(t("act-cancel-has-code"), show_alert=True)
        await redraw(await db.activations.get(user.id, callback_data.id))
        return
    except NotFound:
        # Ended between the read and the tap (or "another code" is not possible any more).
        fresh = await db.activations.get(user.id, callback_data.id)
        await query.answer(t("act-stale"))
        await redraw(fresh)
        return
    except ProviderError as exc:
        await query.answer(error_text(t, exc, user=user, settings=settings)[:200], show_alert=True)
        await redraw(await db.activations.get(user.id, callback_data.id))
        return
    await query.answer(notice)
    shown = await redraw(a)
    if shown:
        # Codes the card now shows have reached the chat: the tracker must not send them again.
        for code in a.codes:
            if not code.delivered:
                await db.activations.mark_code_delivered(a.id, code.round)
    if tracker is not None:
        tracker.wake()
