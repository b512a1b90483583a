"""The instruments the dashboard needed that the bot did not have: handler latency (every
update through the dispatcher), provider errors per action, and code latency (its tracker
test is tests/bot/test_tracker.py::test_code_delivered_once_within_one_fast_interval)."""

from __future__ import annotations

from typing import Any

from bot.metrics import OTHER, Metrics

UPDATES = "smsbot_update_duration_seconds_count"


async def test_every_update_through_the_dispatcher_is_timed(chat: Any, services: Any) -> None:
    registry = services.metrics.registry
    assert registry.get_sample_value(UPDATES) == 0
    await chat.send("/start")
    await chat.send("some text where no prompt asked for any")
    assert registry.get_sample_value(UPDATES) == 2
    # Milliseconds here: each lands in a bucket below the last.
    assert registry.get_sample_value("smsbot_update_duration_seconds_bucket", {"le": "10.0"}) == 2


def test_provider_errors_are_counted_per_action_too() -> None:
    metrics = Metrics()
    metrics.observe_provider_call("getStatus", 0.1, "TIMEOUT")
    metrics.observe_provider_call("getStatus", 0.1, "HTTP_502")
    metrics.observe_provider_call("getNumberV2", 0.1, "NETWORK")
    metrics.observe_provider_call("getStatus", 0.1)  # a success counts no error
    metrics.observe_provider_call("made-up", 0.1, "TIMEOUT")  # bounded like the requests
    registry = metrics.registry
    errors = "smsbot_provider_action_errors_total"
    assert registry.get_sample_value(errors, {"action": "getStatus"}) == 2
    assert registry.get_sample_value(errors, {"action": "getNumberV2"}) == 1
    assert registry.get_sample_value(errors, {"action": OTHER}) == 1
    # The same failures as the errors by code.
    by_code = sum(
        sample.value
        for family in registry.collect()
        if family.name == "smsbot_provider_errors"
        for sample in family.samples
    )
    assert by_code == 4
