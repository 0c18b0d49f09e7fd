"""The SQL statements of one parent's concern, each with the frames of ours that sent it.

Runs the real app in process (as ``bench.profile_inbound``) against a 20-family school, links three
Telegram parents and one WhatsApp parent, then prints every statement and commit of a few concerns
(a family's first, a follow-up on the same topic, a WhatsApp one) with where in bot/, handlers/
and storage/ it came from: the list to read when cutting round trips.

Run from the repository root: ``.venv/bin/python -m bench.trace_statements [DATABASE_URL]``
(a PostgreSQL URL of your own: it is emptied first).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

import greenlet
import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import event

from bench.common import CONCERNS, PUBLIC, TG_SECRET, telegram_headers, write_school
from bench.profile_inbound import telegram_concern, whatsapp_concern
from bot.app import create_app
from bot.settings import Settings
from storage.db import upgrade
from storage.roster import import_roster
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_updates import contact_update
from tests.fakes.twilio_api import SANDBOX_FROM, FakeTwilioAPI

OURS = ("bot/", "handlers/", "storage/")


def where() -> str:
    """Our frames (innermost first) of the coroutine whose statement SQLAlchemy is sending."""
    parent = greenlet.getcurrent().parent  # SQLAlchemy runs the driver call in a child greenlet
    frames = traceback.extract_stack(parent.gr_frame) if parent is not None and parent.gr_frame else []
    root = str(Path(__file__).resolve().parent.parent) + "/"
    ours = [f for f in frames if f.filename.startswith(root) and f.filename[len(root):].startswith(OURS)]
    return " < ".join(f"{f.filename[len(root):]}:{f.lineno}:{f.name}" for f in ours[::-1][:4])


async def main(url: str) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="jb-trace-"))
    school = write_school(workdir / "roster", 20)
    url = url or f"sqlite+aiosqlite:///{workdir / 'jembatan.db'}"
    if url.startswith("postgresql"):
        from bench.common import reset_postgres

        reset_postgres(url)
    await asyncio.to_thread(upgrade, url)
    async with FakeBotAPI() as telegram, FakeTwilioAPI() as twilio:
        settings = Settings(database_url=url, simulator=False, telegram_bot_token=telegram.token,
                            telegram_api_base_url=telegram.base_url, telegram_mode="webhook",
                            telegram_webhook_secret=TG_SECRET, twilio_account_sid=twilio.account_sid,
                            twilio_auth_token=twilio.auth_token, twilio_whatsapp_from=SANDBOX_FROM,
                            twilio_api_base_url=twilio.base_url, public_base_url=PUBLIC, log_level="WARNING",
                            _env_file=None)  # type: ignore[call-arg]
        app = create_app(settings, run_scheduler=False, run_sender=False)
        async with LifespanManager(app) as manager:
            services = app.state.services
            await import_roster(services.sessions, school.folder, school_code="BENCH", school_name="SMP Bench")
            log: list[str] = []

            def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
                log.append(f"{' '.join(sql.split())[:70]:70s} <- {where()}")

            event.listen(services.engine.sync_engine, "before_cursor_execute", statement)
            event.listen(services.engine.sync_engine, "commit", lambda conn: log.append("-- COMMIT"))
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app),
                                         base_url="http://internal") as client:
                for n in range(3):
                    await client.post("/webhooks/telegram", headers=telegram_headers(), content=json.dumps(
                        contact_update(n + 1, school.telegram_user(n), school.guardians[n].lstrip("+"))).encode())
                for k in range(3):
                    log.clear()
                    path, body, headers = telegram_concern(school, k, 1000 + k, CONCERNS[k])
                    assert (await client.post(path, content=body, headers=headers)).status_code == 200
                    print(f"=== Telegram concern {k + 1}: {sum(not line.startswith('--') for line in log)} statements")
                    print("\n".join(log))
                log.clear()  # the first family again, on the same topic: a follow-up
                path, body, headers = telegram_concern(school, 0, 1100, CONCERNS[0])
                assert (await client.post(path, content=body, headers=headers)).status_code == 200
                print(f"=== Telegram follow-up: {sum(not line.startswith('--') for line in log)} statements")
                print("\n".join(log))
                for k in range(2):  # the first message of a WhatsApp parent links them
                    log.clear()
                    path, body, headers = whatsapp_concern(school, 10, CONCERNS[k], twilio.auth_token)
                    assert (await client.post(path, content=body, headers=headers)).status_code == 200
                print(f"=== WhatsApp concern: {sum(not line.startswith('--') for line in log)} statements")
                print("\n".join(log))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else ""))
