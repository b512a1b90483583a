"""SQLite storage: Database, repositories, read models and encryption of API keys at rest."""

from __future__ import annotations

from storage.activations import ActivationRepo
from storage.crypto import KeyCipher, SecretKeyError, SecretMismatch, load_secrets
from storage.db import Database
from storage.history import HISTORY_OUTCOMES, HistoryEntry, HistoryFilter, HistoryRepo
from storage.keys import KeyRepo
from storage.models import (
    ACTIVATION_ENDED,
    ACTIVATION_LIVE,
    RENTAL_ENDED,
    RENTAL_LIVE,
    Activation,
    ActivationCode,
    KeyProfile,
    PendingPurchase,
    Rental,
    RentalSms,
    User,
)
from storage.pending import PendingRepo
from storage.picks import PickRepo
from storage.rentals import RentalRepo
from storage.spending import SpendingRepo
from storage.tokens import TokenRepo
from storage.userdata import StillLive, UserDataCounts, UserDataRepo
from storage.users import UserRepo
from storage.watches import Watch, WatchRepo

__all__ = [
    "ACTIVATION_ENDED",
    "ACTIVATION_LIVE",
    "HISTORY_OUTCOMES",
    "RENTAL_ENDED",
    "RENTAL_LIVE",
    "Activation",
    "ActivationCode",
    "ActivationRepo",
    "Database",
    "HistoryEntry",
    "HistoryFilter",
    "HistoryRepo",
    "KeyCipher",
    "KeyProfile",
    "KeyRepo",
    "PendingPurchase",
    "PendingRepo",
    "PickRepo",
    "Rental",
    "RentalRepo",
    "RentalSms",
    "SecretKeyError",
    "SecretMismatch",
    "SpendingRepo",
    "StillLive",
    "TokenRepo",
    "User",
    "UserDataCounts",
    "UserDataRepo",
    "UserRepo",
    "Watch",
    "WatchRepo",
    "load_secrets",
]
