"""Finding and masking personal data in text: e-mail addresses, and card numbers that pass the Luhn
check (so order numbers, phone numbers and timestamps of the same length are left alone)."""

from __future__ import annotations

import re
from typing import Any

EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
# 13 to 19 digits, optionally grouped with single spaces or hyphens: "4111 1111 1111 1111".
CARD_CANDIDATE = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")
EMAIL_MASK = "[email redacted]"
CARD_MASK = "[card redacted]"


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card(match: re.Match) -> str:
    digits = re.sub(r"[ -]", "", match.group())
    return CARD_MASK if luhn_valid(digits) else match.group()


def redact_text(text: str) -> str:
    return CARD_CANDIDATE.sub(_card, EMAIL.sub(EMAIL_MASK, text))


def redact(value: Any) -> Any:
    """`value` with every string inside it redacted: strings, and lists and dicts of them."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    return value


def redact_result(result: dict) -> dict | None:
    """A CallToolResult with its text content, embedded resource text and structured content
    redacted; None when there was nothing to redact."""
    redacted = dict(result)
    redacted["content"] = [_redact_content(item) for item in result.get("content", [])]
    if "structuredContent" in result:
        redacted["structuredContent"] = redact(result["structuredContent"])
    return None if redacted == result else redacted


def _redact_content(item: dict) -> dict:
    if item.get("type") == "text":
        return {**item, "text": redact_text(item["text"])}
    if item.get("type") == "resource" and "text" in item.get("resource", {}):
        return {**item, "resource": {**item["resource"], "text": redact_text(item["resource"]["text"])}}
    return item  # images and audio carry no text to scan
