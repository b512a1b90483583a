"""What the deployment tests share: the repository's files, read as Docker and Prometheus read
them (PyYAML's safe loader: a file it refuses fails the tests)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
# `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?message}`: Compose's interpolation.
VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def read_yaml(relative: str) -> Any:
    return yaml.safe_load((REPO / relative).read_text(encoding="utf-8"))


def with_defaults(value: object) -> str:
    """A Compose value as it is with nothing set in the shell or .env: each variable its
    default (empty without one)."""
    return VARIABLE.sub(lambda found: found.group(3) or "", str(value))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = read_yaml("docker-compose.yml")
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def compose_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found
