"""The ASGI app: webhooks, health, the simulator; its lifespan runs channels, sender and scheduler."""

from __future__ import annotations

import asyncio
import gc
import hmac
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.channels.simulator import SimulatorChannel, payload_to_inbound
from bot.channels.sms import SmsChannel
from bot.channels.telegram import MalformedUpdate, TelegramChannel, update_to_inbound
from bot.channels.whatsapp import WhatsAppChannel, form_to_inbound, signature_is_valid
from bot.channels_file import load_channels
from bot.dashboard import Dashboard
from bot.district import District
from bot.favicon import favicon
from domain.clock import Clock, SystemClock
from bot.flood import FloodGuard
from bot.inbox import Inbox
from bot.leader import Leadership
from bot.metrics import prometheus
from bot.logs import install as install_log_redaction
from bot.logs import register_secrets, settings_secrets
from bot.sender import ChannelClient, Sender
from bot.settings import Settings
from bot.web import BadInput, ClientGone, TooLarge, read_body, read_json
from handlers import router_model
from templates.render import preload as preload_templates
from handlers.turn import Policy
from bot.jobs import SchoolScheduler
from storage.channel_health import lane_health
from storage.db import make_engine, make_sessionmaker
from storage.delivery import record_delivery
from storage.inbox_health import forget, parked_count, stale_parts
from storage.transient import describe

log = logging.getLogger(__name__)
# How often a sender in the background process (beside web workers, which cannot call it) looks
# for due rows while idle. On PostgreSQL it is also woken by every outbox write's NOTIFY, so the
# scan only finds retries coming due; on SQLite the scan is what wakes it (a read without the
# write lock, so it does not hold up the web worker).
BACKGROUND_POLL_SECONDS = {"sqlite": 0.05, "postgresql": 0.2}
STALE_UPDATE = timedelta(minutes=1)  # stored this long and unprocessed: its worker died
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
ROUTER_PRELOAD_DELAY = 1.0  # seconds after start-up: the model loads once the server answers
GC_YOUNG_THRESHOLD = 7000  # objects allocated between collections of the youngest ones (Python: 700)


@dataclass
class Services:
    """What the running app holds; tests reach the same objects through ``app.state.services``."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    inbox: Inbox
    sender: Sender
    telegram: TelegramChannel | None = None
    whatsapp: WhatsAppChannel | None = None
    simulator: SimulatorChannel | None = None
    sms: SmsChannel | None = None
    scheduler: SchoolScheduler | None = None
    district: District | None = None  # the schools' own channels (CHANNELS_FILE)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    # Loops that end only when cancelled (scheduler leadership, CHANNELS_FILE watch).
    watchers: list[asyncio.Task[Any]] = field(default_factory=list)


# Where `jembatan serve` listens (set by it from --host/--port, inherited by its workers and the
# background process): links in messages point there when PUBLIC_BASE_URL is unset. Not a
# setting anyone writes, so not in Settings or .env.example.
SERVED_AT = "JEMBATAN_SERVED_AT"


def policy_from(settings: Settings) -> Policy:
    return Policy(default_language=settings.default_language, default_timezone=settings.school_timezone,
                  answer_limit_hours=settings.concern_answer_limit_hours,
                  link_code_ttl_hours=settings.link_code_ttl_hours, sms_enabled=settings.sms_enabled,
                  simulator_enabled=settings.simulator_enabled, public_base_url=settings.public_base_url,
                  served_at=os.environ.get(SERVED_AT), costs=settings.costs)


def create_app(settings: Settings | None = None, *, clock: Clock | None = None,
               run_scheduler: bool = True, run_sender: bool = True, background: bool = True,
               sender_poll_seconds: float | None = None, sender_listens: bool = False) -> Starlette:
    """Build the app; nothing connects until the lifespan starts.

    ``background=False`` makes a web worker of several (``jembatan serve --workers N``): it
    answers webhooks and writes the outbox, while the one background process (``jembatan
    scheduler``) polls Telegram, sends, runs the scheduler and picks up updates a killed worker
    left behind.
    """
    settings = settings or Settings()
    clock = clock or SystemClock()
    channels = load_channels(settings.channels_file, default_mode=settings.telegram_mode,
                             twilio_account=bool(settings.twilio_account_sid and settings.twilio_auth_token))
    # Whoever configured logging (the CLI, uvicorn, a test), these secrets never reach it.
    register_secrets(settings_secrets(settings) + channels.secrets)
    install_log_redaction()
    state: dict[str, Services] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        sessions = make_sessionmaker(engine)
        router_model.configure(settings.router_model)
        # Load the router's model in a thread soon after start-up, rather than on the first
        # family's message; not at once, so that reading it does not slow the server's start.
        loop = asyncio.get_running_loop()
        loop.call_later(ROUTER_PRELOAD_DELAY, lambda: loop.run_in_executor(None, preload_router))
        loop.run_in_executor(None, preload_templates)  # small: at once, before the first webhooks
        inbox = Inbox(sessions, clock=clock, policy=policy_from(settings),
                      simulator_enabled=settings.simulator_enabled,
                      flood=FloodGuard(settings.inbound_rate_per_minute, settings.inbound_burst))
        clients: list[ChannelClient] = []
        simulator = telegram = None
        if settings.simulator_enabled:
            simulator = SimulatorChannel(inbox, guarded=settings.simulator_guarded, secret=settings.simulator_secret,
                                         secure_cookie=(settings.public_base_url or "").startswith("https://"))
            if settings.simulator_guarded and not settings.simulator_secret:
                log.warning("SIMULATOR=on beside real channels without SIMULATOR_SECRET: the simulator stays locked")
            clients.append(simulator)
        if settings.telegram_enabled:
            telegram = TelegramChannel(token=settings.telegram_bot_token or "",
                                       base_url=settings.telegram_api_base_url, inbox=inbox,
                                       rate_per_second=settings.telegram_rate_per_second,
                                       chat_rate_per_second=settings.telegram_chat_rate_per_second)
            clients.append(telegram)
        whatsapp = sms = None
        twilio = {"account_sid": settings.twilio_account_sid or "", "auth_token": settings.twilio_auth_token or "",
                  "api_base_url": settings.twilio_api_base_url, "clock": clock, "inbox": inbox,
                  "rate_per_second": settings.twilio_messages_per_second,
                  "status_callback": f"{settings.public_base_url.rstrip('/')}/webhooks/whatsapp/status"
                  if settings.public_base_url else None}
        if settings.whatsapp_enabled:
            whatsapp = WhatsAppChannel(sender=settings.twilio_whatsapp_from or "",
                                       content_sids=settings.content_sids, **twilio)  # type: ignore[arg-type]
        if settings.sms_enabled:
            sms = SmsChannel(sender=settings.twilio_sms_from or "", content_sids={}, **twilio)  # type: ignore[arg-type]
        for twilio_channel in (whatsapp, sms):
            if twilio_channel is not None:
                await twilio_channel.start()
                clients.append(twilio_channel)
        sender = Sender(sessions, clients, clock=clock, simulator_enabled=settings.simulator_enabled,
                        listen=sender_listens)
        inbox.on_outbox = sender.notify
        services = Services(settings, engine, sessions, inbox, sender, telegram, whatsapp, simulator, sms)
        state["services"] = app.state.services = services
        district = services.district = District(settings, sessions, inbox, sender, clock, background, channels)
        await district.start()
        if background and settings.channels_file:
            services.watchers.append(asyncio.create_task(district.watch(), name="channels-file"))
        if simulator is not None:
            app.router.routes.extend(simulator.routes())
        if telegram is not None:
            await telegram.start(polling=background and settings.telegram_mode == "polling")
        try:
            if background:
                await inbox.recover()
        except (SQLAlchemyError, OSError) as exc:  # start anyway: /healthz tells what is wrong
            log.error("could not recover unprocessed updates (database unavailable?): %s", describe(exc))
        if run_sender:
            poll = sender_poll_seconds if sender_poll_seconds is not None else 1.0
            if sender_listens and sender_poll_seconds is None:
                poll = BACKGROUND_POLL_SECONDS.get(engine.dialect.name, 0.2)
            services.tasks.append(asyncio.create_task(sender.run(idle_seconds=poll),
                                                      name="outbox-sender"))
        leadership = None
        if run_scheduler:
            def lead() -> None:
                """This process runs the scheduler (the one holder of the advisory lock)."""
                scheduler = SchoolScheduler(
                    sessions, database_url=settings.database_url, clock=clock,
                    simulator_enabled=settings.simulator_enabled, default_language=settings.default_language,
                    on_outbox=sender.notify,
                    recover=(lambda: inbox.recover(older_than=STALE_UPDATE)) if background else None,
                    status_sources=_status_sources(whatsapp, sms, district),
                    concern_auto_close_days=settings.concern_auto_close_days)
                scheduler.start()
                services.scheduler = scheduler

            def follow() -> None:
                if services.scheduler is not None:
                    services.scheduler.shutdown()
                    services.scheduler = None

            def on_outbox() -> None:
                sender.notify()
                if services.scheduler is not None:
                    services.scheduler.wake()

            inbox.on_outbox = on_outbox
            leadership = Leadership(engine, clock, lead=lead, follow=follow)
            await leadership.try_lead()
            services.watchers.append(asyncio.create_task(leadership.run(), name="scheduler-leadership"))
        try:
            yield
        finally:
            sender.stop()
            for watcher in services.watchers:
                watcher.cancel()
            await asyncio.gather(*services.watchers, return_exceptions=True)
            for task in services.tasks:
                try:
                    await asyncio.wait_for(task, timeout=5)
                except (TimeoutError, asyncio.CancelledError):
                    task.cancel()
            await _forget_heartbeats(sessions, (["sender"] if run_sender else [])
                                     + (["scheduler"] if run_scheduler else []))
            await district.stop()
            if telegram is not None:
                await telegram.stop()
            for twilio_channel in (whatsapp, sms):
                if twilio_channel is not None:
                    await twilio_channel.stop()
            await engine.dispose()

    async def healthz(request: Request) -> Response:
        services = state.get("services")
        if services is None:
            return JSONResponse({"status": "starting", "database": "unknown"}, status_code=503)
        try:
            async with services.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            async with services.sessions() as session:
                parked = await parked_count(session)
                down = await stale_parts(session, clock.now())
        except (SQLAlchemyError, OSError) as exc:
            log.warning("health check: database unreachable: %s", describe(exc))
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        body: dict[str, Any] = {"status": "degraded" if down else "ok", "database": "ok"}
        body.update({part: "down" for part in down})  # nothing sends or schedules: page someone
        if parked:  # reported, not a failure: the service runs, an operator has work to do
            body["parked"] = parked
        return JSONResponse(body, status_code=503 if down else 200)

    def configured_lanes(services: Services) -> list[tuple[str, str]]:
        lanes = [(c.name, "") for c in (services.telegram, services.whatsapp, services.sms) if c is not None]
        if services.district is not None:
            lanes += [(c.name, code) for code, line in services.district.schools.items() for c in line.clients]
        return lanes

    async def channels_health(request: Request) -> Response:
        """Per bot and sender: queued, oldest unsent, last sent (``GET /healthz/channels``)."""
        services = state.get("services")
        if services is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        try:
            async with services.sessions() as session:
                lanes = await lane_health(session, configured_lanes(services))
        except (SQLAlchemyError, OSError) as exc:
            log.warning("channel health: database unreachable: %s", describe(exc))
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        now = clock.now()
        return JSONResponse({"status": "ok", "channels": [lane.as_json(now) for lane in lanes]})

    async def metrics(request: Request) -> Response:
        """Prometheus text format: sent, queued and oldest unsent per channel and school; 429s."""
        services = state.get("services")
        if services is None:
            return Response("", status_code=503)
        try:
            async with services.sessions() as session:
                lanes = await lane_health(session, configured_lanes(services))
        except (SQLAlchemyError, OSError) as exc:
            log.warning("metrics: database unreachable: %s", describe(exc))
            return Response("# database unreachable\n", status_code=503, media_type="text/plain")
        return Response(prometheus(lanes, services.sender.throttled, clock.now()),
                        media_type="text/plain; version=0.0.4; charset=utf-8")

    async def telegram_webhook(request: Request) -> Response:
        services = state["services"]
        secret = settings.telegram_webhook_secret
        if services.telegram is None or settings.telegram_mode != "webhook" or not secret:
            return JSONResponse({"error": "the Telegram webhook is not enabled"}, status_code=404)
        return await telegram_update(request, services.telegram, secret)

    async def school_telegram_webhook(request: Request) -> Response:
        """A school's own bot (CHANNELS_FILE): its own secret, people known only in that school."""
        district = state["services"].district
        await district.reload_if_changed()
        line = district.line(request.path_params["code"])
        if line is None or line.telegram is None or not line.config.telegram_webhook_secret:
            return JSONResponse({"error": "no Telegram webhook for this school"}, status_code=404)
        return await telegram_update(request, line.telegram, line.config.telegram_webhook_secret)

    async def telegram_update(request: Request, telegram: TelegramChannel, secret: str) -> Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return JSONResponse({"error": "forbidden"}, status_code=403)
        update = await read_json(request)
        if not isinstance(update.get("update_id"), int) or isinstance(update.get("update_id"), bool):
            raise BadInput("an Update needs an integer update_id")
        try:
            inbound = update_to_inbound(update, telegram.bot)  # checked once, and answered as read
        except MalformedUpdate as exc:
            raise BadInput(str(exc)) from exc
        try:
            await telegram.receive(update, inbound)
        except (SQLAlchemyError, OSError) as exc:
            log.error("telegram update not stored (database): %s", describe(exc))
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        return JSONResponse({"ok": True})

    async def twilio_form(request: Request) -> dict[str, str] | Response:
        """The signed form of a Twilio webhook, or the refusal to send back."""
        services = state["services"]
        if services.whatsapp is None and services.sms is None and not services.district.schools:
            return JSONResponse({"error": "no Twilio channel is enabled"}, status_code=404)
        body = await read_body(request)
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadInput(f"malformed form: {exc}") from exc
        if any("\x00" in part for pair in pairs for part in pair):
            raise BadInput("malformed form: NUL character")
        form = dict(pairs)
        # Behind a TLS proxy we see http://internal-host: sign against the public origin instead.
        origin = (settings.public_base_url or str(request.base_url)).rstrip("/")
        url = origin + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if not signature_is_valid(settings.twilio_auth_token, url, form,
                                  request.headers.get("X-Twilio-Signature", "")):
            return JSONResponse({"error": "forbidden"}, status_code=403)
        return form

    async def whatsapp_webhook(request: Request) -> Response:
        return await twilio_message(request, "whatsapp")

    async def sms_webhook(request: Request) -> Response:
        return await twilio_message(request, "sms")

    async def school_whatsapp_webhook(request: Request) -> Response:
        return await school_twilio_message(request, "whatsapp")

    async def school_sms_webhook(request: Request) -> Response:
        return await school_twilio_message(request, "sms")

    async def school_twilio_message(request: Request, channel: str) -> Response:
        """A message to a school's own WhatsApp or SMS sender: answered within that school."""
        district = state["services"].district
        await district.reload_if_changed()
        code = request.path_params["code"]
        line = district.line(code)
        if line is None or getattr(line, channel) is None:
            return JSONResponse({"error": f"no {channel} sender for this school"}, status_code=404)
        return await twilio_message(request, channel, bot=code)

    async def school_whatsapp_status(request: Request) -> Response:
        district = state["services"].district
        await district.reload_if_changed()
        line = district.line(request.path_params["code"])
        if line is None or (line.whatsapp is None and line.sms is None):
            return JSONResponse({"error": "no Twilio sender for this school"}, status_code=404)
        return await whatsapp_status(request)

    async def twilio_message(request: Request, channel: str, bot: str = "") -> Response:
        if not bot and getattr(state["services"], channel) is None:
            return JSONResponse({"error": f"the {channel} channel is not enabled"}, status_code=404)
        form = await twilio_form(request)
        if isinstance(form, Response):
            return form
        sid = form.get("MessageSid", "")
        if not sid or not form.get("From"):
            raise BadInput("a Twilio message needs MessageSid and From")
        try:
            await state["services"].inbox.accept(channel, sid, form, bot)
        except (SQLAlchemyError, OSError) as exc:
            log.error("%s message not stored (database): %s", channel, describe(exc))
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        return Response(EMPTY_TWIML, media_type="text/xml")

    async def whatsapp_status(request: Request) -> Response:
        form = await twilio_form(request)
        if isinstance(form, Response):
            return form
        sid, status = form.get("MessageSid", ""), form.get("MessageStatus", "")
        if not sid or not status:
            raise BadInput("a status callback needs MessageSid and MessageStatus")
        services = state["services"]
        try:
            async with services.sessions() as session, session.begin():
                await record_delivery(session, channels=("whatsapp", "sms"), external_id=sid, status=status,
                                      error_code=form.get("ErrorCode") or None, now=clock.now(),
                                      simulator_enabled=settings.simulator_enabled)
        except (SQLAlchemyError, OSError) as exc:
            log.error("status callback not stored (database): %s", describe(exc))
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        services.sender.notify()
        return Response(EMPTY_TWIML, media_type="text/xml")

    async def bad_input(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=400)

    async def client_gone(request: Request, exc: Exception) -> Response:
        reason = exc.reason if isinstance(exc, ClientGone) else "gone"
        log.info("%s %s: client %s before its body was in; nothing accepted",
                 request.method, request.url.path, reason)
        return Response(status_code=408, headers={"Connection": "close"})  # read by no one, or the slow

    async def too_large(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": "request body over 1 MiB"}, status_code=413)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
        Route("/healthz/channels", channels_health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/webhooks/telegram", telegram_webhook, methods=["POST"]),
        Route("/webhooks/whatsapp", whatsapp_webhook, methods=["POST"]),
        Route("/webhooks/whatsapp/status", whatsapp_status, methods=["POST"]),
        Route("/webhooks/sms", sms_webhook, methods=["POST"]),
        # A school's own channels (CHANNELS_FILE, contract section 11).
        Route("/webhooks/telegram/{code}", school_telegram_webhook, methods=["POST"]),
        Route("/webhooks/whatsapp/{code}/status", school_whatsapp_status, methods=["POST"]),
        Route("/webhooks/whatsapp/{code}", school_whatsapp_webhook, methods=["POST"]),
        Route("/webhooks/sms/{code}", school_sms_webhook, methods=["POST"]),
        *Dashboard(settings, clock).routes(),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={BadInput: bad_input, TooLarge: too_large, ClientGone: client_gone,
                                        json.JSONDecodeError: bad_input})
    return app


def _status_sources(whatsapp: WhatsAppChannel | None, sms: SmsChannel | None,
                    district: District) -> dict[str, Any]:
    """Where the scheduler asks Twilio how a message fared: any client of the deployment's one
    Twilio account finds any of its messages, whichever sender sent it."""
    sources: dict[str, Any] = {}
    for client in [whatsapp, sms, *(c for line in district.schools.values() for c in line.clients)]:
        if client is not None and client.name in ("whatsapp", "sms"):
            sources.setdefault(client.name, client.fetch_status)
    return sources


async def _forget_heartbeats(sessions: async_sessionmaker[AsyncSession], parts: list[str]) -> None:
    if not parts:
        return
    try:
        async with sessions() as session, session.begin():
            await forget(session, parts)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("heartbeats not cleared at shutdown: %s", describe(exc))


def offline_inbox(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Inbox:
    """An inbox that reads every channel's updates without starting any channel: for the CLI's
    `jembatan inbox retry`, whose answers the running service's sender delivers."""
    inbox = Inbox(sessions, clock=SystemClock(), policy=policy_from(settings),
                  simulator_enabled=settings.simulator_enabled)
    inbox.register("telegram", update_to_inbound)
    inbox.register("simulator", payload_to_inbound)
    for channel in ("whatsapp", "sms"):
        inbox.register(channel, lambda form, channel=channel: form_to_inbound(form, channel))  # type: ignore[misc]
    return inbox


def web_worker_app() -> Starlette:
    """The app of one web worker among several (``uvicorn --factory bot.app:web_worker_app``):
    webhooks, simulator and dashboard only; the background process does the rest."""
    app = create_app(background=False, run_scheduler=False, run_sender=False)
    settle_heap()
    return app


def preload_router() -> None:
    """The router's model, read in a thread a moment after start-up; in a process that settled its
    heap at start (:func:`settle_heap`), what start-up and the first moments built since (the
    model, the Telegram Bot, the templates' words) is then settled too: left to the collector, its
    first full collections took 100 to 220 ms each, every webhook waiting (BENCHMARKS.md)."""
    router_model.learned_layer()
    if gc.get_freeze_count():
        gc.freeze()


def settle_heap() -> None:
    """For a process that serves until it stops (``jembatan serve``, its workers): what start-up
    built (modules, SQLAlchemy's mappers, the models: about 110,000 objects) lives as long as the
    process, so the garbage collector stops scanning it. A full collection then takes a fraction
    of a millisecond instead of 40 to 100 ms (a pause in every webhook waiting meanwhile); and
    young objects, which a message makes thousands of, are collected less often. Not for tests,
    which build and drop many apps in one process."""
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


async def run_background(settings: Settings, stop: asyncio.Event,
                         reload: Callable[[Callable[[], None]], None] | None = None) -> None:
    """The one background process beside the web workers: Telegram polling, the sender, the
    scheduler and recovery of updates a killed worker left, until ``stop`` is set. ``reload``
    is given the function that re-reads CHANNELS_FILE now (the CLI ties it to SIGHUP)."""
    # Web workers cannot call this sender: it listens for their NOTIFY (PostgreSQL) and looks
    # at the outbox often (BACKGROUND_POLL_SECONDS).
    app = create_app(settings, background=True, sender_listens=True)
    async with app.router.lifespan_context(app):
        district = app.state.services.district
        if reload is not None and district is not None:
            reload(district.poke)
        await stop.wait()
