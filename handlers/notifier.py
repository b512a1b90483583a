"""The Telegram face of the tracker: codes, rental SMS, reminders and ended numbers in the chat.

Implements `bot.tracker.Notifier`. Delivery returns True only when Telegram took the message,
so the tracker marks it delivered only then (and retries on its next pass otherwise).
Telegram errors: RetryAfter is honoured (one wait, one retry); a user who blocked the bot is
marked blocked (the tracker keeps tracking and cancelling their numbers); "message is not
modified" is ignored; a card that cannot be edited any more is sent again and remembered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from html import escape
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.types import InlineKeyboardMarkup, Message

from bot.formatting import (
    MESSAGE_LIMIT,
    clip_escaped,
    format_duration,
    format_money,
    split_escaped,
)
from bot.i18n import Translate, Translator
from bot.provider.factory import ProviderFactory
from bot.rentals import RentalService
from bot.tracker.notifier import Recipient
from handlers.activation import render_card
from handlers.names import names_of
from handlers.rent.presenter import render_rental_card, rental_card_data
from storage.models import (
    Activation,
    ActivationCode,
    KeyProfile,
    PendingPurchase,
    Rental,
    RentalSms,
)

log = logging.getLogger(__name__)

_NAME_TIMEOUT = 2.0  # a slow catalog must not hold a code back: fall back to the raw code
_CODE_LIMIT = 1500  # escaped characters of a code in its message
_SMS_LIMIT = 1800  # escaped characters of the SMS text under a code
_CARD_GONE = ("message to edit not found", "message can't be edited", "message_id_invalid")


def phone_text(phone: str) -> str:
    return phone if phone.startswith("+") else f"+{phone}"


class TelegramNotifier:
    def __init__(
        self,
        bot: Bot,
        db: Any,
        translator: Translator,
        catalog: Any,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        max_retry_after: float = 30.0,
        settings: Any = None,
        rentals: RentalService | None = None,
    ) -> None:
        self.bot = bot
        # The rental card reads its latest SMS through the rentals use case (part R: a test
        # notifier without one gets one on the same database; it never calls a provider).
        self.rentals = rentals or RentalService(db, ProviderFactory())
        self.db = db
        self.translator = translator
        self.catalog = catalog
        self.clock = clock
        self._sleep = sleep
        self._max_retry_after = max_retry_after
        self.settings = settings  # which zone each provider's timestamps are in

    # ------------------------------------------------------------------ activations

    async def code_received(
        self, activation: Activation, code: ActivationCode, to: Recipient | None = None
    ) -> bool:
        lang, t = await self._language(activation.user_id)
        service, _country = await self._names(activation.key_id, activation, lang)
        key = "tracker-code-next" if code.round > 0 else "tracker-code"
        # Cut after escaping: Fluent refuses values over 2,500 characters and Telegram
        # messages over 4,096; the code keeps the larger share.
        text = t(
            key,
            code=clip_escaped(code.code, _CODE_LIMIT),
            service=escape(service),
            phone=escape(phone_text(activation.phone)),
        )
        if code.text and code.text.strip() and code.text.strip() != code.code:
            text += "\n" + t("tracker-code-sms", text=clip_escaped(code.text.strip(), _SMS_LIMIT))
        sent = await self._send(activation.user_id, _chat(activation), text, notify=True)
        if sent is None:
            return False
        await self.activation_changed(activation)
        return True

    async def activation_changed(self, activation: Activation, to: Recipient | None = None) -> None:
        fresh = await self.db.activations.get_any(activation.id) or activation
        await self._show_activation_card(fresh)

    async def activation_ended(
        self, activation: Activation, refunded: bool, to: Recipient | None = None
    ) -> None:
        await self._show_activation_card(activation)
        lang, t = await self._language(activation.user_id)
        service, _country = await self._names(activation.key_id, activation, lang)
        args = {"phone": escape(phone_text(activation.phone)), "service": escape(service)}
        if refunded:
            amount = format_money(activation.cost, activation.currency)
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

    async def activation_adopted(self, activation: Activation, to: Recipient | None = None) -> None:
        """A purchase whose answer was lost went through: the "checking" message (the card's
        message id, set from the intent) becomes the normal number card — price, countdown,
        buttons. Without that message a new card is sent."""
        await self._show_activation_card(activation)

    # ------------------------------------------------------------------ rentals

    async def rental_sms(self, rental: Rental, sms: RentalSms, to: Recipient | None = None) -> bool:
        """The SMS as one message, or, when too long for one, as several that together carry
        every character (a rented number may receive anything). True only when Telegram took
        every part: otherwise the tracker sends it again later."""
        _lang, t = await self._language(rental.user_id)
        phone = escape(phone_text(rental.phone))
        head = t(
            "tracker-rental-sms-head", phone=phone, sender=clip_escaped(sms.phone_from or "?", 200)
        )
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

    async def rental_changed(self, rental: Rental, to: Recipient | None = None) -> None:
        fresh = await self.db.rentals.get_any(rental.id) or rental
        await self._show_rental_card(fresh)

    async def rental_reminder(
        self, rental: Rental, seconds_left: int, to: Recipient | None = None
    ) -> None:
        lang, t = await self._language(rental.user_id)
        service, _country = await self._names(rental.key_id, rental, lang)
        text = t(
            "tracker-rental-reminder",
            phone=escape(phone_text(rental.phone)),
            service=escape(service),
            left=format_duration(seconds_left, lang),
        )
        await self._send(rental.user_id, _chat(rental), text, notify=True)

    async def rental_ended(self, rental: Rental, to: Recipient | None = None) -> None:
        await self._show_rental_card(rental)
        lang, t = await self._language(rental.user_id)
        service, _country = await self._names(rental.key_id, rental, lang)
        text = t(
            "tracker-rental-ended",
            phone=escape(phone_text(rental.phone)),
            service=escape(service),
        )
        await self._send(rental.user_id, _chat(rental), text, notify=False)

    # ------------------------------------------------------------------ keys

    async def key_revoked(self, key: KeyProfile, to: Recipient | None = None) -> None:
        _lang, t = await self._language(key.user_id)
        text = t("tracker-key-revoked", label=escape(key.label))
        await self._send(key.user_id, key.user_id, text, notify=True)

    # ------------------------------------------------------------------ reconciliation

    async def pending_unresolved(
        self, pending: PendingPurchase, to: Recipient | None = None
    ) -> None:
        """A purchase intent closed without a number to show: it provably did not go through
        (outcome "not_bought"), a rent charged but not looked up or not told apart from
        another one rented at the same moment ("bought"), or nobody
        can tell ("unknown"). The result replaces the "checking" message when there is one."""
        lang, t = await self._language(pending.user_id)
        service, country = await self._names(pending.key_id, pending, lang)
        args = {"service": escape(service), "country": escape(country)}
        if pending.outcome == "not_bought":
            if pending.kind == "extend":
                text = t("tracker-not-extended", phone=escape(await self._rental_phone(pending)))
            elif pending.kind == "rent":
                text = t("tracker-not-rented", **args)
            else:
                text = t("tracker-not-bought", **args)
        elif pending.outcome == "bought":
            amount = format_money(pending.expected_cost, await self._currency(pending.key_id))
            # With a snapshot the provider lists rentals: the number was not told apart.
            unlisted = pending.rent_snapshot is None
            message = (
                "tracker-rent-charged-unlisted" if unlisted else "tracker-rent-charged-unmatched"
            )
            text = t(message, amount=escape(amount), **args)
        elif pending.kind == "activation":
            text = t("tracker-pending", **args)
        else:
            text = t("tracker-pending-rental", **args)
        chat_id = pending.chat_id if pending.chat_id is not None else pending.user_id
        if pending.message_id is not None:
            outcome = await self._edit(pending.user_id, chat_id, pending.message_id, text, None)
            if outcome == "ok":
                return
        await self._send(pending.user_id, chat_id, text, notify=True)

    async def _rental_phone(self, pending: PendingPurchase) -> str:
        rental = None
        if pending.rental_id is not None:
            rental = await self.db.rentals.get_any(pending.rental_id)
        return phone_text(rental.phone) if rental is not None else "?"

    async def _currency(self, key_id: int) -> str | None:
        key = await self.db.keys.get_any(key_id)
        return key.currency if key is not None else None

    # ------------------------------------------------------------------ cards

    async def _activation_view(self, a: Activation) -> tuple[str, InlineKeyboardMarkup | None]:
        lang, t = await self._language(a.user_id)
        return await render_card(
            a, t=t, lang=lang, db=self.db, catalog=self.catalog, now=self.clock()
        )

    async def _show_activation_card(self, a: Activation) -> None:
        text, markup = await self._activation_view(a)
        await self._show_card(a.user_id, a.chat_id, a.message_id, text, markup, a, "activation")

    async def _send_activation_card(self, a: Activation) -> None:
        text, markup = await self._activation_view(a)
        await self._show_card(a.user_id, a.chat_id, None, text, markup, a, "activation")

    async def _rental_view(self, r: Rental) -> tuple[str, InlineKeyboardMarkup | None]:
        lang, t = await self._language(r.user_id)
        # Part R's presenter. Part A's notifier takes the Recipient from the tracker's event.
        owner = await self.db.users.get(r.user_id)
        to = Recipient(user=owner, key=await self.db.keys.get_any(r.key_id))
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

    async def _show_rental_card(self, r: Rental) -> None:
        text, markup = await self._rental_view(r)
        await self._show_card(r.user_id, r.chat_id, r.message_id, text, markup, r, "rental")

    async def resend_cards(self, user_id: int) -> None:
        """A user who had blocked the bot is back: a fresh card for each live number, at the
        bottom of the chat, remembered so that later changes edit it."""
        for activation in await self.db.activations.list_live(user_id):
            await self._send_activation_card(activation)
        for rental in await self.db.rentals.list_live(user_id):
            text, markup = await self._rental_view(rental)
            await self._show_card(user_id, rental.chat_id, None, text, markup, rental, "rental")

    async def _show_card(
        self,
        user_id: int,
        chat_id: int | None,
        message_id: int | None,
        text: str,
        markup: InlineKeyboardMarkup | None,
        owner: Activation | Rental,
        kind: str,
    ) -> None:
        """Edit the card in place; when there is none (or it is gone) send a new one and
        remember its message id."""
        chat = chat_id if chat_id is not None else user_id
        if message_id is not None:
            outcome = await self._edit(user_id, chat, message_id, text, markup)
            if outcome != "gone":
                return
        sent = await self._send(user_id, chat, text, markup, notify=False)
        if sent is None:
            return
        if kind == "activation":
            await self.db.activations.set_card(owner.id, chat, sent.message_id)
        else:
            await self.db.rentals.set_card(owner.id, chat, sent.message_id)
        owner.chat_id, owner.message_id = chat, sent.message_id

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
                await self._mark_blocked(user_id)
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
    ) -> str:
        """ "ok", "gone" (send a new card) or "failed" (leave it)."""
        for attempt in range(2):
            try:
                await self.bot.edit_message_text(
                    text=text, chat_id=chat_id, message_id=message_id, reply_markup=markup
                )
                return "ok"
            except TelegramRetryAfter as error:
                if attempt > 0 or error.retry_after > self._max_retry_after:
                    return "failed"
                await self._sleep(error.retry_after)
            except TelegramForbiddenError:
                await self._mark_blocked(user_id)
                return "failed"
            except TelegramBadRequest as error:
                message = str(error.message).lower()
                if "message is not modified" in message:
                    return "ok"
                if any(marker in message for marker in _CARD_GONE):
                    return "gone"
                log.warning("notifier: editMessageText refused: %s", error.message)
                return "failed"
            except TelegramAPIError as error:
                log.warning("notifier: editMessageText failed: %s", type(error).__name__)
                return "failed"
        return "failed"

    async def _mark_blocked(self, user_id: int) -> None:
        log.info("notifier: user %s blocked the bot; their numbers stay tracked", user_id)
        await self.db.users.set_blocked(user_id, True)

    # ------------------------------------------------------------------ language and names

    async def _language(self, user_id: int) -> tuple[str, Translate]:
        user = await self.db.users.get(user_id)
        lang = (user.language if user is not None else None) or "en"
        if lang not in self.translator.languages:
            lang = "en"
        return lang, self.translator.bind(lang)

    async def _names(self, key_id: int, item: Any, lang: str) -> tuple[str, str]:
        """(service name, country name) in the user's language; raw codes when unknown."""
        names = await names_of(self.db, self.catalog, item, lang)
        return names.service, names.country


def _chat(item: Activation | Rental) -> int:
    return item.chat_id if item.chat_id is not None else item.user_id
