"""What a WhatsApp message costs the school: its pricing category, the price table, the daily tier.

WhatsApp bills per message, by category:

- ``service``: any message inside the 24-hour customer-service window that the family's last
  message to that sender opened (free);
- ``utility``: a transactional message outside the window (a meeting invitation, a summons, a
  reminder, the answer to a concern that came after the window closed), sent as a template;
- ``marketing``: a school announcement (a broadcast, the daily digest of announcements, the guru
  BK series) outside the window, sent as a template.

A sender may start conversations with at most its *tier* of unique recipients a day (Meta's
messaging limit: 250, 1,000, 10,000, 100,000); only template messages (utility, marketing) count.

Prices are configured (``WHATSAPP_PRICES=service:0,utility:330,marketing:670`` in rupiah, and
``SMS_PRICE`` for the SMS fallback); the defaults are estimates from Meta's rate card for
Indonesia (USD 0.0200 utility, 0.0411 marketing, at about Rp 16,300 to the dollar), without
Twilio's own fee per message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

SERVICE_WINDOW = timedelta(hours=24)
CATEGORIES = ("service", "utility", "marketing")
BILLED = ("utility", "marketing")  # template messages: billed, and counted against the tier
DEFAULT_DAILY_TIER = 1000
# A broadcast leaves this share of the tier free for the day's individual notices (summonses,
# reminders, answers): they must not be refused because an announcement used the whole tier.
BROADCAST_SHARE = 0.9
# Templates that carry announcements (outside the window: marketing).
MARKETING_TEMPLATES = ("announcement", "digest")
MARKETING_PREFIXES = ("bk_series",)


class PriceTableError(ValueError):
    """A WHATSAPP_PRICES value that cannot be read: the message names the part."""


@dataclass(frozen=True)
class Prices:
    """Rupiah per message, per category, and per SMS."""

    service: float = 0.0
    utility: float = 330.0
    marketing: float = 670.0
    sms: float = 6000.0

    def of(self, category: str) -> float:
        return float(getattr(self, category))

    @classmethod
    def parse(cls, text: str | None, sms: float | None = None) -> Prices:
        """``service:0,utility:330,marketing:670`` (any subset; the rest keep their defaults)."""
        values: dict[str, float] = {}
        for part in (text or "").split(","):
            if not part.strip():
                continue
            name, sep, amount = part.partition(":")
            name = name.strip().lower()
            if not sep or name not in CATEGORIES:
                raise PriceTableError(f"{part.strip()!r}: expected category:price with a category of "
                                      f"{', '.join(CATEGORIES)}")
            try:
                value = float(amount.strip().replace("_", ""))
            except ValueError:
                raise PriceTableError(f"{part.strip()!r}: the price must be a number of rupiah") from None
            if value < 0 or value != value:
                raise PriceTableError(f"{part.strip()!r}: the price must be 0 or more")
            values[name] = value
        if sms is not None:
            values["sms"] = float(sms)
        return cls(**values)


@dataclass(frozen=True)
class CostPolicy:
    """The prices, and the daily tier of the deployment's own WhatsApp sender (a school's own
    sender has its tier in CHANNELS_FILE)."""

    prices: Prices = Prices()
    daily_tier: int = DEFAULT_DAILY_TIER


def in_window(last_inbound: datetime | None, now: datetime) -> bool:
    """Whether the family's last message to this sender keeps the free window open at ``now``."""
    return last_inbound is not None and now - last_inbound < SERVICE_WINDOW


def is_announcement(template: str, broadcast_id: int | None) -> bool:
    """A message that announces (billed as marketing outside the window)."""
    return broadcast_id is not None or template in MARKETING_TEMPLATES or \
        template.startswith(MARKETING_PREFIXES)


def category(template: str, broadcast_id: int | None, *, window_open: bool) -> str:
    """The WhatsApp pricing category of one outbound message."""
    if window_open:
        return "service"
    return "marketing" if is_announcement(template, broadcast_id) else "utility"


@dataclass
class Reach:
    """How an announcement's messages go: the preview's channel counts and its cost."""

    telegram: int = 0
    whatsapp_window: int = 0  # inside the 24-hour window: free-form, free
    whatsapp_template: int = 0  # outside it: a template, billed as marketing
    sms: int = 0
    other: int = 0  # the simulator (a demo)

    def add(self, channel: str, window_open: bool = False) -> None:
        if channel == "whatsapp":
            if window_open:
                self.whatsapp_window += 1
            else:
                self.whatsapp_template += 1
        elif channel in ("telegram", "sms"):
            setattr(self, channel, getattr(self, channel) + 1)
        else:
            self.other += 1

    def cost(self, prices: Prices) -> float:
        """Rupiah: the window's messages as service, the others as marketing, SMS at its price."""
        return (self.whatsapp_window * prices.service + self.whatsapp_template * prices.marketing
                + self.sms * prices.sms)

    def as_json(self, prices: Prices) -> dict[str, float | int]:
        return {"telegram": self.telegram, "whatsapp_in_window": self.whatsapp_window,
                "whatsapp_template": self.whatsapp_template, "sms": self.sms,
                "cost_idr": round(self.cost(prices))}


def broadcast_allowance(tier: int) -> int:
    """Of a sender's daily tier, how many unique recipients one day's announcements may take."""
    return max(1, int(tier * BROADCAST_SHARE))
