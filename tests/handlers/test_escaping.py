"""Every value a user or a provider controls is escaped before it reaches an HTML message.

Markup is fed as every such value (service and country names, phone, SMS text and sender, codes,
key label) through every view of the cards, the rent flow and the tracker's messages; each text
the bot sends must be well-formed Telegram HTML in which the markup shows as text.
"""

from __future__ import annotations

import re
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import pytest
from aiogram.methods import EditMessageText, SendMessage

from bot.provider.models import Country, RentHistoryItem, Service
from bot.rentals import RentOption, SmsPage
from bot.tracker.notifier import Recipient
from handlers.activation.presenter import card_data, card_text
from handlers.common import MenuCb
from handlers.names import Names
from handlers.rent import views
from handlers.rent.callbacks import RentalCb, RentFlowCb
from handlers.rent.presenter import RentalCardData, render_rental_card
from storage.models import Activation, ActivationCode, Rental, RentalSms
from tests.harness import ChatMessage

HOSTILE = "<i>x</i>&amp<b>\"'"
USER = 111

# Telegram's HTML: these tags only, every `&` starting an entity.
_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
    "blockquote", "tg-spoiler", "span", "tg-emoji",
}  # fmt: skip
_ENTITY = re.compile(r"&(?:amp|lt|gt|quot|#\d+|#x[0-9a-fA-F]+);")


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.open: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        assert tag in _TAGS, f"tag <{tag}> is not Telegram HTML"
        self.open.append(tag)
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes nothing"
        self.open.pop()


def assert_safe_html(text: str) -> None:
    """Well-formed Telegram HTML where the hostile value is shown, never interpreted."""
    checker = _Checker()
    checker.feed(text)
    checker.close()
    assert not checker.open, f"unclosed tags {checker.open} in {text!r}"
    assert "i" not in checker.tags, f"markup from a value was interpreted: {text!r}"
    for match in re.finditer("&", text):
        assert _ENTITY.match(text, match.start()), f"a bare & in {text!r}"
    assert "{???}" not in text
    assert len(text) <= 4096


def _t(lang: str = "en") -> Any:
    from bot.i18n import Translator

    return Translator().bind(lang)


def _rental(**changes: Any) -> Rental:
    fields: dict[str, Any] = dict(
        id=1, user_id=USER, key_id=1, provider_id="9", service="tg", country="6",
        phone=HOSTILE, hours=4, cost=Decimal("8"), status="active", created_at=1000.0,
        ends_at=1000.0 + 4 * 3600, chat_id=USER, message_id=None,
        reminders_sent=frozenset(), next_poll_at=0.0, ended_at=None,
    )  # fmt: skip
    fields.update(changes)
    return Rental(**fields)


def _sms() -> RentalSms:
    return RentalSms(1, 1, "k", HOSTILE, HOSTILE, HOSTILE, 1000.0, False)


def _rental_card(r: Rental, t: Any, lang: str, now: float, sms: RentalSms | None) -> str:
    from datetime import UTC

    data = RentalCardData(
        rental=r, names=Names(HOSTILE, HOSTILE, HOSTILE), lang=lang, tz=UTC, provider_tz=UTC,
        currency=HOSTILE, latest_sms=sms, now=now, can_cancel=True,
    )  # fmt: skip
    return render_rental_card(data, t)[0]


@pytest.mark.parametrize("lang", ["en", "ru", "zh"])
def test_every_rent_view_escapes(lang: str) -> None:
    t = _t(lang)
    option = RentOption(4, Decimal("8"), 3)
    from datetime import UTC

    texts = [
        _rental_card(_rental(), t, lang, 1000.0, _sms()),
        _rental_card(_rental(status="finished", ended_at=2000.0), t, lang, 3000.0, None),
        views.render_countries(t, HOSTILE),
        views.render_durations(t, HOSTILE, HOSTILE),
        views.render_confirm(
            t, service_name=HOSTILE, country_name=HOSTILE, option=option,
            balance=Decimal("1"), currency=HOSTILE, lang=lang,
        ),
        views.render_extend_confirm(
            t, _rental(), option, Decimal("1"), HOSTILE, lang=lang, tz=UTC
        ),
        views.render_sms_page(t, _rental(), SmsPage([_sms()], 1, 0, 1), UTC, UTC),
        views.render_history(
            t, _rental(),
            [RentHistoryItem(date=HOSTILE, price=Decimal("1"), hours=4)],
            0, 1, lang=lang, tz=UTC, provider_tz=UTC, currency=HOSTILE,
        ),
        views.render_no_countries(t, HOSTILE),
        views.render_extend_choose(t, _rental()),
        views.render_finish_confirm(t, _rental()),
        views.render_cancel_confirm(t, _rental()),
    ]  # fmt: skip
    for text in texts:
        assert_safe_html(text)


@pytest.mark.parametrize("lang", ["en", "ru", "zh"])
def test_activation_card_escapes(lang: str) -> None:
    a = Activation(
        1, USER, 1, "9", "tg", "0", HOSTILE, Decimal("1"), HOSTILE, "received", False, 0,
        [ActivationCode(0, HOSTILE, HOSTILE, 1000.0, False)], 1000.0, 2200.0, 1120.0, False,
        None, USER, None, 0.0, None, False,
    )  # fmt: skip
    names = Names(HOSTILE, HOSTILE, "🌐")
    text = card_text(card_data(a, names, lang=lang, now=1000.0), _t(lang))
    assert_safe_html(text)


class _HostileCatalog:
    """A provider whose every service and country name is markup."""

    async def services(self, key: Any, lang: str) -> list[Service]:
        return [Service("tg", HOSTILE), Service("wa", HOSTILE + "2")]

    async def service_names(self, key: Any, lang: str) -> dict[str, str]:
        return {s.code: s.name for s in await self.services(key, lang)}

    async def countries(self, key: Any) -> dict[str, Country]:
        return {
            cid: Country(cid, {"eng": HOSTILE, "rus": HOSTILE, "chn": HOSTILE})
            for cid in ("0", "6")
        }


def _screen(chat: Any) -> ChatMessage:
    message_id = chat.session.next_message_id()
    shown = ChatMessage(message_id, chat.chat_id, "menu", True)
    chat.session.messages[(chat.chat_id, message_id)] = shown
    return shown


async def _settled(taken: bool) -> None:
    """A delivery's settle (the tracker would mark it delivered)."""


def _all_html(chat: Any) -> list[str]:
    return [m.text for m in chat.session.requests if isinstance(m, SendMessage | EditMessageText)]


async def test_rent_flow_and_card_screens_escape(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str, clock: Any, tracker: Any
) -> None:
    services.catalog = _HostileCatalog()
    chat.dp.workflow_data["catalog"] = services.catalog
    tracker.notifier.catalog = services.catalog
    await services.db.users.get_or_create(USER, "en")
    key = await services.db.keys.add(USER, label=HOSTILE, base_url=sandbox.url, api_key=sandbox_key)
    await chat.tap_data(MenuCb(action="rent").pack(), _screen(chat))
    await chat.tap_data(RentFlowCb(action="cty", service="tg").pack())
    await chat.tap_data(RentFlowCb(action="dur", service="tg", country="6").pack())
    await chat.tap_data(RentFlowCb(action="cfm", service="tg", country="6", hours=4).pack())
    # no country rents this service: the screen names the service
    await chat.tap_data(RentFlowCb(action="cty", service="nope").pack())

    r = await services.db.rentals.add(
        user_id=USER, key_id=key.id, provider_id="1", service="tg", country="6",
        phone=HOSTILE, hours=4, cost=Decimal("8"), created_at=clock(),
        ends_at=clock() + 4 * 3600, chat_id=USER,
    )  # fmt: skip
    sms = await services.db.rentals.add_sms(
        r.id, dedup_key="k", phone_from=HOSTILE, text=HOSTILE, date=HOSTILE, received_at=clock()
    )
    card = _screen(chat)
    for action in ("open", "fin", "open", "hist", "open"):
        await chat.tap_data(RentalCb(action=action, id=r.id).pack(), card)
    notifier = tracker.notifier
    assert sms is not None
    to = Recipient(await services.db.users.get(USER), key)
    await notifier.rental_sms(r, sms, to, _settled)
    await notifier.rental_reminder(r, 3600, to)
    await notifier.rental_changed(r, to)
    await notifier.rental_ended(r, to)

    a = await services.db.activations.add(
        user_id=USER, key_id=key.id, provider_id="2", service="tg", country="0", phone=HOSTILE,
        cost=Decimal("1"), currency=HOSTILE, created_at=clock(), ends_at=clock() + 1200,
        cancel_allowed_at=clock() + 120, chat_id=USER,
    )  # fmt: skip
    code = ActivationCode(0, HOSTILE, HOSTILE, clock(), False)
    await notifier.code_received(a, code, to, _settled)
    await notifier.activation_adopted(a, to)
    await notifier.activation_ended(a, True, to)
    await notifier.queue.drain()

    texts = _all_html(chat)
    assert len(texts) >= 10
    for text in texts:
        assert_safe_html(text)
    assert any("&lt;i&gt;x" in text for text in texts)
