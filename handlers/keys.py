"""Placeholder router; its owner replaces this module."""

from aiogram import Router

router = Router(name=__name__)
