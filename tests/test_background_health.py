"""`/healthz` watches the background: the sender and the scheduler each record a heartbeat, and a
part that stopped ticking for a minute is reported down (503, the part named), while an app
that never ran them (a web worker alone, a test app) answers 200 as before."""

from __future__ import annotations

import asyncio
import time

import httpx
from asgi_lifespan import LifespanManager
from sqlmodel import select

from bot.app import Services, create_app
from domain.clock import ManualClock
from storage.models import Heartbeat
from tests.harness import MONDAY_MORNING, settings_for


async def _heartbeats(services: Services) -> dict[str, Heartbeat]:
    async with services.sessions() as session:
        return {row.part: row for row in (await session.exec(select(Heartbeat))).all()}


async def test_a_part_that_stops_ticking_is_reported_down_by_name(database_url: str) -> None:
    clock = ManualClock(MONDAY_MORNING)
    app = create_app(settings_for(database_url), clock=clock, run_scheduler=True, run_sender=True)
    async with LifespanManager(app) as manager:
        services: Services = app.state.services
        deadline = time.monotonic() + 30
        while set(await _heartbeats(services)) != {"sender", "scheduler"}:  # their first ticks
            assert time.monotonic() < deadline, "the sender and scheduler never ticked"
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://t") as client:
            healthy = await client.get("/healthz")
            assert (healthy.status_code, healthy.json()) == (200, {"status": "ok", "database": "ok"})

            # The sender dies (its task ends); the scheduler goes on ticking.
            services.sender.stop()
            await asyncio.gather(*services.tasks)
            clock.advance(seconds=59)
            assert (await client.get("/healthz")).status_code == 200  # not yet a minute
            clock.advance(seconds=2)
            assert services.scheduler is not None
            await services.scheduler.heartbeat_tick()  # what its interval job does
            sick = await client.get("/healthz")
            assert sick.status_code == 503
            assert sick.json() == {"status": "degraded", "database": "ok", "sender": "down"}

            services.scheduler.scheduler.pause()  # now the scheduler stops ticking as well
            clock.advance(minutes=2)
            both = await client.get("/healthz")
            assert both.status_code == 503
            assert both.json() == {"status": "degraded", "database": "ok", "sender": "down", "scheduler": "down"}
            services.scheduler.scheduler.resume()
            await services.scheduler.heartbeat_tick()  # back: only the sender is still named
            assert (await client.get("/healthz")).json() == {"status": "degraded", "database": "ok",
                                                            "sender": "down"}

    # Stopped on purpose: not "down". A web worker alone (no background here) answers 200.
    clock.advance(hours=3)
    worker = create_app(settings_for(database_url), clock=clock, background=False, run_scheduler=False,
                        run_sender=False)
    async with LifespanManager(worker) as manager:
        assert "scheduler" not in await _heartbeats(worker.state.services)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://t") as client:
            response = await client.get("/healthz")
            assert (response.status_code, response.json()) == (200, {"status": "ok", "database": "ok"})
