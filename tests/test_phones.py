"""Phone numbers as operators and platforms write them all end up as one E.164 number."""

from __future__ import annotations

import pytest

from storage.phones import InvalidPhone, mask_phone, normalize_phone


@pytest.mark.parametrize("raw", [
    "081234567890",
    "0812-3456-7890",
    "(0812) 3456-7890",
    "62812 3456 7890",
    "6281234567890",  # Telegram contacts come as bare digits
    "+62 812-3456-7890",
    "+6281234567890",
    "whatsapp:+6281234567890",  # Twilio's WhatsApp sender
    "  +62 (812) 3456 7890 ",
])
def test_every_way_of_writing_a_number_gives_e164(raw: str) -> None:
    assert normalize_phone(raw) == "+6281234567890"


def test_foreign_numbers_stay_foreign() -> None:
    assert normalize_phone("+60 12-345 6789") == "+60123456789"
    # A Telegram contact abroad: bare international digits that are no Indonesian number.
    assert normalize_phone("14155238886") == "+14155238886"


@pytest.mark.parametrize(("raw", "reason"), [
    ("0812", "not a valid Indonesian phone number '0812'"),
    ("08123", "not a valid Indonesian phone number '08123'"),
    ("nomor hp", "not a valid Indonesian phone number 'nomor hp'"),
    ("", "phone number is empty"),
    ("whatsapp:", "phone number is empty"),
    ("+1 555", "not a valid phone number '+1 555'"),
])
def test_unusable_numbers_are_refused_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidPhone) as caught:
        normalize_phone(raw)
    assert str(caught.value) == reason
    assert isinstance(caught.value, ValueError)


def test_mask_keeps_country_code_prefix_and_last_two_digits() -> None:
    assert mask_phone("+6281234567890") == "+62812******90"
    assert mask_phone("+6281200001234") == "+62812******34"
    assert "3456" not in mask_phone("+6281234567890")


def test_mask_never_reveals_a_number_it_cannot_read() -> None:
    assert mask_phone("12") == "12"
    assert mask_phone("abcdef12") == "******12"
