"""THE activation card: the data it shows (gathered once) and its rendering.

Every path that draws a number's card (a tap on it, the first card after a purchase, the
tracker's notifier editing it as the number moves on, a returning user's resent cards) calls
`activation_card_data` then `render_activation_card`, so a card looks the same whoever draws it.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from datetime import UTC, tzinfo
from enum import StrEnum

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.catalog import CatalogService
from bot.formatting import clip_escaped, format_clock, format_duration, format_money, user_timezone
from bot.i18n import Translate
from bot.orders import OrderService
from bot.replace import TOLD
from bot.tracker.notifier import Recipient
from handlers.activation.callbacks import ActivationAction, ActivationCb
from handlers.common import MenuAction, MenuCb, menu_button
from handlers.names import Names, names_for
from storage.chains import CHAIN_ACTIVE, CHAIN_ENDED, CardMarks, ReplaceStep
from storage.models import Activation

CODE_LIMIT = 300  # escaped characters of one code on the card (a card holds every round)


class CancelButton(StrEnum):
    OPEN = "open"
    LOCKED = "locked"  # the provider's early-cancel lock: the label says how long
    SCHEDULED = "scheduled"  # the tracker cancels when the lock opens


@dataclass(frozen=True, slots=True)
class CardButtons:
    """Which buttons the card has; the favourite, main-menu buttons are always there."""

    sms_sent: bool = False
    another: bool = False
    done: bool = False
    cancel: CancelButton | None = None
    refresh: bool = False
    again: bool = False
    stop_replace: bool = False  # the number's auto-replace chain can be stopped


@dataclass(frozen=True, slots=True)
class ActivationCardData:
    activation: Activation
    names: Names
    lang: str  # durations and money are written in it
    currency: str | None  # the number's own, else its key's
    now: float
    buttons: CardButtons
    tz: tzinfo = UTC  # the owner's zone: deadlines are shown as wall-clock times in it
    starred: bool = False  # the (service, country) is one of the owner's favourites
    step: ReplaceStep | None = None  # its auto-replace chain: "attempt 2 of 3"


def card_buttons(a: Activation, now: float, step: ReplaceStep | None = None) -> CardButtons:
    """The buttons of a number's card as of `now` (a number with a code has no Cancel)."""
    if not a.live:
        return CardButtons(again=True)
    stop_replace = (
        step is not None and step.chain.state == CHAIN_ACTIVE and step.current and not a.codes
    )
    cancel: CancelButton | None = None
    if not a.codes:
        if a.cancel_requested:
            cancel = CancelButton.SCHEDULED
        elif now < a.cancel_allowed_at:
            cancel = CancelButton.LOCKED
        else:
            cancel = CancelButton.OPEN
    return CardButtons(
        sms_sent=a.status == "waiting" and not a.sms_sent and not a.codes,
        another=bool(a.codes) and a.status == "received" and a.can_get_another_sms is not False,
        done=bool(a.codes),
        cancel=cancel,
        refresh=True,
        stop_replace=stop_replace,
    )


def card_data(
    activation: Activation,
    names: Names,
    *,
    lang: str,
    now: float,
    currency: str | None = None,
    tz: tzinfo = UTC,
    starred: bool = False,
    step: ReplaceStep | None = None,
) -> ActivationCardData:
    """The card's data from what is already known (no reads)."""
    return ActivationCardData(
        activation=activation,
        names=names,
        lang=lang,
        currency=activation.currency or currency,
        now=now,
        buttons=card_buttons(activation, now, step),
        tz=tz,
        starred=starred,
        step=step,
    )


async def activation_card_data(
    activation: Activation,
    to: Recipient,
    *,
    lang: str,
    catalog: CatalogService | None,
    orders: OrderService,
    now: float,
    marks: CardMarks | None = None,
) -> ActivationCardData:
    """Gather what the card of `activation` shows for its owner `to` (names by their key,
    times in their zone, whether its pick is a favourite). `marks`: read already with the
    number (`OrderService.get_for_card`), else read here."""
    names = await names_for(catalog, to.key, lang, activation.service, activation.country)
    currency = to.key.currency if to.key is not None else None
    tz = user_timezone(to.user.timezone if to.user is not None else None)
    if marks is None:
        marks = await orders.card_marks(activation)
    return card_data(
        activation,
        names,
        lang=lang,
        now=now,
        currency=currency,
        tz=tz,
        starred=marks.starred,
        step=marks.step,
    )


def render_activation_card(
    data: ActivationCardData, t: Translate
) -> tuple[str, InlineKeyboardMarkup]:
    return card_text(data, t), card_keyboard(data, t)


def _at(data: ActivationCardData, moment: float) -> str:
    """A deadline as the owner's wall-clock time: true however long the card stays as it is."""
    return format_clock(moment, data.tz, now=data.now)


def _about(data: ActivationCardData, seconds: float) -> str:
    """The relative hint next to a deadline, in whole minutes (rounded up): it is only as
    fresh as the card's last edit, so it claims no seconds."""
    return format_duration(math.ceil(max(0.0, seconds) / 60) * 60, data.lang)


def _status_line(a: Activation, t: Translate) -> str:
    if a.status == "waiting":
        return t("act-status-waiting-sent") if a.sms_sent else t("act-status-waiting")
    return t(f"act-status-{a.status}")


def card_text(data: ActivationCardData, t: Translate) -> str:
    """The card's text (HTML)."""
    a, now = data.activation, data.now
    lines = [
        t(
            "act-card-title",
            service=html.escape(data.names.service),
            flag=data.names.flag,
            country=html.escape(data.names.country),
        ),
        t("act-card-number", phone=f"<code>+{html.escape(a.phone)}</code>"),
        t(
            "act-card-price",
            price=html.escape(format_money(a.cost, data.currency, lang=data.lang)),
        ),
        t("act-card-status", status=_status_line(a, t)),
    ]
    if a.live:
        until, left = _at(data, a.ends_at), _about(data, a.ends_at - now)
        lines.append(t("act-card-until", until=until, left=left))
        if a.pending_change is not None:
            lines.append(t("act-card-checking"))
        elif a.cancel_requested and not a.codes:  # a number with a code is never cancelled
            lines.append(
                t("act-card-cancel-scheduled-at", at=_at(data, a.cancel_allowed_at))
                if a.cancel_allowed_at > now
                else t("act-card-cancelling")
            )
        elif not a.codes and now < a.cancel_allowed_at:
            lines.append(t("act-card-cancel-from", at=_at(data, a.cancel_allowed_at)))
    if a.codes:
        lines.append(t("act-card-codes"))
        for code in sorted(a.codes, key=lambda c: c.round):
            # Cut after escaping: a provider's "code" may be any length, the card may not.
            lines.append(f"  {code.round + 1}. <code>{clip_escaped(code.code, CODE_LIMIT)}</code>")
    elif a.live:
        lines.append(t("act-card-no-code"))
    if data.step is not None:
        lines.append(replace_line(data, data.step, t))
    return "\n".join(lines)


def replace_line(data: ActivationCardData, step: ReplaceStep, t: Translate) -> str:
    """🔁 "attempt 2 of 3", and what the chain does next (or why it stopped on this number)."""
    chain, a = step.chain, data.activation
    attempt = t("replace-card-attempt", attempt=str(step.attempt), attempts=str(chain.attempts_max))
    if not step.current:
        return attempt  # a later number replaced this one
    if chain.state == CHAIN_ACTIVE and a.live and not a.codes:
        silent_at = a.created_at + chain.after
        if silent_at > data.now:
            return attempt + "\n" + t("replace-card-next-at", at=_at(data, silent_at))
        return attempt
    if chain.state == CHAIN_ENDED and chain.reason in TOLD:
        return attempt + "\n" + t(reason_message(chain.reason))
    return attempt


def reason_message(reason: str) -> str:
    """The message id saying why a chain ended (`reason` is one of bot.replace.TOLD)."""
    return "replace-reason-" + reason.lower().replace("_", "-")


def _button(text: str, action: ActivationAction, activation_id: int) -> InlineKeyboardButton:
    data = ActivationCb(action=action, id=activation_id)
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def _cancel_label(data: ActivationCardData, t: Translate, state: CancelButton) -> str:
    if state is CancelButton.SCHEDULED:
        return t("act-btn-cancel-scheduled")
    if state is CancelButton.LOCKED:
        return t("act-btn-cancel-from", at=_at(data, data.activation.cancel_allowed_at))
    return t("act-btn-cancel")


def card_keyboard(data: ActivationCardData, t: Translate) -> InlineKeyboardMarkup:
    buttons, number = data.buttons, data.activation.id
    star = t("act-btn-fav-on") if data.starred else t("act-btn-fav-add")
    favourite = _button(star, ActivationAction.FAVOURITE, number)
    rows: list[list[InlineKeyboardButton]] = []
    if buttons.sms_sent:
        rows.append([_button(t("act-btn-sms-sent"), ActivationAction.SMS_SENT, number)])
    if buttons.another:
        rows.append([_button(t("act-btn-another"), ActivationAction.ANOTHER, number)])
    if buttons.done:
        rows.append([_button(t("act-btn-done"), ActivationAction.DONE, number)])
    if buttons.cancel is not None:
        label = _cancel_label(data, t, buttons.cancel)
        rows.append([_button(label, ActivationAction.CANCEL, number)])
    if buttons.stop_replace:
        rows.append([_button(t("replace-btn-stop"), ActivationAction.STOP_REPLACE, number)])
    if buttons.refresh:
        rows.append([_button(t("act-btn-refresh"), ActivationAction.REFRESH, number), favourite])
    if buttons.again:
        rows.append([_button(t("act-btn-again"), ActivationAction.AGAIN, number), favourite])
    # Both open a new message below (see handlers.common.show): the card stays in the chat.
    my_numbers = MenuCb(action=MenuAction.NUMBERS).pack()
    rows.append(
        [InlineKeyboardButton(text=t("btn-numbers-live"), callback_data=my_numbers), menu_button(t)]
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)
