"""docs/screens.md is what `python -m tests.screens` writes: the tour of the bot's screens is
recorded from the real dispatcher, never written by hand, and never goes stale."""

from __future__ import annotations

import difflib

from tests.screens import SCREENS_MD, record_tour, render


async def test_the_committed_screen_tour_is_what_the_script_writes() -> None:
    expected = render(await record_tour())
    committed = SCREENS_MD.read_text(encoding="utf-8")
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            expected.splitlines(keepends=True),
            "docs/screens.md (committed)",
            "python -m tests.screens",
        )
    )
    assert committed == expected, f"the screen tour is stale: run python -m tests.screens\n{diff}"


async def test_the_tour_covers_the_main_screens() -> None:
    titles = [screen.title for screen in await record_tour()]
    for wanted in (
        "Welcome (a new user)",
        "Main menu",
        "API keys",
        "Buy: services",
        "Buy: countries",
        "Buy: confirm",
        "The card with a code",
        "Rent number",
        "My numbers",
        "Settings",
        "Help",
    ):
        assert wanted in titles
