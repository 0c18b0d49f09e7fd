"""The scheduler: periodic escalation of unanswered concerns and enrolment confirmations, auto-close
of quiet answered concerns, and meeting reminders.

Escalation due times live on the concerns, so that tick keeps no state. Reminders are date jobs
in APScheduler's SQLAlchemy job store in the same database, so they survive restarts; one
process runs the scheduler (two schedulers must never share a job store).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.clock import Clock
from handlers.auto_close import close_quiet_concerns
from handlers.bk_series import send_due_parts
from handlers.digest import send_due_digests
from handlers.enrolment import escalate_unanswered as escalate_enrolments
from handlers.follow_ups import send_due_check_ins
from handlers import reminders
from handlers.escalation import escalate_overdue
from handlers.violence_reports import escalate_unanswered_reports
from storage.db import sync_url
from storage.flood_buckets import forget_idle_buckets
from storage.inbox_health import beat
from storage.status_reconciler import FetchStatus, reconcile_statuses
from storage.transient import describe

log = logging.getLogger(__name__)
JOBS_TABLE = "apscheduler_jobs"
RECOVERY_SECONDS = 15  # how often unprocessed and due-for-retry updates are looked for
HEARTBEAT_SECONDS = 10  # /healthz calls a part down after a minute without one


def job_store_url(database_url: str) -> str:
    """The job store's (synchronous) URL: the same database, except on SQLite.

    APScheduler's store is synchronous and runs on the event loop; on SQLite, whose lock covers
    the whole file, it would wait on our own open async transaction and deadlock. There the jobs
    live in a sibling file (``jembatan.db`` → ``jembatan-jobs.db``).
    """
    url = make_url(sync_url(database_url))
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database)
        url = url.set(database=str(path.with_name(f"{path.stem}-jobs{path.suffix or '.db'}")))
    return url.render_as_string(hide_password=False)


class SchoolScheduler:
    """The AsyncIOScheduler with its jobs; start it inside the running loop."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, database_url: str, clock: Clock,
                 simulator_enabled: bool, default_language: str, on_outbox: Callable[[], None],
                 recover: Callable[[], Awaitable[int]] | None = None,
                 status_sources: dict[str, FetchStatus] | None = None,
                 concern_auto_close_days: float = 3.0) -> None:
        self.sessions, self.clock = sessions, clock
        self.concern_auto_close_days = concern_auto_close_days
        self.simulator_enabled, self.default_language, self.on_outbox = simulator_enabled, default_language, on_outbox
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(url=job_store_url(database_url), tablename=JOBS_TABLE),
                       "ticks": MemoryJobStore()},
            job_defaults={"coalesce": True, "misfire_grace_time": None})
        reminders.install(reminders.Runtime(sessions, clock, simulator_enabled, default_language, on_outbox))
        self._sync_task: asyncio.Task[None] | None = None
        self.recover = recover
        self.status_sources = status_sources or {}

    def start(self) -> None:
        self.scheduler.add_job(self.escalation_tick, "interval", minutes=1, id="escalation", jobstore="ticks",
                               replace_existing=True, misfire_grace_time=300)
        # Quiet answered concerns close themselves; the state is on the rows, as for escalation.
        self.scheduler.add_job(self.auto_close_tick, "interval", minutes=5, id="auto-close", jobstore="ticks",
                               replace_existing=True, misfire_grace_time=300)
        self.scheduler.add_job(self.sync_reminders, "interval", minutes=1, id="reminder-sync", jobstore="ticks",
                               replace_existing=True, misfire_grace_time=300)
        self.scheduler.add_job(self.check_in_tick, "interval", minutes=5, id="check-ins", jobstore="ticks",
                               replace_existing=True, misfire_grace_time=300)
        # Enrolment confirmations wait as rows (Enrolment.created_at, escalated_at): no state here.
        self.scheduler.add_job(self.enrolment_tick, "interval", minutes=15, id="enrolment-escalation",
                               jobstore="ticks", replace_existing=True, misfire_grace_time=900)
        # Digests and explainer parts wait as rows (DigestItem, BkSeriesMember): no state here.
        self.scheduler.add_job(self.digest_tick, "interval", minutes=1, id="digests",
                               jobstore="ticks", replace_existing=True, misfire_grace_time=300)
        self.scheduler.add_job(self.bk_series_tick, "interval", minutes=5, id="bk-series",
                               jobstore="ticks", replace_existing=True, misfire_grace_time=300)
        if self.status_sources:
            self.scheduler.add_job(self.status_tick, "interval", minutes=5, id="status-reconciler",
                                   jobstore="ticks", replace_existing=True, misfire_grace_time=300)
        if self.recover is not None:  # also retries failed updates whose next attempt is due
            self.scheduler.add_job(self.recovery_tick, "interval", seconds=RECOVERY_SECONDS,
                                   id="inbox-recovery", jobstore="ticks", replace_existing=True,
                                   misfire_grace_time=300)
        self.scheduler.add_job(self.housekeeping_tick, "interval", hours=1, id="housekeeping",
                               jobstore="ticks", replace_existing=True, misfire_grace_time=3600)
        self.scheduler.add_job(self.heartbeat_tick, "interval", seconds=HEARTBEAT_SECONDS, id="heartbeat",
                               jobstore="ticks", replace_existing=True, misfire_grace_time=60)
        self.scheduler.start()
        asyncio.get_running_loop().create_task(self.heartbeat_tick())
        self.wake()

    def shutdown(self) -> None:
        self.scheduler.shutdown(wait=False)
        reminders.install(None)

    def wake(self) -> None:
        """Something changed (an RSVP, say): bring the reminder jobs up to date soon."""
        if self._sync_task is None or self._sync_task.done():
            self._sync_task = asyncio.get_running_loop().create_task(self.sync_reminders())

    async def sync_reminders(self) -> None:
        try:
            added = await reminders.sync(self.scheduler, self.sessions, now=self.clock.now())
        except Exception:  # a database hiccup must not stop the scheduler
            log.exception("reminder sync failed; the next tick retries")
            return
        if added:
            log.info("scheduled %d reminder(s)", added)

    async def status_tick(self) -> None:
        """Ask Twilio about messages whose status callback never came."""
        for channel, fetch in self.status_sources.items():
            count = await reconcile_statuses(self.sessions, channel=channel, fetch=fetch, now=self.clock.now(),
                                             simulator_enabled=self.simulator_enabled)
            if count:
                log.info("%d %s status(es) fetched from the API", count, channel)
                self.on_outbox()

    async def heartbeat_tick(self) -> None:
        """Tell `/healthz` the scheduler is alive."""
        try:
            async with self.sessions() as session, session.begin():
                await beat(session, "scheduler", self.clock.now())
        except Exception as exc:  # no database: /healthz says so itself
            log.warning("scheduler heartbeat not recorded: %s", describe(exc))

    async def housekeeping_tick(self) -> None:
        """Forget the flood-control buckets of senders long quiet."""
        async with self.sessions() as session, session.begin():
            await forget_idle_buckets(session, self.clock.now())

    async def recovery_tick(self) -> None:
        """Updates a killed web worker stored but never processed (handled here, a minute on),
        and failed ones whose next attempt is due."""
        assert self.recover is not None
        count = await self.recover()
        if count:
            log.warning("processed %d update(s) a worker left unprocessed", count)
            self.on_outbox()

    async def digest_tick(self) -> None:
        count = await send_due_digests(self.sessions, now=self.clock.now(),
                                       simulator_enabled=self.simulator_enabled,
                                       default_language=self.default_language)
        if count:
            log.info("sent %d daily digest(s)", count)
            self.on_outbox()

    async def bk_series_tick(self) -> None:
        count = await send_due_parts(self.sessions, now=self.clock.now(),
                                     simulator_enabled=self.simulator_enabled,
                                     default_language=self.default_language)
        if count:
            log.info("sent %d part(s) of the guru BK explainer series", count)
            self.on_outbox()

    async def enrolment_tick(self) -> None:
        count = await escalate_enrolments(self.sessions, now=self.clock.now(),
                                          simulator_enabled=self.simulator_enabled,
                                          default_language=self.default_language)
        if count:
            log.info("sent %d unanswered enrolment confirmation(s) to the office", count)
            self.on_outbox()

    async def check_in_tick(self) -> None:
        count = await send_due_check_ins(self.sessions, now=self.clock.now(), simulator_enabled=self.simulator_enabled,
                                         default_language=self.default_language)
        if count:
            log.info("asked %d famil(ies) how things are going", count)
            self.on_outbox()

    async def auto_close_tick(self) -> None:
        count = await close_quiet_concerns(self.sessions, now=self.clock.now(), days=self.concern_auto_close_days,
                                           simulator_enabled=self.simulator_enabled,
                                           default_language=self.default_language)
        if count:
            log.info("closed %d answered concern(s) with no news", count)
            self.on_outbox()

    async def escalation_tick(self) -> None:
        count = await escalate_overdue(self.sessions, now=self.clock.now(), simulator_enabled=self.simulator_enabled,
                                       default_language=self.default_language)
        if count:
            log.info("escalated %d unanswered concern(s)", count)
            self.on_outbox()
        reports = await escalate_unanswered_reports(self.sessions, now=self.clock.now(),
                                                    simulator_enabled=self.simulator_enabled,
                                                    default_language=self.default_language)
        if reports:
            log.info("sent %d unanswered violence report(s) to the principal", reports)
            self.on_outbox()
