"""The background tracker: watches every live activation and rental and emits events."""

from bot.tracker.core import *  # noqa: F403  (split into parts by the Architecture issue)
from bot.tracker.core import Tracker, TrackerConfig, rental_sms_keys
from bot.tracker.notifier import Notifier, Recipient

__all__ = ["Notifier", "Recipient", "Tracker", "TrackerConfig", "rental_sms_keys"]
