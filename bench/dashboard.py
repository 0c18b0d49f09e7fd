"""Dashboard page times with a generated 1,000-student school: is every page under 300 ms?

    .venv/bin/python bench/dashboard.py                      # a temporary SQLite database
    .venv/bin/python bench/dashboard.py --database-url postgresql+asyncpg://postgres@127.0.0.1/jb_bench

A PostgreSQL database must be empty (it is migrated and filled here). The school has a year
under way: 30 classes, about 1,700 guardians (most on Telegram or WhatsApp, some blocked or
opted out), 1,500 concerns, 8 school-wide meetings with invitations, RSVPs and attendance,
20 announcements and their deliveries. Each page is requested as the principal, a homeroom
teacher and a counselor; the figures are the app's own Server-Timing (query and render time),
median and worst of the runs, and their ratio to the 300 ms budget.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, inspect
from sqlmodel import select

from bot.app import create_app
from domain.clock import ManualClock
from bot.settings import Settings
from storage.dashboard_access import issue_link
from storage.db import make_engine, make_sessionmaker, sync_url, upgrade
from storage.models import (
    Agreement,
    AuditEntry,
    Broadcast,
    ChannelAccount,
    Concern,
    ConcernMessage,
    Guardian,
    GuardianStudent,
    Meeting,
    MeetingFamily,
    MeetingInvitation,
    MeetingSlot,
    MeetingStudent,
    OutboxMessage,
    School,
    SchoolClass,
    Staff,
    Student,
)

NOW = datetime(2027, 3, 15, 2, 0, tzinfo=UTC)  # a Monday morning in Jakarta, mid school year
YEAR_START = datetime(2026, 6, 30, 17, 0, tzinfo=UTC)  # 1 July 2026, 00.00 WIB
BUDGET_MS = 300.0
CATEGORIES = ["academic", "absence", "bullying", "behaviour", "emotions", "friendships", "family",
              "motivation", "study_career", "fees", "documents"]
MEETING_TYPES = ["tahun_ajaran_baru", "rapat_komite", "pembagian_rapor", "pertemuan_khusus",
                 "persiapan_ujian", "rapat_komite", "pembagian_rapor", "konsultasi"]


class Ids:
    """Explicit primary keys, so thousands of rows go in as a few bulk inserts."""

    def __init__(self) -> None:
        self.next: dict[str, int] = {}

    def __call__(self, table: str) -> int:
        self.next[table] = self.next.get(table, 0) + 1
        return self.next[table]


def generate(students: int, seed: int = 7) -> dict[Any, list[dict[str, Any]]]:
    """Rows of a school with a year under way, table by table."""
    rnd, ids = random.Random(seed), Ids()
    rows: dict[Any, list[dict[str, Any]]] = {model: [] for model in (
        School, SchoolClass, Staff, Student, Guardian, GuardianStudent, ChannelAccount, Concern, ConcernMessage,
        Meeting, MeetingSlot, MeetingFamily, MeetingStudent, Broadcast, OutboxMessage, MeetingInvitation,
        Agreement, AuditEntry)}  # in foreign-key order
    phone = iter(f"+62812{n:07d}" for n in range(1, 10_000_000))

    def at(start: datetime, end: datetime) -> datetime:
        return start + timedelta(seconds=rnd.uniform(0, (end - start).total_seconds()))

    rows[School].append({"id": 1, "code": "BENCH", "name": "SMP Negeri Bench", "timezone": "Asia/Jakarta",
                         "office_contact": ""})
    classes = [(grade, f"{roman}-{letter}") for grade, roman in ((7, "VII"), (8, "VIII"), (9, "IX"))
               for letter in "ABCDEFGHIJ"]
    for grade, name in classes:
        rows[SchoolClass].append({"id": ids("class"), "school_id": 1, "name": name, "grade": grade})
    class_ids = {name: n + 1 for n, (_, name) in enumerate(classes)}
    grade_of = dict((name, grade) for grade, name in classes)

    def staff(role: str, name: str, **extra: Any) -> int:
        staff_id = ids("staff")
        rows[Staff].append({"id": staff_id, "school_id": 1, "staff_code": f"S-{staff_id:03d}", "name": name,
                            "role": role, "phone": next(phone), "language": "id", "homeroom_class": None,
                            "classes": "", "subjects": "", "office_hours": "", **extra})
        return staff_id

    principal = staff("principal", "Kepala Sekolah Bench")
    staff("admin", "Tata Usaha Bench")
    counselors = {grade: staff("counselor", f"Guru BK {grade}", classes=str(grade)) for grade in (7, 8, 9)}
    homeroom = {}
    for grade, name in classes:
        same_grade = [c for g, c in classes if g == grade]
        taught = [name, *rnd.sample([c for c in same_grade if c != name], 4)]
        homeroom[name] = staff("teacher", f"Wali Kelas {name}", homeroom_class=name, classes=";".join(taught),
                               subjects=rnd.choice(["Matematika", "IPA", "IPS", "Bahasa Indonesia"]))

    families: list[tuple[list[int], list[int]]] = []  # (student ids, guardian ids)
    student_class: dict[int, str] = {}
    for n in range(students):
        student_id = ids("student")
        class_name = classes[n % len(classes)][1]
        student_class[student_id] = class_name
        rows[Student].append({"id": student_id, "school_id": 1, "nisn": f"{9_000_000_000 + n}",
                              "name": f"Siswa {n:04d} Bench", "class_id": class_ids[class_name]})
        if families and rnd.random() < 0.1:  # a younger sibling: the same parents
            families[-1][0].append(student_id)
            continue
        guardians = []
        for relation in (["ayah", "ibu"] if rnd.random() < 0.6 else [rnd.choice(["ayah", "ibu", "wali"])]):
            guardian_id = ids("guardian")
            guardians.append(guardian_id)
            rows[Guardian].append({"id": guardian_id, "school_id": 1, "name": f"Wali {guardian_id:04d} {relation}",
                                   "phone": next(phone), "language": "id", "opted_out": rnd.random() < 0.04,
                                   "_relation": relation})
        families.append(([student_id], guardians))
    relation_of = {g["id"]: g.pop("_relation") for g in rows[Guardian]}
    for student_ids, guardian_ids in families:
        if rnd.random() < 0.03:  # an orang tua asuh stands in for parents far away
            proxy = ids("guardian")
            rows[Guardian].append({"id": proxy, "school_id": 1, "name": f"Orang Tua Asuh {proxy:04d}",
                                   "phone": next(phone), "language": "id", "opted_out": False})
            relation_of[proxy] = "orang tua asuh"
        else:
            proxy = None
        for student_id in student_ids:
            for guardian_id in guardian_ids + ([proxy] if proxy else []):
                rows[GuardianStudent].append({"id": ids("gs"), "school_id": 1, "guardian_id": guardian_id,
                                              "student_id": student_id, "relation": relation_of[guardian_id],
                                              "proxy": guardian_id == proxy})
    accounts: dict[int, int] = {}
    for guardian in rows[Guardian]:
        if rnd.random() < 0.8:
            account_id = ids("account")
            accounts[guardian["id"]] = account_id
            channel = rnd.choice(["telegram", "whatsapp"])
            rows[ChannelAccount].append({
                "id": account_id, "channel": channel, "external_id": f"{channel}-{account_id}",
                "chat_id": f"{account_id}", "display_name": "", "phone": guardian["phone"],
                "linked_at": YEAR_START, "last_seen_at": at(YEAR_START, NOW), "blocked": rnd.random() < 0.03,
                "preferred": False})

    def outbox(guardian_id: int, template: str, created: datetime, **extra: Any) -> int:
        outbox_id = ids("outbox")
        account = accounts.get(guardian_id)
        reached = account is not None
        rows[OutboxMessage].append({
            "id": outbox_id, "school_id": 1, "channel": "telegram" if reached else "none",
            "chat_id": str(account or ""), "account_id": account, "guardian_id": guardian_id, "template": template,
            "text": "…", "buttons": [], "media": [], "priority": 10, "created_at": created,
            "status": "sent" if reached else "held", "attempts": 1 if reached else 0,
            "delivery": rnd.choice(["delivered", "read", "read", "failed"]) if reached else None,
            "sent_at": created if reached else None, "next_attempt_at": created,
            "error": None if reached else "unreachable", "broadcast_id": None, **extra})
        return outbox_id

    for n in range(1500):
        student_ids, guardian_ids = rnd.choice(families)
        student_id = rnd.choice(student_ids)
        category = rnd.choice(CATEGORIES)
        counselor = category in ("bullying", "behaviour", "emotions", "friendships", "family", "motivation")
        class_name = student_class[student_id]
        staff_id = counselors[grade_of[class_name]] if counselor else homeroom[class_name]
        created = at(YEAR_START, NOW)
        answered = created + timedelta(minutes=rnd.uniform(10, 3600)) if rnd.random() < 0.85 else None
        status = "open" if answered is None else rnd.choice(["answered", "closed", "closed"])
        concern_id = ids("concern")
        rows[Concern].append({
            "id": concern_id, "school_id": 1, "guardian_id": guardian_ids[0], "student_id": student_id,
            "staff_id": staff_id, "staff_role": "counselor" if counselor else "homeroom_teacher", "category": category,
            "status": status, "created_at": created, "first_answer_at": answered if answered and answered < NOW else None,
            "last_activity_at": answered or created, "due_at": created + timedelta(hours=24),
            "closed_at": answered if status == "closed" else None})
        rows[ConcernMessage].append({"id": ids("cm"), "concern_id": concern_id, "author": "guardian",
                                     "staff_id": None, "text": f"Pesan orang tua {n} <b>dengan tanda</b>",
                                     "media": [], "created_at": created})
        if answered:
            rows[ConcernMessage].append({"id": ids("cm"), "concern_id": concern_id, "author": "staff",
                                         "staff_id": staff_id, "text": "Terima kasih, kami tindak lanjuti.",
                                         "media": [], "created_at": answered})

    for n, kind in enumerate(MEETING_TYPES):
        meeting_id = ids("meeting")
        day = YEAR_START + timedelta(days=20 + n * 33, hours=1)
        rows[Meeting].append({"id": meeting_id, "school_id": 1, "type": kind, "title": f"Pertemuan {n + 1}",
                              "organizer_staff_id": principal, "audience": "school", "location": "Aula",
                              "room_capacity": 60, "status": "invited", "created_at": day - timedelta(days=14)})
        slots = []
        for s in range(16):
            slot_id = ids("slot")
            slots.append(slot_id)
            rows[MeetingSlot].append({"id": slot_id, "school_id": 1, "meeting_id": meeting_id,
                                      "starts_at": day + timedelta(minutes=20 * s),
                                      "ends_at": day + timedelta(minutes=20 * s + 20), "capacity": 60, "booked": 0})
        past = day < NOW
        for student_ids, guardian_ids in families:
            family_id = ids("family")
            response = rnd.choice([None, "attend", "attend", "attend", "decline", "other_time"])
            rows[MeetingFamily].append({
                "id": family_id, "school_id": 1, "meeting_id": meeting_id,
                "family_key": ",".join(map(str, sorted(student_ids))), "response": response,
                "attended": past and response == "attend" and rnd.random() < 0.8,
                "slot_id": rnd.choice(slots) if response == "attend" else None,
                "slot_state": "booked" if response == "attend" else None})
            for student_id in student_ids:
                rows[MeetingStudent].append({"id": ids("ms"), "school_id": 1, "meeting_id": meeting_id,
                                             "student_id": student_id, "family_id": family_id})
            for guardian_id in guardian_ids:
                message = outbox(guardian_id, f"invitation_{kind}", day - timedelta(days=14))
                rows[MeetingInvitation].append({
                    "id": ids("invitation"), "school_id": 1, "meeting_id": meeting_id, "family_id": family_id,
                    "guardian_id": guardian_id, "proxy": False, "outbox_id": message,
                    "created_at": day - timedelta(days=14)})

    for n in range(20):
        broadcast_id = ids("broadcast")
        created = at(YEAR_START, NOW)
        audience = rnd.choice(["school", "grade:7", "grade:8", "grade:9"])
        rows[Broadcast].append({"id": broadcast_id, "school_id": 1, "author_staff_id": rnd.choice(
            [principal, *counselors.values()]), "audience": audience, "text": f"Pengumuman {n + 1}",
            "urgent": False, "created_at": created, "send_at": created, "recipients": 0, "opted_out": 0,
            "unreachable": 0})
        grade = None if audience == "school" else int(audience.split(":")[1])
        recipients = {g for student_ids, guardian_ids in families for g in guardian_ids
                      if grade is None or any(grade_of[student_class[s]] == grade for s in student_ids)}
        for guardian_id in recipients:
            outbox(guardian_id, "announcement", created, broadcast_id=broadcast_id)
        rows[Broadcast][-1]["recipients"] = len(recipients)

    for _ in range(60):
        student_ids, _guardians = rnd.choice(families)
        rows[Agreement].append({"id": ids("agreement"), "school_id": 1, "student_id": student_ids[0],
                                "staff_id": rnd.choice(list(counselors.values())), "text": "Belajar bersama",
                                "check_in_at": at(NOW - timedelta(days=10), NOW + timedelta(days=20)),
                                "created_at": at(YEAR_START, NOW)})
    for _ in range(200):
        rows[AuditEntry].append({"id": ids("audit"), "school_id": 1, "staff_id": principal, "action": "sign_in",
                                 "subject": "", "at": at(YEAR_START, NOW)})
    return rows


async def fill(database_url: str, rows: dict[Any, list[dict[str, Any]]]) -> None:
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    async with sessions() as session, session.begin():
        for model, items in rows.items():
            for start in range(0, len(items), 2000):
                await session.execute(insert(model), items[start:start + 2000])
    if engine.dialect.name == "postgresql":  # explicit ids: move the sequences past them
        async with engine.begin() as conn:
            for model in rows:
                table = model.__tablename__
                await conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 1)) FROM {table}")
    await engine.dispose()


async def measure(database_url: str, runs: int) -> list[tuple[str, str, list[float]]]:
    from asgi_lifespan import LifespanManager

    settings = Settings(_env_file=None, database_url=database_url, simulator=False,  # type: ignore[call-arg]
                        telegram_bot_token=None)
    app = create_app(settings, clock=ManualClock(NOW), run_scheduler=False, run_sender=False)
    results = []
    async with LifespanManager(app) as manager:
        sessions = app.state.services.sessions
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            async with sessions() as session:
                people = {role: (await session.exec(select(Staff).where(Staff.role == role).order_by(
                    Staff.id))).first() for role in ("principal", "teacher", "counselor")}
            for role, person in people.items():
                assert person is not None
                async with sessions() as session, session.begin():
                    token = await issue_link(session, person, now=NOW)
                signed = await client.post(f"/dashboard/login/{token}", headers={"Origin": "http://bench"})
                cookie = {"Cookie": f"jembatan_dashboard={signed.cookies['jembatan_dashboard']}"}
                client.cookies.clear()
                pages = ["/dashboard", f"/dashboard/classes/{person.homeroom_class or 'VII-A'}", "/dashboard/meetings",
                         "/dashboard/meetings/3", "/dashboard/concerns", "/dashboard/broadcasts"]
                if role == "principal":
                    pages += ["/dashboard/concerns/1", "/dashboard/audit", "/dashboard?format=csv&table=unreachable",
                              "/dashboard/meetings?format=csv&table=by_class"]
                for page in pages:
                    timings = []
                    for run in range(runs + 1):
                        started = time.perf_counter()
                        response = await client.get(page, headers=cookie)
                        elapsed = (time.perf_counter() - started) * 1000
                        assert response.status_code == 200, (page, response.status_code)
                        server = response.headers.get("server-timing")
                        if run:  # the first request warms caches (templates, the signing key)
                            timings.append(float(server.split("dur=")[1]) if server else elapsed)
                    results.append((role, page, timings))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="an empty database (default: a temporary SQLite file)")
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        from sqlalchemy import create_engine

        sync = create_engine(sync_url(url))
        if "alembic_version" in inspect(sync).get_table_names():
            print(f"{url}: not empty; give an empty database", file=sys.stderr)
            return 1
        sync.dispose()
        started = time.perf_counter()
        upgrade(url)
        rows = generate(args.students)
        asyncio.run(fill(url, rows))
        counts = {model.__tablename__: len(items) for model, items in rows.items()}
        print(f"generated in {time.perf_counter() - started:.1f} s on {url.split(':')[0]}: " + ", ".join(
            f"{counts[name]} {name}" for name in ("student", "guardian", "channel_account", "concern",
                                                    "meeting_family", "outbox_message", "broadcast")))
        results = asyncio.run(measure(url, args.runs))
    print(f"\n{'who':<10} {'page':<44} {'median ms':>10} {'worst ms':>9} {'worst/budget':>13}")
    worst = 0.0
    for role, page, timings in results:
        median, top = statistics.median(timings), max(timings)
        worst = max(worst, top)
        print(f"{role:<10} {page:<44} {median:>10.1f} {top:>9.1f} {top / BUDGET_MS:>13.2f}")
    print(f"\nslowest page: {worst:.1f} ms = {worst / BUDGET_MS:.2f} of the {BUDGET_MS:.0f} ms budget "
          f"({'within' if worst < BUDGET_MS else 'OVER'} budget)")
    return 0 if worst < BUDGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
