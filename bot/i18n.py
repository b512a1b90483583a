"""Fluent translation catalogs: `bot/locales/<lang>/*.ftl`, one file per feature.

Each feature owns its own `.ftl` file in every language, so catalogs grow without conflicts.
Numbers and money are formatted by the caller and passed in as strings, so Fluent never
reformats a price or a code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from fluent.runtime import FluentBundle, FluentResource

LANGUAGES: tuple[str, ...] = ("en", "ru", "zh")
DEFAULT_LANGUAGE = "en"
LOCALES_DIR = Path(__file__).with_name("locales")

Translate = Callable[..., str]


def pick_language(telegram_code: str | None) -> str:
    """Map a Telegram `language_code` (e.g. 'ru', 'zh-hans', 'en-US') to a supported language."""
    if not telegram_code:
        return DEFAULT_LANGUAGE
    base = telegram_code.lower().replace("_", "-").split("-")[0]
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


@functools.cache
def _catalog(locales_dir: Path, lang: str) -> tuple[FluentBundle, frozenset[str]]:
    """One language's messages and their ids, parsed once per process: parsing the catalogs
    is pure Python and takes a good part of a second, and nothing changes them once loaded."""
    bundle = FluentBundle([lang], use_isolating=False)
    keys: set[str] = set()
    for path in sorted((locales_dir / lang).glob("*.ftl")):
        resource = FluentResource(path.read_text(encoding="utf-8"))
        bundle.add_resource(resource)
        keys.update(entry.id.name for entry in resource.body if hasattr(entry, "id") and entry.id)
    return bundle, frozenset(keys)


class Translator:
    def __init__(self, locales_dir: Path = LOCALES_DIR, languages: tuple[str, ...] = LANGUAGES):
        self.languages = languages
        self._bundles: dict[str, FluentBundle] = {}
        self._keys: dict[str, frozenset[str]] = {}
        for lang in languages:
            self._bundles[lang], self._keys[lang] = _catalog(locales_dir, lang)

    def keys(self, lang: str) -> set[str]:
        return set(self._keys.get(lang, set()))

    def get(self, lang: str, key: str, /, **kwargs: object) -> str:
        for candidate in (lang, DEFAULT_LANGUAGE):
            bundle = self._bundles.get(candidate)
            if bundle is not None and bundle.has_message(key):
                message = bundle.get_message(key)
                if message.value is None:
                    continue
                text, _errors = bundle.format_pattern(message.value, kwargs)
                if isinstance(text, str):  # always, for a message that has a value
                    return text
        return key

    def bind(self, lang: str) -> Translate:
        """A `t(key, **kwargs)` for one language, as handlers receive it."""

        def translate(key: str, /, **kwargs: object) -> str:
            return self.get(lang, key, **kwargs)

        return translate
