"""Typed settings, read once from the environment or a `.env` file and passed down."""

from __future__ import annotations

import json
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.whatsapp_costs import DEFAULT_DAILY_TIER, CostPolicy, Prices, PriceTableError


class Settings(BaseSettings):
    """Every configuration variable of Jembatan (`.env.example` lists exactly these)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./var/jembatan.db"
    school_timezone: str = "Asia/Jakarta"
    default_language: Literal["id", "en"] = "id"

    telegram_bot_token: str | None = None
    telegram_mode: Literal["polling", "webhook"] = "polling"
    telegram_webhook_secret: str | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_rate_per_second: float = 30.0  # Telegram's overall limit for one bot
    telegram_chat_rate_per_second: float = 1.0  # Telegram's per-chat limit (short bursts allowed)

    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_api_base_url: str = "https://api.twilio.com"
    twilio_content_sids: str | None = None
    twilio_messages_per_second: float = 10.0  # the WhatsApp sender's MPS at Twilio
    twilio_sms_from: str | None = None  # a Twilio number for SMS (families without WhatsApp)
    # WhatsApp's prices per category in rupiah (domain/whatsapp_costs.py), and an SMS's.
    whatsapp_prices: str | None = None  # service:0,utility:330,marketing:670
    sms_price: float | None = Field(default=None, ge=0)
    # Unique recipients a day the deployment's WhatsApp sender may send templates to (its tier).
    whatsapp_daily_tier: int = Field(default=DEFAULT_DAILY_TIER, ge=1)

    public_base_url: str | None = None
    # A YAML file giving schools their own bot and senders (bot/channels_file.py); unset: every
    # school shares the channels above.
    channels_file: str | None = None
    simulator: bool | None = None  # None: on when no channel is configured
    # With real channels beside it, the simulator opens only with this (a header or an unlock page).
    simulator_secret: str | None = None
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one JSON object a line

    concern_answer_limit_hours: float = 24.0  # unanswered past this (within office hours): escalate
    # An answered concern with no new message from either side this long closes itself.
    concern_auto_close_days: float = Field(default=3.0, gt=0)
    link_code_ttl_hours: float = 72.0
    # Per sender: messages answered at once, then per minute; faster ones are stored, not answered.
    inbound_burst: int = Field(default=30, ge=1)
    inbound_rate_per_minute: float = Field(default=30.0, gt=0)
    # Signs the dashboard's session cookie; unset: a secret made once and kept in the database.
    dashboard_secret: str | None = None
    # The router's learned layer: "builtin" (the shipped model), "off" (the lexicon alone), or the
    # path of another head file (handlers/router_training.py writes one).
    router_model: str = "builtin"

    @field_validator("dashboard_secret", mode="before")
    @classmethod
    def _strong_dashboard_secret(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, str) and len(value.strip()) < 32:
            raise ValueError("DASHBOARD_SECRET must be at least 32 characters (or unset)")
        return value

    @field_validator("simulator_secret", mode="before")
    @classmethod
    def _strong_simulator_secret(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, str) and len(value.strip()) < 16:
            raise ValueError("SIMULATOR_SECRET must be at least 16 characters (or unset)")
        return value.strip() if isinstance(value, str) else value

    @field_validator("school_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA timezone {value!r}") from exc
        return value

    @field_validator("telegram_bot_token", "telegram_webhook_secret", "twilio_account_sid",
                     "twilio_auth_token", "twilio_whatsapp_from", "twilio_content_sids",
                     "public_base_url", "twilio_sms_from", "channels_file", "whatsapp_prices",
                     "sms_price", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("simulator", mode="before")
    @classmethod
    def _simulator_switch(cls, value: object) -> object:
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("", "auto"):
                return None
            return lowered in ("on", "1", "true", "yes")
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.telegram_bot_token and self.telegram_mode == "webhook" and not self.telegram_webhook_secret:
            raise ValueError("TELEGRAM_WEBHOOK_SECRET is required when TELEGRAM_MODE=webhook")
        try:
            Prices.parse(self.whatsapp_prices)
        except PriceTableError as exc:
            raise ValueError(f"WHATSAPP_PRICES: {exc}") from exc
        if self.twilio_content_sids:
            try:
                json.loads(self.twilio_content_sids)
            except json.JSONDecodeError as exc:
                raise ValueError(f"TWILIO_CONTENT_SIDS is not valid JSON: {exc}") from exc
        return self

    @property
    def costs(self) -> CostPolicy:
        """WhatsApp's prices and the default sender's daily tier, for previews and spreading."""
        return CostPolicy(Prices.parse(self.whatsapp_prices, self.sms_price), self.whatsapp_daily_tier)

    @property
    def content_sids(self) -> dict[str, str]:
        return dict(json.loads(self.twilio_content_sids)) if self.twilio_content_sids else {}

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token)

    @property
    def whatsapp_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_whatsapp_from)

    @property
    def sms_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_sms_from)

    @property
    def real_channels(self) -> bool:
        """A channel that reaches real families (Telegram, WhatsApp, SMS) is configured."""
        return self.telegram_enabled or self.whatsapp_enabled or self.sms_enabled

    @property
    def simulator_guarded(self) -> bool:
        """The simulator runs beside real channels: it holds real people's data, so it needs the secret."""
        return self.simulator_enabled and self.real_channels

    @property
    def simulator_enabled(self) -> bool:
        if self.simulator is None:
            return not (self.telegram_enabled or self.whatsapp_enabled or self.sms_enabled)
        return self.simulator
