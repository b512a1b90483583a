"""The Telegram face of the tracker: codes, rental SMS, reminders and ended numbers in the chat.

Implements `bot.tracker.notifier.Notifier`. Every event names its `Recipient` (the owner and
the key, as the tracker holds them) and hands over the stored row as it is after the change,
so nothing is read again here: the language comes from `to.user`, the names from `to.key`.
Cards are drawn by the card presenters, the same the tap handlers use.

Delivery returns True only when Telegram took the message, so the tracker marks it delivered
only then (and retries on its next pass otherwise). Telegram errors: RetryAfter is honoured
(one wait, one retry); a user who blocked the bot is reported through `on_blocked` (the tracker
keeps tracking and cancelling their numbers); "message is not modified" is no error; a card
that cannot be edited any more is sent again and remembered through the use case.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from html import escape

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.types import InlineKeyboardMarkup, Message

from bot.catalog import CatalogService
from bot.config import Settings
from bot.errors import UseCaseError
from bot.formatting import (
    MESSAGE_LIMIT,
    clip_escaped,
    format_money,
    format_time,
    split_escaped,
    user_timezone,
)
from bot.i18n import Translate, Translator
from bot.orders import OrderService
from bot.rentals import RentalService
from bot.tracker.notifier import Recipient
from handlers.activation.presenter import activation_card_data, render_activation_card
from handlers.common import is_not_modified
from handlers.live_card import retire_card
from handlers.names import names_for
from handlers.outcome import outcome_data, phone_text, render_outcome
from handlers.rent.presenter import render_rental_card, rental_card_data
from handlers.rent.views import code_line
from storage.models import (
    Activation,
    ActivationCode,
    KeyProfile,
    PendingPurchase,
    Rental,
    RentalSms,
)

log = logging.getLogger(__name__)

CODE_LIMIT = 1500  # escaped characters of a code in its message
SMS_LIMIT = 1800  # escaped characters of the SMS text under a code
CARD_GONE = ("message to edit not found", "message can't be edited", "message_id_invalid")

OnBlocked = Callable[[int], Awaitable[None]]  # the user (id) blocked the bot


class Edit(StrEnum):
    OK = "ok"  # the chat shows the text (edited, or it already did)
    GONE = "gone"  # the message cannot be edited any more: send a new one
    FAILED = "failed"  # leave it (a later change edits it again)


class TelegramNotifier:
    def __init__(
        self,
        bot: Bot,
        translator: Translator,
        catalog: CatalogService | None,
        *,
        orders: OrderService,
        rentals: RentalService,
        on_blocked: OnBlocked,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_retry_after: float = 30.0,
        settings: Settings | None = None,
    ) -> None:
        self.bot = bot
        self.translator = translator
        self.catalog = catalog
        self.orders = orders
        self.rentals = rentals
        self.clock = clock
        self._on_blocked = on_blocked
        self._sleep = sleep
        self._max_retry_after = max_retry_after
        self.settings = settings  # which zone each provider's timestamps are in

    # ------------------------------------------------------------------ activations

    async def code_received(
        self, activation: Activation, code: ActivationCode, to: Recipient
    ) -> bool:
        lang, t = self._language(to)
        names = await names_for(self.catalog, to.key, lang, activation.service, activation.country)
        key = "tracker-code-next" if code.round > 0 else "tracker-code"
        # Cut after escaping: Fluent refuses values over 2,500 characters and Telegram
        # messages over 4,096; the code keeps the larger share.
        text = t(
            key,
            code=clip_escaped(code.code, CODE_LIMIT),
            service=escape(names.service),
            phone=escape(phone_text(activation.phone)),
        )
        if code.text and code.text.strip() and code.text.strip() != code.code:
            text += "\n" + t("tracker-code-sms", text=clip_escaped(code.text.strip(), SMS_LIMIT))
        sent = await self._send(activation.user_id, _chat(activation), text, notify=True)
        if sent is None:
            return False
        await self._show_activation_card(activation, to)
        return True

    async def activation_changed(self, activation: Activation, to: Recipient) -> None:
        await self._show_activation_card(activation, to)

    async def activation_ended(self, activation: Activation, refunded: bool, to: Recipient) -> None:
        await self._show_activation_card(activation, to)
        lang, t = self._language(to)
        names = await names_for(self.catalog, to.key, lang, activation.service, activation.country)
        args = {"phone": escape(phone_text(activation.phone)), "service": escape(names.service)}
        if refunded:
            amount = format_money(activation.cost, activation.currency, lang=lang)
            key = (
                "tracker-expired-refunded"
                if activation.status == "expired"
                else "tracker-cancelled-refunded"
            )
            text = t(key, amount=escape(amount), **args)
        elif activation.status == "finished":
            text = t("tracker-finished", **args)
        else:
            text = t("tracker-cancelled", **args)
        await self._send(activation.user_id, _chat(activation), text, notify=refunded)

    async def activation_adopted(self, activation: Activation, to: Recipient) -> None:
        """A purchase whose answer was lost went through: the "checking" message (the card's
        message id, set from the intent) becomes the normal number card — price, countdown,
        buttons. Without that message a new card is sent."""
        await self._show_activation_card(activation, to)

    # ------------------------------------------------------------------ rentals

    async def rental_sms(self, rental: Rental, sms: RentalSms, to: Recipient) -> bool:
        """The SMS as one message, or, when too long for one, as several that together carry
        every character (a rented number may receive anything). True only when Telegram took
        every part: otherwise the tracker sends it again later."""
        _lang, t = self._language(to)
        phone = escape(phone_text(rental.phone))
        head = t(
            "tracker-rental-sms-head", phone=phone, sender=clip_escaped(sms.phone_from or "?", 200)
        )
        code = code_line(t, sms.text)  # tap-to-copy; the whole text follows
        if code:
            head += "\n" + code
        more = t("tracker-rental-sms-more", phone=phone, part="99", parts="99")
        room = MESSAGE_LIMIT - max(len(head), len(more)) - 1
        pieces = split_escaped(sms.text, room)
        for number, piece in enumerate(pieces, start=1):
            if number > 1:
                head = t(
                    "tracker-rental-sms-more", phone=phone, part=str(number), parts=str(len(pieces))
                )
            sent = await self._send(
                rental.user_id, _chat(rental), f"{head}\n{piece}", notify=number == 1
            )
            if sent is None:
                return False
        return True

    async def rental_changed(self, rental: Rental, to: Recipient) -> None:
        await self._show_rental_card(rental, to)

    async def rental_reminder(self, rental: Rental, seconds_left: int, to: Recipient) -> None:
        """The end as a moment in the owner's zone: the message stays true as it sits there."""
        lang, t = self._language(to)
        names = await names_for(self.catalog, to.key, lang, rental.service, rental.country)
        tz = user_timezone(to.user.timezone if to.user is not None else None)
        text = t(
            "rent-reminder",
            phone=escape(phone_text(rental.phone)),
            service=escape(names.service),
            at=format_time(rental.ends_at, tz),
        )
        await self._send(rental.user_id, _chat(rental), text, notify=True)

    async def rental_ended(self, rental: Rental, to: Recipient) -> None:
        await self._show_rental_card(rental, to)
        lang, t = self._language(to)
        names = await names_for(self.catalog, to.key, lang, rental.service, rental.country)
        text = t(
            "tracker-rental-ended",
            phone=escape(phone_text(rental.phone)),
            service=escape(names.service),
        )
        await self._send(rental.user_id, _chat(rental), text, notify=False)

    # ------------------------------------------------------------------ keys

    async def key_revoked(self, key: KeyProfile, to: Recipient) -> None:
        _lang, t = self._language(to)
        text = t("tracker-key-revoked", label=escape(key.label))
        await self._send(key.user_id, key.user_id, text, notify=True)

    # ------------------------------------------------------------------ reconciliation

    async def pending_unresolved(self, pending: PendingPurchase, to: Recipient) -> None:
        """A purchase intent closed without a number to show: the unknown-outcome presenter
        says what happened, replacing the "checking" message when there is one."""
        lang, t = self._language(to)
        data = await outcome_data(
            pending,
            to,
            lang=lang,
            catalog=self.catalog,
            rental_phone=await self._rental_phone(pending),
        )
        text = render_outcome(data, t)
        chat_id = pending.chat_id if pending.chat_id is not None else pending.user_id
        if pending.message_id is not None:
            outcome = await self._edit(pending.user_id, chat_id, pending.message_id, text, None)
            if outcome is Edit.OK:
                return
        await self._send(pending.user_id, chat_id, text, notify=True)

    async def _rental_phone(self, pending: PendingPurchase) -> str | None:
        """The phone of the rental an extension was for (extensions only)."""
        if pending.rental_id is None:
            return None
        try:
            return (await self.rentals.get(pending.user_id, pending.rental_id)).phone
        except UseCaseError:
            return None

    # ------------------------------------------------------------------ cards

    async def _activation_view(
        self, a: Activation, to: Recipient
    ) -> tuple[str, InlineKeyboardMarkup]:
        lang, t = self._language(to)
        data = await activation_card_data(
            a, to, lang=lang, catalog=self.catalog, orders=self.orders, now=self.clock()
        )
        return render_activation_card(data, t)

    async def _show_activation_card(self, a: Activation, to: Recipient) -> None:
        text, markup = await self._activation_view(a, to)
        message_id = await self._show_card(a.user_id, a.chat_id, a.message_id, text, markup)
        if message_id is not None:
            await self.orders.card_shown(a.id, _chat(a), message_id)
            a.chat_id, a.message_id = _chat(a), message_id

    async def _rental_view(self, r: Rental, to: Recipient) -> tuple[str, InlineKeyboardMarkup]:
        lang, t = self._language(to)
        data = await rental_card_data(
            r,
            to,
            lang=lang,
            rentals=self.rentals,
            catalog=self.catalog,
            settings=self.settings,
            now=self.clock(),
        )
        return render_rental_card(data, t)

    async def _show_rental_card(self, r: Rental, to: Recipient, *, anew: bool = False) -> None:
        text, markup = await self._rental_view(r, to)
        message_id = None if anew else r.message_id
        shown = await self._show_card(r.user_id, r.chat_id, message_id, text, markup)
        if shown is not None:
            await self.rentals.card_shown(r.id, _chat(r), shown)
            r.chat_id, r.message_id = _chat(r), shown

    async def resend_cards(self, user_id: int) -> None:
        """A user who had blocked the bot is back: a fresh card for each live number, at the
        bottom of the chat, remembered so that later changes edit it."""
        user = await self.orders.owner(user_id)
        for activation in await self.orders.live(user_id):
            to = Recipient(user=user, key=await self.orders.key_of(activation))
            text, markup = await self._activation_view(activation, to)
            sent = await self._show_card(user_id, activation.chat_id, None, text, markup)
            if sent is not None:
                await self.orders.card_shown(activation.id, _chat(activation), sent)
                # One live card per number: the one left above turns into a stub.
                _lang, t = self._language(to)
                await retire_card(self.bot, _chat(activation), activation.message_id, sent, t)
        for rental in await self.rentals.live_rentals(user_id):
            key = await self.rentals.key_of(user_id, rental)
            await self._show_rental_card(rental, Recipient(user=user, key=key), anew=True)

    async def _show_card(
        self,
        user_id: int,
        chat_id: int | None,
        message_id: int | None,
        text: str,
        markup: InlineKeyboardMarkup | None,
    ) -> int | None:
        """Edit the card in place; when there is none (or it is gone) send a new one. Returns
        the id of a NEW message (the caller remembers it), None when the card stayed put or
        could not be sent."""
        chat = chat_id if chat_id is not None else user_id
        if message_id is not None:
            outcome = await self._edit(user_id, chat, message_id, text, markup)
            if outcome is not Edit.GONE:
                return None
        sent = await self._send(user_id, chat, text, markup, notify=False)
        return sent.message_id if sent is not None else None

    # ------------------------------------------------------------------ Telegram calls

    async def _send(
        self,
        user_id: int,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
        *,
        notify: bool,
    ) -> Message | None:
        for attempt in range(2):
            try:
                return await self.bot.send_message(
                    chat_id, text, reply_markup=markup, disable_notification=not notify
                )
            except TelegramRetryAfter as error:
                if attempt > 0 or error.retry_after > self._max_retry_after:
                    return None  # not delivered: the tracker retries on a later pass
                await self._sleep(error.retry_after)
            except TelegramForbiddenError:
                await self._blocked(user_id)
                return None
            except TelegramAPIError as error:
                log.warning("notifier: sendMessage failed: %s", type(error).__name__)
                return None
        return None

    async def _edit(
        self,
        user_id: int,
        chat_id: int,
        message_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None,
    ) -> Edit:
        for attempt in range(2):
            try:
                await self.bot.edit_message_text(
                    text=text, chat_id=chat_id, message_id=message_id, reply_markup=markup
                )
                return Edit.OK
            except TelegramRetryAfter as error:
                if attempt > 0 or error.retry_after > self._max_retry_after:
                    return Edit.FAILED
                await self._sleep(error.retry_after)
            except TelegramForbiddenError:
                await self._blocked(user_id)
                return Edit.FAILED
            except TelegramBadRequest as error:
                if is_not_modified(error):
                    return Edit.OK
                if any(marker in str(error.message).lower() for marker in CARD_GONE):
                    return Edit.GONE
                log.warning("notifier: editMessageText refused: %s", error.message)
                return Edit.FAILED
            except TelegramAPIError as error:
                log.warning("notifier: editMessageText failed: %s", type(error).__name__)
                return Edit.FAILED
        return Edit.FAILED

    async def _blocked(self, user_id: int) -> None:
        log.info("notifier: user %s blocked the bot; their numbers stay tracked", user_id)
        await self._on_blocked(user_id)

    # ------------------------------------------------------------------ language

    def _language(self, to: Recipient) -> tuple[str, Translate]:
        lang = (to.user.language if to.user is not None else None) or "en"
        if lang not in self.translator.languages:
            lang = "en"
        return lang, self.translator.bind(lang)


def _chat(item: Activation | Rental) -> int:
    return item.chat_id if item.chat_id is not None else item.user_id
