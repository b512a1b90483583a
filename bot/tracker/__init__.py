"""The background tracker: watches every live activation and rental and emits events."""

from bot.tracker.config import TrackerConfig
from bot.tracker.notifier import Notifier, Recipient
from bot.tracker.tracker import Tracker

__all__ = ["Notifier", "Recipient", "Tracker", "TrackerConfig"]
