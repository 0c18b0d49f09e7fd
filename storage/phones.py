"""Phone numbers: one canonical E.164 form (``+62812...``) for every way a number is written.

Rosters, Telegram contacts and WhatsApp senders all write numbers differently (``0812-...``,
``62812...``, ``+62 812 ...``, ``whatsapp:+62812...``); matching people across them only works
when every number is stored and compared in E.164. ``mask_phone`` keeps numbers out of logs.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

# Country names for error messages; other regions get the generic wording.
_REGION_NAMES = {"ID": "Indonesian"}
_CHANNEL_PREFIX = re.compile(r"^\s*(whatsapp|tel|sms)\s*:\s*", re.IGNORECASE)


class InvalidPhone(ValueError):
    """A phone number that cannot be read or is not a number that can exist."""


@lru_cache(maxsize=4096)  # every WhatsApp or SMS message reads its sender's number: parsed once
def normalize_phone(raw: str, region: str = "ID") -> str:
    """The E.164 form of ``raw``; national numbers are read as being in ``region``.

    Raises ``InvalidPhone`` with a short English reason when the number cannot be parsed
    or is not a valid number (too short, unknown prefix, ...).
    """
    text = _CHANNEL_PREFIX.sub("", raw or "").strip()
    if not text:
        raise InvalidPhone("phone number is empty")
    region = region.upper()
    local = f"not a valid {_REGION_NAMES[region]} phone number" if region in _REGION_NAMES else ""
    what = local or "not a valid phone number"
    candidates = [text]
    digits = re.sub(r"[\s\-().]", "", text)
    if digits.isdigit() and not digits.startswith("0"):
        # Telegram sends contacts as bare international digits ("6281234567890", "14155550123"):
        # when the number is not valid as a national one, try it as international.
        candidates.append("+" + digits)
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if number.country_code != phonenumbers.country_code_for_region(region):
            what = "not a valid phone number"  # an explicit foreign number: no country name
    raise InvalidPhone(f"{what} {raw.strip()!r}")


@lru_cache(maxsize=4096)  # each message's log line masks its sender's number: parsed once
def mask_phone(e164: str) -> str:
    """A number fit for logs: country code, first 3 digits and last 2 (``+62812******90``)."""
    text = (e164 or "").strip()
    try:
        number = phonenumbers.parse(text if text.startswith("+") else "+" + text, None)
        country = str(number.country_code)
        national = phonenumbers.national_significant_number(number)
    except phonenumbers.NumberParseException:
        # Not a number we can split: hide all but the last two characters.
        return "*" * max(len(text) - 2, 0) + text[-2:]
    if len(national) <= 5:
        return f"+{country}" + "*" * len(national)
    return f"+{country}{national[:3]}" + "*" * (len(national) - 5) + national[-2:]


# A guardian the roster names without a number (Dapodik lists parents' names only) is held under
# a key that is no phone number: nothing can be sent there until the person enrols.
_PLACEHOLDER = "nophone:"


def placeholder_phone(nisn: str, relation: str) -> str:
    """The key of a guardian without a number: one per student and relation."""
    return f"{_PLACEHOLDER}{nisn}:{relation}"


def has_phone(value: str | None) -> bool:
    """Whether a stored guardian/staff ``phone`` is a real E.164 number (not a placeholder)."""
    return bool(value) and not str(value).startswith(_PLACEHOLDER)
