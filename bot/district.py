"""The schools' own channels of a district deployment, started, stopped and reloaded as one.

Reads CHANNELS_FILE (bot/channels_file.py), starts each school's Telegram bot (its own polling
loop in the background process, or its webhook) and its WhatsApp / SMS sender on the
deployment's Twilio account, hands each to the sender as a lane of its own, and writes which
kinds each school has its own of to ``channel_route`` so every process routes its messages
alike. :meth:`District.reload_if_changed` re-reads the file when its modification time moved:
web workers call it on a school's webhook, the background process every few seconds and on
SIGHUP. A file that became invalid is reported and the running channels are kept.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.channels.sms import SmsChannel
from bot.channels.telegram import TelegramChannel
from bot.channels.whatsapp import WhatsAppChannel
from bot.channels_file import ChannelsConfig, ChannelsFileError, SchoolChannels, file_mtime, load_channels
from domain.clock import Clock
from bot.inbox import Inbox
from bot.logs import register_secrets
from bot.sender import Sender
from bot.settings import Settings
from storage.channel_routes import save_routes
from storage.transient import describe

log = logging.getLogger(__name__)
CHECK_SECONDS = 5.0  # the background process looks at the file's modification time this often


@dataclass
class SchoolLine:
    """One school's running channels."""

    config: SchoolChannels
    telegram: TelegramChannel | None = None
    whatsapp: WhatsAppChannel | None = None
    sms: SmsChannel | None = None

    @property
    def clients(self) -> list[Any]:
        return [c for c in (self.telegram, self.whatsapp, self.sms) if c is not None]


@dataclass
class District:
    """Every school's own channels in this process."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    inbox: Inbox
    sender: Sender
    clock: Clock
    background: bool  # this process polls Telegram (the web workers only take webhooks)
    config: ChannelsConfig
    schools: dict[str, SchoolLine] = field(default_factory=dict)
    on_change: Callable[[], None] = lambda: None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def start(self) -> None:
        for school in self.config.schools.values():
            await self._start_school(school)
        await self._save_routes()

    async def stop(self) -> None:
        for code in list(self.schools):
            await self._stop_school(code)

    def line(self, code: str) -> SchoolLine | None:
        return self.schools.get(code)

    async def reload_if_changed(self) -> bool:
        """Re-read CHANNELS_FILE when it changed since it was read; True when channels changed."""
        path = self.settings.channels_file
        if not path or file_mtime(path) == self.config.mtime:
            return False
        async with self._lock:
            if file_mtime(path) == self.config.mtime:
                return False  # another request reloaded it meanwhile
            try:
                fresh = load_channels(path, default_mode=self.settings.telegram_mode,
                                      twilio_account=bool(self.settings.twilio_account_sid
                                                          and self.settings.twilio_auth_token))
            except ChannelsFileError as exc:
                log.error("CHANNELS_FILE not reloaded, the running channels are kept: %s", exc)
                self.config = ChannelsConfig(self.config.path, self.config.schools, file_mtime(path))
                return False
            register_secrets(fresh.secrets)
            changed = await self._apply(fresh)
            log.info("CHANNELS_FILE reloaded: %d school(s) with their own channels, %d changed",
                     len(fresh.schools), changed)
            return bool(changed)

    async def _apply(self, fresh: ChannelsConfig) -> int:
        changed = 0
        for code in list(self.schools):
            if fresh.schools.get(code) != self.schools[code].config:
                await self._stop_school(code)
                changed += 1
        for code, school in fresh.schools.items():
            if code not in self.schools:
                await self._start_school(school)
                changed += 1
        self.config = fresh
        await self._save_routes()
        self.on_change()
        return changed

    async def _save_routes(self) -> None:
        try:
            async with self.sessions() as session, session.begin():
                await save_routes(session, {code: s.kinds for code, s in self.config.schools.items()},
                                  {code: s.whatsapp_daily_tier for code, s in self.config.schools.items()})
        except Exception as exc:  # no database now: the next reload or start writes them
            log.error("channel routes not saved: %s", describe(exc))

    async def _start_school(self, school: SchoolChannels) -> None:
        settings = self.settings
        line = SchoolLine(school)
        if school.telegram_bot_token:
            line.telegram = TelegramChannel(
                token=school.telegram_bot_token, owner=school.code, inbox=self.inbox,
                base_url=school.telegram_api_base_url or settings.telegram_api_base_url,
                rate_per_second=settings.telegram_rate_per_second,
                chat_rate_per_second=settings.telegram_chat_rate_per_second)
            try:
                await line.telegram.start(polling=self.background and school.telegram_mode == "polling")
            except Exception as exc:  # a wrong token must not take the other schools down
                log.error("school %s: its Telegram bot did not start: %s", school.code, describe(exc))
                line.telegram = None
        base = (settings.public_base_url or "").rstrip("/")
        twilio: dict[str, Any] = {
            "account_sid": settings.twilio_account_sid or "", "auth_token": settings.twilio_auth_token or "",
            "api_base_url": settings.twilio_api_base_url, "clock": self.clock, "inbox": self.inbox,
            "rate_per_second": settings.twilio_messages_per_second, "owner": school.code,
            "status_callback": f"{base}/webhooks/whatsapp/{school.code}/status" if base else None}
        if school.twilio_whatsapp_from:
            line.whatsapp = WhatsAppChannel(sender=school.twilio_whatsapp_from,
                                            content_sids=settings.content_sids, **twilio)
            await line.whatsapp.start()
        if school.twilio_sms_from:
            line.sms = SmsChannel(sender=school.twilio_sms_from, content_sids={}, **twilio)
            await line.sms.start()
        for client in line.clients:
            self.sender.add(client)
        self.schools[school.code] = line
        log.info("school %s: its own %s", school.code, ", ".join(school.kinds))

    async def _stop_school(self, code: str) -> None:
        line = self.schools.pop(code)
        for client in line.clients:
            await self.sender.remove((client.name, code))
            try:
                await client.stop()
            except Exception as exc:
                log.warning("school %s: %s channel did not stop cleanly: %s", code, client.name, describe(exc))

    async def watch(self) -> None:
        """The background process: reload when the file changes (and at once on :meth:`poke`)."""
        self._poked = asyncio.Event()
        while True:
            try:
                await asyncio.wait_for(self._poked.wait(), timeout=CHECK_SECONDS)
            except TimeoutError:
                pass
            self._poked.clear()
            try:
                await self.reload_if_changed()
            except Exception as exc:
                log.error("CHANNELS_FILE reload failed: %s", describe(exc))

    def poke(self) -> None:
        """SIGHUP: look at the file now."""
        poked = getattr(self, "_poked", None)
        if poked is not None:
            poked.set()
