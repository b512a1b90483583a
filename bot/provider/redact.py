"""Masking of API keys in any text that may reach a log line, a repr or an exception."""

from __future__ import annotations

import re

# api_key=<anything up to a separator>, as it appears in URLs, query strings and reprs.
_QUERY_KEY = re.compile(r"(api_key=)[^&\s'\"#,;)\]}]*", re.IGNORECASE)
# "api_key": "<value>" as it may appear in JSON or dict reprs.
_MAPPING_KEY = re.compile(r"""(["']api_key["']\s*:\s*["'])[^"']*""", re.IGNORECASE)

MASK = "***"


def redact(text: str, *secrets: str) -> str:
    """Return ``text`` with every ``api_key=...`` value (and each given secret) masked."""
    masked = _QUERY_KEY.sub(r"\g<1>" + MASK, text)
    masked = _MAPPING_KEY.sub(r"\g<1>" + MASK, masked)
    for secret in secrets:
        if secret:
            masked = masked.replace(secret, MASK)
    return masked
