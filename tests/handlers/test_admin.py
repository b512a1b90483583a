"""/stats answers the operators in ADMIN_IDS and nobody else."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram.methods import SendPhoto

from bot.charts import HEIGHT_PX, WIDTH_PX, png_size
from tests.harness import ChatDriver
from tests.spending_seed import bought

ADMIN = 111  # the `chat` fixture's user


@pytest.fixture
def settings(settings: Any) -> Any:
    return settings.model_copy(update={"admin_ids": [ADMIN]})


async def test_stats_for_an_admin(chat: ChatDriver, services: Any, sandbox: Any) -> None:
    key = await services.db.keys.add(
        ADMIN, label="t", base_url=sandbox.url, api_key=sandbox.state.create_key(balance="50")
    )
    now = services.clock()
    await services.db.activations.add(
        user_id=ADMIN, key_id=key.id, provider_id="1", service="tg", country="0",
        phone="79000000001", cost=None, currency=None, created_at=now, ends_at=now + 1200,
        cancel_allowed_at=now + 120,
    )  # fmt: skip
    await chat.send("/stats")
    assert "Bot status" in chat.last_text
    assert "Live activations: 1" in chat.last_text and "Live rentals: 0" in chat.last_text
    assert "0 codes and 0 rental SMS delivered, 0 auto-cancels, 0 provider errors" in (
        chat.last_text
    )


async def test_stats_show_what_the_tracker_counted_since_start(
    chat: ChatDriver, services: Any
) -> None:
    metrics = services.metrics
    metrics.codes_delivered.inc(3)
    metrics.rental_sms_delivered.inc(2)
    metrics.auto_cancels.inc()
    metrics.tracker_provider_errors.labels(code="NO_BALANCE").inc(2)
    metrics.tracker_provider_errors.labels(code="other").inc(3)
    await chat.send("/stats")
    assert "3 codes and 2 rental SMS delivered, 1 auto-cancels, 5 provider errors" in (
        chat.last_text
    )


async def test_stats_is_not_there_for_others(dp: Any, bot: Any) -> None:
    stranger = ChatDriver(dp, bot, user_id=222)
    await stranger.send("/stats")
    assert "Bot status" not in stranger.last_text
    # Answered like any command the bot does not know: nothing says an admin one exists.
    assert "do not know the command /stats" in stranger.last_text


async def test_stats_send_the_whole_bots_chart_to_an_operator_only(
    chat: ChatDriver, services: Any, dp: Any, bot: Any
) -> None:
    now = services.clock()
    for user in (ADMIN, 222, 333):  # everyone's purchases, nobody named
        key = await services.db.keys.add(user, label="k", base_url="http://x", api_key="k" * 32)
        await bought(services.db, user=user, key=key.id, when=now - 86400, cost="10.00",
                     codes=1, end="finished")  # fmt: skip
    stranger = ChatDriver(dp, bot, user_id=222)
    await stranger.send("/stats")
    assert chat.session.calls(SendPhoto) == []
    await chat.send("/stats")
    assert "Bot status" in chat.last_text
    [photo] = chat.session.calls(SendPhoto)
    assert photo.chat_id == ADMIN
    assert png_size(photo.photo.data) == (WIDTH_PX, HEIGHT_PX)
    assert "last 30 days" in (photo.caption or "")
    report = await services.spending.whole_bot(30)
    assert report.currencies[0].charged == 30  # the three users' numbers together
