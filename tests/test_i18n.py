"""Catalogs: every key exists in all three languages with the same placeholders; every key the
handlers ask for by name exists; Telegram's language codes map to ours."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fluent.syntax import FluentParser, ast

from bot.i18n import LANGUAGES, LOCALES_DIR, Translator, pick_language

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"\{\s*\$([A-Za-z0-9_-]+)\s*\}")


def _catalog(lang: str) -> dict[str, dict[str, str]]:
    """file name -> key -> source text of the message."""
    found: dict[str, dict[str, str]] = {}
    parser = FluentParser()
    for path in sorted((LOCALES_DIR / lang).glob("*.ftl")):
        resource = parser.parse(path.read_text(encoding="utf-8"))
        junk = [entry for entry in resource.body if isinstance(entry, ast.Junk)]
        assert not junk, f"{path}: unparsable entries {[j.content[:60] for j in junk]}"
        found[path.name] = {
            entry.id.name: (entry.value and _source(entry.value)) or ""
            for entry in resource.body
            if isinstance(entry, ast.Message)
        }
    return found


def _source(pattern: ast.Pattern) -> str:
    parts: list[str] = []
    for element in pattern.elements:
        if isinstance(element, ast.TextElement):
            parts.append(element.value)
        elif isinstance(element, ast.Placeable) and isinstance(
            element.expression, ast.VariableReference
        ):
            parts.append("{ $" + element.expression.id.name + " }")
        else:
            parts.append("{ ? }")
    return "".join(parts)


CATALOGS = {lang: _catalog(lang) for lang in LANGUAGES}


def test_the_same_files_in_every_language() -> None:
    names = {lang: set(files) for lang, files in CATALOGS.items()}
    assert names["en"], "no catalogs found"
    for lang in LANGUAGES:
        assert names[lang] == names["en"], lang


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_every_key_in_every_language(lang: str) -> None:
    for file, messages in CATALOGS["en"].items():
        other = CATALOGS[lang].get(file, {})
        assert set(messages) == set(other), (
            file,
            sorted(set(messages) ^ set(other)),
        )


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_placeholders_match(lang: str) -> None:
    for file, messages in CATALOGS["en"].items():
        for key, text in messages.items():
            theirs = CATALOGS[lang][file].get(key, "")
            assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(theirs)), (
                file,
                key,
            )


def test_no_key_is_defined_twice() -> None:
    for lang in LANGUAGES:
        seen: dict[str, str] = {}
        for file, messages in CATALOGS[lang].items():
            for key in messages:
                assert key not in seen, f"{lang}: {key} in {seen.get(key)} and {file}"
                seen[key] = file


def _words(text: str) -> str:
    """The prose of a message: without placeholders and HTML tags."""
    return re.sub(r"<[^>]+>", "", PLACEHOLDER.sub("", text))


def test_translations_are_translated() -> None:
    """Russian and Chinese catalogs are not English copies (a few brand names aside)."""
    for lang in ("ru", "zh"):
        same = [
            key
            for file, messages in CATALOGS["en"].items()
            for key, text in messages.items()
            if re.search(r"[A-Za-z]{4,}", _words(text))
            and _words(text) == _words(CATALOGS[lang][file][key])
        ]
        assert len(same) <= 5, (lang, same)


def test_every_literal_key_the_handlers_use_exists() -> None:
    keys = Translator().keys("en")
    used: set[str] = set()
    for path in list((ROOT / "handlers").rglob("*.py")):
        used |= set(re.findall(r"\bt\(\s*\"([a-z][a-z0-9-]+)\"", path.read_text("utf-8")))
    assert used
    missing = sorted(used - keys)
    assert not missing, missing


def test_render_in_each_language() -> None:
    translator = Translator()
    for lang in LANGUAGES:
        assert translator.get(lang, "menu-buy") != "menu-buy"
        text = translator.get(lang, "error-wrong-max-price", min="0.50")
        assert "0.50" in text
    assert translator.get("ru", "menu-buy") != translator.get("en", "menu-buy")


@pytest.mark.parametrize(
    ("code", "lang"),
    [
        ("ru", "ru"),
        ("ru-RU", "ru"),
        ("zh-hans", "zh"),
        ("zh_TW", "zh"),
        ("en-US", "en"),
        ("de", "en"),
        (None, "en"),
        ("", "en"),
    ],
)
def test_pick_language(code: str | None, lang: str) -> None:
    assert pick_language(code) == lang
