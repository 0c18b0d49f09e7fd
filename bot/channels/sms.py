"""SMS adapter (Twilio, same account): for families without WhatsApp, or who ask for SMS.

No 24-hour window and no media; texts are already written short for SMS by the templates
(``templates/<lang>/sms/``) and cut at a sentence boundary when still too long.
"""

from __future__ import annotations

from typing import Any

from bot.channels.whatsapp import WhatsAppChannel
from storage.models import ChannelAccount, OutboxMessage

SMS_MAX = 459  # three GSM-7 segments: enough for who, what, when and where


def shorten_for_sms(text: str, limit: int = SMS_MAX) -> str:
    """Keep whole sentences up to ``limit`` characters; cut with an ellipsis only if one is longer."""
    if len(text) <= limit:
        return text
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    end = max(cut.rfind(". "), cut.rfind("? "), cut.rfind("! "))
    return cut[: end + 1] if end > limit // 2 else cut.rstrip() + "…"


class SmsChannel(WhatsAppChannel):
    """Twilio Programmable SMS with the WhatsApp adapter's client, limits and error handling."""

    name = "sms"

    def content(self, message: OutboxMessage, account: ChannelAccount | None) -> dict[str, Any]:
        return {"body": shorten_for_sms(message.text)}
