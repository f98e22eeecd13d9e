"""What the guardrail masks, and what it leaves alone."""

import pytest
from forge_guardrail.redact import luhn_valid, redact_result, redact_text


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("4111111111111111", True),
        ("5555555555554444", True),
        ("378282246310005", True),
        ("4111111111111112", False),
        ("1234567890123", False),
    ],
)
def test_the_luhn_check(number, valid):
    assert luhn_valid(number) is valid


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to alice@example.com.", "write to [email redacted]."),
        ("<bob.smith+forge@mail.example.co.uk>", "<[email redacted]>"),
        ("card 4111 1111 1111 1111 ok", "card [card redacted] ok"),
        ("card 5555-5555-5555-4444", "card [card redacted]"),
        ("amex 378282246310005", "amex [card redacted]"),
        ("order 4111 1111 1111 1112", "order 4111 1111 1111 1112"),  # fails the Luhn check
        ("ts 1700000000000", "ts 1700000000000"),
        ("call +1 555 0100", "call +1 555 0100"),  # too short for a card
        ("no @ here, nor user@localhost", "no @ here, nor user@localhost"),
    ],
)
def test_redact_text(text, expected):
    assert redact_text(text) == expected


def test_a_result_is_redacted_in_text_resources_and_structured_content():
    result = {
        "content": [
            {"type": "text", "text": "alice@example.com"},
            {"type": "image", "data": "aGk=", "mimeType": "image/png"},
            {"type": "resource", "resource": {"uri": "mem://a", "text": "pay 4111111111111111"}},
        ],
        "structuredContent": {"owner": {"email": "alice@example.com"}, "cards": ["4111111111111111", 42]},
        "isError": False,
    }
    assert redact_result(result) == {
        "content": [
            {"type": "text", "text": "[email redacted]"},
            {"type": "image", "data": "aGk=", "mimeType": "image/png"},
            {"type": "resource", "resource": {"uri": "mem://a", "text": "pay [card redacted]"}},
        ],
        "structuredContent": {"owner": {"email": "[email redacted]"}, "cards": ["[card redacted]", 42]},
        "isError": False,
    }


def test_a_clean_result_is_kept_as_it_is():
    assert (
        redact_result({"content": [{"type": "text", "text": "nothing personal"}], "isError": False}) is None
    )
