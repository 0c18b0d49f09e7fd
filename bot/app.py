"""The ASGI app: webhooks, health, the simulator; its lifespan runs channels, sender and scheduler."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.channels.simulator import SimulatorChannel
from bot.channels.telegram import TelegramChannel
from bot.clock import Clock, SystemClock
from bot.inbox import Inbox
from bot.sender import ChannelClient, Sender
from bot.settings import Settings
from bot.web import BadInput, TooLarge, read_json
from handlers.turn import Policy
from scheduler.jobs import build_scheduler
from storage.db import make_engine, make_sessionmaker

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What the running app holds; tests reach the same objects through ``app.state.services``."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    inbox: Inbox
    sender: Sender
    telegram: TelegramChannel | None = None
    simulator: SimulatorChannel | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


def policy_from(settings: Settings) -> Policy:
    return Policy(default_language=settings.default_language, default_timezone=settings.school_timezone,
                  answer_limit_hours=settings.concern_answer_limit_hours,
                  link_code_ttl_hours=settings.link_code_ttl_hours)


def create_app(settings: Settings | None = None, *, clock: Clock | None = None,
               run_scheduler: bool = True, run_sender: bool = True) -> Starlette:
    """Build the app; nothing connects until the lifespan starts."""
    settings = settings or Settings()
    clock = clock or SystemClock()
    state: dict[str, Services] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        sessions = make_sessionmaker(engine)
        inbox = Inbox(sessions, clock=clock, policy=policy_from(settings),
                      simulator_enabled=settings.simulator_enabled)
        clients: list[ChannelClient] = []
        simulator = telegram = None
        if settings.simulator_enabled:
            simulator = SimulatorChannel(inbox)
            clients.append(simulator)
        if settings.telegram_enabled:
            telegram = TelegramChannel(token=settings.telegram_bot_token or "",
                                       base_url=settings.telegram_api_base_url, inbox=inbox,
                                       rate_per_second=settings.telegram_rate_per_second,
                                       chat_rate_per_second=settings.telegram_chat_rate_per_second)
            clients.append(telegram)
        sender = Sender(sessions, clients, clock=clock)
        inbox.on_outbox = sender.notify
        services = Services(settings, engine, sessions, inbox, sender, telegram, simulator)
        state["services"] = app.state.services = services
        if simulator is not None:
            app.router.routes.extend(simulator.routes())
        if telegram is not None:
            await telegram.start(polling=settings.telegram_mode == "polling")
        try:
            await inbox.recover()
        except (SQLAlchemyError, OSError) as exc:  # start anyway: /healthz tells what is wrong
            log.error("could not recover unprocessed updates (database unavailable?): %s", exc)
        if run_sender:
            services.tasks.append(asyncio.create_task(sender.run(), name="outbox-sender"))
        scheduler = None
        if run_scheduler:
            scheduler = build_scheduler(sessions, clock=clock, simulator_enabled=settings.simulator_enabled,
                                        default_language=settings.default_language, on_outbox=sender.notify)
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=False)
            sender.stop()
            for task in services.tasks:
                try:
                    await asyncio.wait_for(task, timeout=5)
                except (TimeoutError, asyncio.CancelledError):
                    task.cancel()
            if telegram is not None:
                await telegram.stop()
            await engine.dispose()

    async def healthz(request: Request) -> Response:
        services = state.get("services")
        if services is None:
            return JSONResponse({"status": "starting", "database": "unknown"}, status_code=503)
        try:
            async with services.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            log.warning("health check: database unreachable: %s", exc)
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    async def telegram_webhook(request: Request) -> Response:
        services = state["services"]
        secret = settings.telegram_webhook_secret
        if services.telegram is None or settings.telegram_mode != "webhook" or not secret:
            return JSONResponse({"error": "the Telegram webhook is not enabled"}, status_code=404)
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return JSONResponse({"error": "forbidden"}, status_code=403)
        update = await read_json(request)
        if not isinstance(update.get("update_id"), int) or isinstance(update.get("update_id"), bool):
            raise BadInput("an Update needs an integer update_id")
        try:
            await services.telegram.receive(update)
        except (SQLAlchemyError, OSError) as exc:
            log.error("telegram update not stored (database): %s", exc)
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        return JSONResponse({"ok": True})

    async def bad_input(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=400)

    async def too_large(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": "request body over 1 MiB"}, status_code=413)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/webhooks/telegram", telegram_webhook, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={BadInput: bad_input, TooLarge: too_large,
                                        json.JSONDecodeError: bad_input})
    return app
