"""The `jembatan` command line (contract section 2): serve, db, demo, roster import, letters, link-code.

Exit codes: 0 success, 1 user error (message on stderr says what and where), 2 usage error.
With --json a command prints exactly one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.channels_file import ChannelsConfig, ChannelsFileError, check_codes, load_channels
from bot.logs import configure_logging, log_config, settings_secrets
from bot.settings import Settings


class UserError(Exception):
    """A mistake of the operator's: bad file, unknown id, invalid value."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jembatan", description="Jembatan: the school–family bridge bot")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the web app, the channels and the scheduler")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1,
                       help="web worker processes; with more than one, a background process "
                            "(`jembatan scheduler`) is started beside them")
    serve.add_argument("--sender-process", action="store_true",
                       help="with one worker too: the sender, the scheduler and Telegram polling run in "
                            "that supervised background process, the web process only answers")

    commands.add_parser("scheduler", help="the background process beside `serve --workers N`: "
                                          "sender, scheduler, Telegram polling")

    channels = commands.add_parser("channels", help="the schools' own channels (CHANNELS_FILE)")
    channels_commands = channels.add_subparsers(dest="channels_command", required=True)
    reload = channels_commands.add_parser(
        "reload", help="check CHANNELS_FILE and have the running processes use it (no restart)")
    reload.add_argument("--json", action="store_true")

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply migrations to DATABASE_URL")

    demo = commands.add_parser("demo", help="seed the fictional demo school")
    demo.add_argument("--if-empty", action="store_true", help="only when no school exists yet")
    demo.add_argument("--json", action="store_true")

    roster = commands.add_parser("roster", help="roster files")
    roster_commands = roster.add_subparsers(dest="roster_command", required=True)
    imp = roster_commands.add_parser("import", help="import staff, students and guardians")
    imp.add_argument("path", type=Path)
    imp.add_argument("--school", default=None, help="school code")
    imp.add_argument("--dry-run", action="store_true")
    imp.add_argument("--json", action="store_true")

    meeting = commands.add_parser("meeting", help="meetings with families")
    meeting_commands = meeting.add_subparsers(dest="meeting_command", required=True)
    create = meeting_commands.add_parser("create", help="create a meeting from a YAML file")
    create.add_argument("path", type=Path, metavar="FILE.yaml")
    create.add_argument("--json", action="store_true")
    invite = meeting_commands.add_parser("invite", help="send the invitations to the meeting's audience")
    invite.add_argument("id", type=int)
    invite.add_argument("--json", action="store_true")
    schedule = meeting_commands.add_parser(
        "schedule", help="give every invited family a time at once (the most families inside their availability)")
    schedule.add_argument("id", type=int)
    schedule.add_argument("--json", action="store_true")
    cancel = meeting_commands.add_parser("cancel", help="cancel a meeting and tell everyone invited")
    cancel.add_argument("id", type=int)
    cancel.add_argument("--note", default=None, help="why, shown to the families")
    cancel.add_argument("--json", action="store_true")
    move = meeting_commands.add_parser("move", help="move a meeting (all its slots) and tell everyone invited")
    move.add_argument("id", type=int)
    move.add_argument("--to", required=True, metavar="YYYY-MM-DDTHH:MM", help="new start, school time")
    move.add_argument("--note", default=None)
    move.add_argument("--json", action="store_true")

    letter = meeting_commands.add_parser(
        "letter", help="the official letter (invitation or surat panggilan) of each invited family, as PDF")
    letter.add_argument("id", type=int)
    letter.add_argument("--out", type=Path, default=None, metavar="FILE.pdf")
    letter.add_argument("--json", action="store_true")

    broadcast = commands.add_parser("broadcast", help="an announcement to an audience's families")
    broadcast.add_argument("--audience", required=True, help="school, grade:7, class:VII-A, student:NISN,... joined by +")
    broadcast.add_argument("--text", required=True)
    broadcast.add_argument("--author", required=True, metavar="STAFF_ID")
    broadcast.add_argument("--urgent", action="store_true", help="send at night too (otherwise 21.00-06.00 waits)")
    broadcast.add_argument("--json", action="store_true")

    report = commands.add_parser("report", help="reports for the school")
    report_commands = report.add_subparsers(dest="report_command", required=True)
    participation = report_commands.add_parser("participation", help="who was invited, reached, answered, came")
    participation.add_argument("meeting_id", type=int, nargs="?", metavar="MEETING_ID")
    participation.add_argument("--csv", type=Path, default=None, metavar="FILE")
    participation.add_argument("--json", action="store_true")

    table = report_commands.add_parser("timetable", help="a meeting's timetable: per slot, who comes for which child")
    table.add_argument("meeting_id", type=int, metavar="MEETING_ID")
    table.add_argument("--csv", type=Path, default=None, metavar="FILE")
    table.add_argument("--json", action="store_true")

    casebook = report_commands.add_parser("casebook", help="one student's counseling case book (confidential)")
    casebook.add_argument("nisn", metavar="NISN")
    casebook.add_argument("--pdf", type=Path, default=None, metavar="FILE")
    casebook.add_argument("--school", default=None, help="school code (when the NISN is in several)")
    casebook.add_argument("--json", action="store_true")

    consent = report_commands.add_parser("consent", help="each guardian's consent: when, how, withdrawn")
    consent.add_argument("--csv", type=Path, default=None, metavar="FILE")
    consent.add_argument("--json", action="store_true")

    purge = commands.add_parser("purge", help="delete closed concerns and old updates per the retention "
                                              "rule, and the data of guardians who asked (hapus data)")
    purge.add_argument("--older-than", type=int, required=True, metavar="DAYS")
    purge.add_argument("--json", action="store_true")
    export = commands.add_parser("export-person", help="everything held about one guardian, as JSON")
    export.add_argument("phone", metavar="PHONE")
    export.add_argument("--by", metavar="STAFF_ID", default=None, help="who asks (recorded in the audit log)")
    export.add_argument("--json", action="store_true")

    inbox = commands.add_parser("inbox", help="stored updates that could not be processed")
    inbox_commands = inbox.add_subparsers(dest="inbox_command", required=True)
    parked = inbox_commands.add_parser("parked", help="list the parked updates (failed too often)")
    parked.add_argument("--json", action="store_true")
    retry = inbox_commands.add_parser("retry", help="process parked updates again (once the cause is fixed)")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every parked update")
    which.add_argument("ids", type=int, nargs="*", default=[], metavar="ID",
                       help="parked update numbers (from `jembatan inbox parked`)")
    retry.add_argument("--json", action="store_true")
    letters = commands.add_parser("letters", help="enrolment letters with a family code, one A4 page "
                                                  "per student, to be carried home")
    letters.add_argument("audience", metavar="AUDIENCE", help="school, grade:7, class:VII-A, student:NISN,... joined by +")
    letters.add_argument("--out", type=Path, default=None, metavar="FILE.pdf")
    letters.add_argument("--school", default=None, help="only this school (default: every school's "
                                                         "students of the audience)")
    letters.add_argument("--json", action="store_true")

    link = commands.add_parser("link-code", help="a one-time code that links a Telegram account")
    link.add_argument("who", metavar="PHONE_OR_ID")
    link.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"jembatan: configuration error: {exc}", file=sys.stderr)
        return 1
    try:
        channels = load_channels(settings.channels_file, default_mode=settings.telegram_mode,
                                 twilio_account=bool(settings.twilio_account_sid and settings.twilio_auth_token))
    except ChannelsFileError as exc:
        print(f"jembatan: {exc}", file=sys.stderr)
        return 1
    configure_logging(settings.log_level, settings_secrets(settings) + channels.secrets, settings.log_format)
    try:
        if args.command in ("serve", "scheduler") and channels.schools:
            asyncio.run(_check_channel_schools(settings, channels))
        if args.command == "serve":
            return _serve(settings, args.host, args.port, args.workers, sender_process=args.sender_process)
        if args.command == "scheduler":
            return _background(settings)
        result = asyncio.run(_run(settings, args))
    except (UserError, ChannelsFileError) as exc:
        print(f"jembatan: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    if result is not None:
        _print(result, getattr(args, "json", False))
    return 0


async def _check_channel_schools(settings: Settings, channels: ChannelsConfig) -> None:
    """Every school CHANNELS_FILE names must exist (a typo would leave a school on no bot)."""
    from sqlmodel import select

    from storage.db import make_engine, make_sessionmaker
    from storage.models import School

    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            known = set((await session.exec(select(School.code))).all())
    except Exception:  # no database yet (or not migrated): serve reports it at /healthz
        return
    finally:
        await engine.dispose()
    check_codes(channels, known)


async def _channels_reload(sessions: Any, settings: Settings) -> tuple[dict[str, Any], str]:
    """Check the file against the database and publish its routes; the running processes see
    the file's new modification time and start or stop the schools' channels themselves."""
    from sqlmodel import select

    from storage.channel_routes import save_routes
    from storage.models import School

    if not settings.channels_file:
        raise UserError("CHANNELS_FILE is not set")
    channels = load_channels(settings.channels_file, default_mode=settings.telegram_mode,
                             twilio_account=bool(settings.twilio_account_sid and settings.twilio_auth_token))
    async with sessions() as session, session.begin():
        check_codes(channels, set((await session.exec(select(School.code))).all()))
        await save_routes(session, {code: school.kinds for code, school in channels.schools.items()},
                          {code: school.whatsapp_daily_tier for code, school in channels.schools.items()})
    os.utime(settings.channels_file)  # a save that kept the time still counts as a change
    schools = {code: list(school.kinds) for code, school in sorted(channels.schools.items())}
    lines = [f"{code}: {', '.join(kinds)}" for code, kinds in schools.items()]
    return ({"file": settings.channels_file, "schools": schools},
            "\n".join([*lines, "Running processes use it within a few seconds (no restart)."]))


def _write_csv(path: Path | None, text: str) -> None:
    """The --csv FILE of a report, if asked for; an unwritable path is the user's error."""
    if path is None:
        return
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: {exc.strerror}") from exc


def _print(result: tuple[dict[str, Any], str], as_json: bool) -> None:
    data, human = result
    print(json.dumps(data, ensure_ascii=False) if as_json else human)


async def _run(settings: Settings, args: argparse.Namespace) -> tuple[dict[str, Any], str] | None:
    from storage.db import make_engine, make_sessionmaker, upgrade_async

    if args.command == "db":
        await upgrade_async(settings.database_url)
        return {"database": "upgraded"}, "Database is up to date."
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    try:
        if args.command == "channels":
            return await _channels_reload(sessions, settings)
        if args.command == "demo":
            return await _demo(sessions, settings, args.if_empty)
        if args.command == "roster":
            return await _roster_import(sessions, settings, args)
        if args.command == "link-code":
            return await _link_code(sessions, settings, args.who)
        if args.command == "inbox" and args.inbox_command == "parked":
            return await _inbox_parked(sessions)
        if args.command == "inbox":
            return await _inbox_retry(sessions, settings, args)
        if args.command == "letters":
            return await _letters(sessions, settings, args)
        if args.command == "meeting" and args.meeting_command == "create":
            return await _meeting_create(sessions, settings, args)
        if args.command == "broadcast":
            return await _broadcast(sessions, settings, args)
        if args.command == "report" and args.report_command == "consent":
            return await _report_consent(sessions, args)
        if args.command == "purge":
            return await _purge(sessions, args.older_than)
        if args.command == "export-person":
            return await _export_person(sessions, args.phone, args.by)
        if args.command in ("report", "meeting"):
            from bot import cli_counsel  # the counselor's papers: case book, official letters
        if args.command == "report" and args.report_command == "casebook":
            return await cli_counsel.report_casebook(sessions, args)
        if args.command == "meeting" and args.meeting_command == "letter":
            return await cli_counsel.meeting_letter(sessions, args, telegram_bot=await _bot_username(settings),
                                                    whatsapp_from=settings.twilio_whatsapp_from)
        if args.command == "report" and args.report_command == "timetable":
            return await _report_timetable(sessions, settings, args)
        if args.command == "report":
            return await _report_participation(sessions, args)
        if args.command == "meeting" and args.meeting_command == "schedule":
            return await _meeting_schedule(sessions, settings, args.id)
        if args.command == "meeting" and args.meeting_command in ("cancel", "move"):
            return await _meeting_change(sessions, settings, args)
        if args.command == "meeting" and args.meeting_command == "invite":
            return await _meeting_invite(sessions, settings, args.id)
    finally:
        await engine.dispose()
    return None


async def _demo(sessions, settings: Settings, if_empty: bool):  # type: ignore[no-untyped-def]
    from storage.demo import seed_demo

    result = await seed_demo(sessions, if_empty=if_empty)
    if result is None:
        return {"seeded": False}, "A school already exists; the demo school was not added."
    return ({"seeded": True, **result.as_json()},
            f"Demo school {result.school}: {result.students} students, {result.guardians} guardians, "
            f"{result.staff} staff, {result.classes} classes.")


async def _roster_import(sessions, settings: Settings, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from storage.roster import RosterError, import_roster

    if not args.path.exists():
        raise UserError(f"{args.path}: no such file or folder")
    try:
        result = await import_roster(sessions, args.path, school_code=args.school, dry_run=args.dry_run,
                                     timezone=settings.school_timezone)
    except RosterError as exc:
        if args.json:
            print(json.dumps({"school": args.school, "errors": exc.errors}, ensure_ascii=False))
        raise UserError("roster not imported, nothing was changed:\n" + "\n".join(exc.errors)) from exc
    verb = "would import" if args.dry_run else "imported"
    human = (f"{result.school}: {verb} {result.students} students, {result.guardians} guardians, "
             f"{result.staff} staff, {result.classes} classes ({result.created} created, {result.updated} updated).")
    if result.ignored_columns is not None:
        human += (f"\nDapodik export: {len(result.ignored_columns)} columns not read (NIK, No KK, accounts, "
                  f"income... are never stored); {result.left} student(s) marked as left.")
    return result.as_json(), human


async def _broadcast(sessions, settings: Settings, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from sqlmodel import select

    from handlers.broadcasts import NotAllowed, prepare_broadcast, send_broadcast, store_broadcast
    from storage.db import reading_sessions
    from storage.outbox import READ_ONLY, NeedsWrite
    from storage.meetings import AudienceError, parse_audience
    from storage.models import Staff, utcnow

    text = args.text.strip()
    if not text:
        raise UserError("--text: the announcement is empty")
    if len(text) > 3000:
        raise UserError(f"--text: {len(text)} characters; keep an announcement under 3000")
    try:
        parse_audience(args.audience)
    except AudienceError as exc:
        raise UserError(f"--audience: {exc}") from exc
    async def author_of(session):  # type: ignore[no-untyped-def]
        authors = list((await session.exec(select(Staff).where(Staff.staff_code == args.author))).all())
        if len(authors) != 1:
            raise UserError(f"--author: {args.author!r} is " + ("not a staff id" if not authors else
                                                                 "a staff id in several schools"))
        return authors[0]

    try:
        # Read and render the 1,000 messages without SQLite's write lock (webhooks and the sender
        # go on meanwhile), then write them in one short transaction.
        prepared = None
        async with reading_sessions(sessions)() as session, session.begin():
            session.info[READ_ONLY] = True
            try:
                prepared = await prepare_broadcast(session, author=await author_of(session), audience=args.audience,
                                                   text=text, now=utcnow(), urgent=args.urgent,
                                                   simulator_enabled=settings.simulator_enabled,
                                                   default_language=settings.default_language)
            except NeedsWrite:  # a recipient needs a new account: all in the one transaction
                prepared = None
        async with sessions() as session, session.begin():
            author = await author_of(session)
            if prepared is not None:
                result = await store_broadcast(session, prepared, author, settings.costs)
            else:
                result = await send_broadcast(session, author=author, audience=args.audience, text=text,
                                              now=utcnow(), simulator_enabled=settings.simulator_enabled,
                                              urgent=args.urgent, default_language=settings.default_language,
                                              costs=settings.costs)
    except NotAllowed as exc:
        raise UserError(str(exc)) from exc
    reach = result.reach.as_json(settings.costs.prices)
    human = (f"Announcement {result.id}: {result.recipients} guardian(s) will receive it; {result.opted_out} opted out, "
             f"{result.unreachable} without a chat account (phone them). A running `jembatan serve` sends it.\n"
             f"By Telegram {reach['telegram']}, by WhatsApp inside the 24-hour window {reach['whatsapp_in_window']} "
             f"and outside it (a paid template) {reach['whatsapp_template']}, by SMS {reach['sms']}: "
             "about Rp" + f"{reach['cost_idr']:,}".replace(",", ".") + ".")
    if result.batches:
        human += "\nWhatsApp's daily tier spreads the paid messages: " + ", ".join(
            f"{count} from {at.isoformat(timespec='minutes')}" for at, count in result.batches) + "."
    if not (reach["telegram"] or reach["whatsapp_in_window"] or reach["whatsapp_template"] or reach["sms"]):
        return result.as_json(), human.split("\n")[0]  # the simulator only: nothing to count or pay
    # The contract's keys, then how it goes: channels, cost, and the days the tier spreads it over.
    return {**result.as_json(), "channels": reach,
            "whatsapp_days": [{"at": at.isoformat(), "count": count} for at, count in result.batches]}, human


async def _report_participation(sessions, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from storage.models import Meeting
    from storage.reports import COLUMNS, participation, to_csv

    async with sessions() as session:
        if args.meeting_id is not None and await session.get(Meeting, args.meeting_id) is None:
            raise UserError(f"no meeting with id {args.meeting_id}")
        rows = await participation(session, args.meeting_id)
    _write_csv(args.csv, to_csv(rows))
    lines = [" ".join(f"{c:>11}" for c in COLUMNS)]
    for row in rows:
        data = row.as_json()
        lines.append(" ".join(f"{str(data[c])[:11]:>11}" for c in COLUMNS))
    return {"rows": [row.as_json() for row in rows]}, "\n".join(lines)


async def _report_consent(sessions, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from storage.privacy import CONSENT_COLUMNS, consent_csv, consent_record

    async with sessions() as session:
        rows = await consent_record(session)
    _write_csv(args.csv, consent_csv(rows))
    lines = ["  ".join(CONSENT_COLUMNS[1:])] + ["  ".join(str(row[c]) for c in CONSENT_COLUMNS[1:]) for row in rows]
    return {"guardians": rows}, "\n".join(lines)


async def _purge(sessions, days: int):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from storage.models import utcnow
    from storage.privacy import purge

    if days < 1:
        raise UserError("--older-than: at least 1 day")
    async with sessions() as session, session.begin():
        result = await purge(session, older_than=timedelta(days=days), now=utcnow())
    return result.as_json(), (
        f"Deleted {result.concerns} closed concern(s) with {result.concern_messages} message(s) and "
        f"{result.chat_messages} chat message(s), {result.inbox} stored update(s) older than {days} days; "
        f"erased the chat data of {result.guardians_erased} guardian(s) who asked.")


async def _export_person(sessions, who: str, by: str | None):  # type: ignore[no-untyped-def]
    from sqlmodel import select

    from storage.audit import record_action
    from storage.models import Staff, utcnow
    from storage.phones import InvalidPhone, normalize_phone
    from storage.privacy import export_person

    try:
        phone = normalize_phone(who)
    except InvalidPhone as exc:
        raise UserError(f"PHONE: {exc}") from exc
    async with sessions() as session, session.begin():
        try:
            data = await export_person(session, phone)
        except LookupError as exc:
            raise UserError(str(exc)) from exc
        if by is not None:
            staff = (await session.exec(select(Staff).where(Staff.staff_code == by))).first()
            if staff is None:
                raise UserError(f"--by: no staff member {by!r}")
            record_action(session, staff, "export_person", f"guardian:{phone[-4:]}", now=utcnow())
    return data, json.dumps(data, ensure_ascii=False, indent=2)


async def _report_timetable(sessions, settings: Settings, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    from storage.models import Meeting, School
    from storage.timetable import timetable

    async with sessions() as session:
        meeting = await session.get(Meeting, args.meeting_id)
        if meeting is None:
            raise UserError(f"no meeting with id {args.meeting_id}")
        school = await session.get(School, meeting.school_id)
        table = await timetable(session, meeting)
    _write_csv(args.csv, table.to_csv())
    zone = ZoneInfo(school.timezone if school else settings.school_timezone)
    lines = [f"Meeting {meeting.id}: {meeting.title}"]
    for slot in table.slots:
        lines.append(f"{slot.start.astimezone(zone):%Y-%m-%d %H:%M}-{slot.end.astimezone(zone):%H:%M}"
                     f"  {slot.room}  ({len(slot.families)}/{slot.capacity})")
        for family in slot.families:
            children = ", ".join(f"{name} ({class_name})" for name, class_name in family.children)
            lines.append(f"    {children} - {', '.join(family.guardians)}  [{family.state}]")
    if table.without_time:
        lines.append(f"Without a time ({len(table.without_time)}):")
        lines.extend("    " + ", ".join(f"{n} ({c})" for n, c in f.children) for f in table.without_time)
    lines.append(f"Declined: {len(table.declined)}")
    return table.as_json(), "\n".join(lines)


async def _meeting_schedule(sessions, settings: Settings, meeting_id: int):  # type: ignore[no-untyped-def]
    from handlers.meetings import UnknownMeeting
    from handlers.scheduling import MeetingNotSchedulable, schedule_meeting
    from storage.models import utcnow

    try:
        async with sessions() as session, session.begin():
            result = await schedule_meeting(session, meeting_id, now=utcnow(),
                                            simulator_enabled=settings.simulator_enabled,
                                            default_language=settings.default_language)
    except (UnknownMeeting, MeetingNotSchedulable) as exc:
        raise UserError(str(exc)) from exc
    return result.as_json(), (
        f"Meeting {meeting_id}: {result.assigned} of {result.families} families have a time "
        f"({result.matched_availability} inside the times they said they can come, of "
        f"{result.stated_availability} who said); {result.unassigned} without a time, {result.declined} declined. "
        f"{result.proposed} proposal(s) queued; a running `jembatan serve` delivers them.")


async def _meeting_change(sessions, settings: Settings, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from handlers.meetings import UnknownMeeting, change_meeting
    from storage.models import Meeting, School, utcnow

    new_start = None
    try:
        async with sessions() as session, session.begin():
            meeting = await session.get(Meeting, args.id)
            if meeting is None:
                raise UnknownMeeting(f"no meeting with id {args.id}")
            if args.meeting_command == "move":
                school = await session.get(School, meeting.school_id)
                try:
                    local = datetime.fromisoformat(args.to)
                except ValueError as exc:
                    raise UserError(f"--to: {args.to!r} is not a date and time like 2026-12-20T08:00") from exc
                if local.tzinfo is not None:
                    raise UserError("--to: give the school's local time, without a UTC offset")
                new_start = local.replace(tzinfo=ZoneInfo(school.timezone if school else settings.school_timezone))
                if new_start <= utcnow():
                    raise UserError(f"--to: {args.to} is in the past")
            told = await change_meeting(session, args.id, now=utcnow(), simulator_enabled=settings.simulator_enabled,
                                        default_language=settings.default_language,
                                        cancel=args.meeting_command == "cancel", new_start=new_start, note=args.note)
    except UnknownMeeting as exc:
        raise UserError(str(exc)) from exc
    verb = "cancelled" if args.meeting_command == "cancel" else "moved"
    return {"id": args.id, "status": verb, "told": told}, f"Meeting {args.id} {verb}; {told} invited guardian(s) told."


async def _meeting_invite(sessions, settings: Settings, meeting_id: int):  # type: ignore[no-untyped-def]
    from handlers.meetings import UnknownMeeting, invite_meeting
    from storage.models import utcnow

    try:
        async with sessions() as session, session.begin():
            result = await invite_meeting(session, meeting_id, now=utcnow(),
                                          simulator_enabled=settings.simulator_enabled,
                                          default_language=settings.default_language)
    except UnknownMeeting as exc:
        raise UserError(str(exc)) from exc
    return result.as_json(), (
        f"Meeting {meeting_id}: {result.invited} invitation(s) queued for {result.families} families"
        f" ({result.already} already invited, {result.unreachable} without a linked chat account: phone them)."
        " A running `jembatan serve` delivers them.")


async def _inbox_parked(sessions):  # type: ignore[no-untyped-def]
    from storage.inbox_health import parked_updates

    async with sessions() as session:
        rows = await parked_updates(session, limit=None)
    lines = [f"{r['id']:>6}  {r['channel']:<9} {r['received_at'][:16]}  {r['attempts']} attempt(s)  {r['error']}"
             for r in rows]
    return {"parked": rows}, "\n".join(lines) if lines else "No parked updates."


async def _inbox_retry(sessions, settings: Settings, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from sqlmodel import col, select

    from bot.app import offline_inbox
    from storage.models import InboxMessage

    if not args.all and not args.ids:
        raise UserError("name the parked updates to retry (IDs from `jembatan inbox parked`), or --all")
    if args.ids:
        async with sessions() as session:
            parked = set((await session.exec(select(InboxMessage.id).where(
                col(InboxMessage.id).in_(args.ids), col(InboxMessage.parked_at).is_not(None)))).all())
        missing = [str(i) for i in args.ids if i not in parked]
        if missing:
            raise UserError(f"ID: not a parked update: {', '.join(missing)} (see `jembatan inbox parked`)")
    outcome = await offline_inbox(settings, sessions).retry_parked(None if args.all else args.ids)
    data = {"retried": len(outcome), "processed": sorted(i for i, o in outcome.items() if o == "processed"),
            "parked": sorted(i for i, o in outcome.items() if o == "parked"),
            "pending": sorted(i for i, o in outcome.items() if o == "pending")}
    human = (f"Retried {data['retried']} parked update(s): {len(data['processed'])} processed, "
             f"{len(data['parked'])} failed again and stay parked, {len(data['pending'])} to be retried "
             "by the running service.")
    if data["parked"]:
        if args.json:
            print(json.dumps(data, ensure_ascii=False))
        raise UserError(human + " Still parked: " + ", ".join(map(str, data["parked"]))
                        + " (the log names the error)")
    return data, human


async def _meeting_create(sessions, settings: Settings, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from storage.meetings import MeetingFileError, create_meeting

    if not args.path.exists():
        raise UserError(f"{args.path}: no such file")
    try:
        result = await create_meeting(sessions, args.path, default_timezone=settings.school_timezone)
    except MeetingFileError as exc:
        if args.json:
            print(json.dumps({"errors": exc.errors}, ensure_ascii=False))
        raise UserError("meeting not created, nothing was changed:\n" + "\n".join(exc.errors)) from exc
    return result.as_json(), f"Meeting {result.id} created with {result.slots} slot{'' if result.slots == 1 else 's'}."


async def _link_code(sessions, settings: Settings, who: str):  # type: ignore[no-untyped-def]
    from storage.link_codes import UnknownPerson, issue_link_code
    from storage.models import School, utcnow

    try:
        async with sessions() as session, session.begin():
            code, person = await issue_link_code(session, who, now=utcnow(), ttl_hours=settings.link_code_ttl_hours)
            school = await session.get(School, code.school_id)
    except UnknownPerson as exc:
        raise UserError(str(exc)) from exc
    username = await _bot_username(settings, school.code if school else None)
    link = f"https://t.me/{username}?start={code.code}" if username else None
    data = {"code": code.code, "name": person.name, "expires_at": code.expires_at.isoformat() if code.expires_at else None,
            "link": link}
    human = f"Code for {person.name}: {code.code}\nSend it to the bot as: /start {code.code}"
    if link:
        human += f"\nOr open: {link}"
    return data, human


async def _letters(sessions, settings: Settings, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    import re

    from sqlmodel import select

    from handlers.letters import NoStudents, print_enrolment_letters
    from storage.meetings import AudienceError, parse_audience
    from storage.models import School, utcnow

    try:
        parse_audience(args.audience)
    except AudienceError as exc:
        raise UserError(f"AUDIENCE: {exc}") from exc
    out = args.out or Path(f"surat-pendaftaran-{re.sub(r'[^A-Za-z0-9]+', '-', args.audience).strip('-')}.pdf")
    if out.suffix.lower() != ".pdf":
        raise UserError(f"--out: {out}: expected a .pdf file name")
    # With --school, the school's own bot and WhatsApp number (CHANNELS_FILE) go on its letters.
    username = await _bot_username(settings, args.school)
    own = load_channels(settings.channels_file).school(args.school) if args.school else None
    whatsapp_from = (own.twilio_whatsapp_from if own else None) or settings.twilio_whatsapp_from
    try:
        async with sessions() as session, session.begin():
            query = select(School).order_by(School.code)
            if args.school:
                query = query.where(School.code == args.school)
            schools = list((await session.exec(query)).all())
            if not schools:
                raise UserError(f"--school: no school {args.school!r}" if args.school else
                                "no school yet: import the roster first (jembatan roster import)")
            # Without --school every school's students of the audience get their letters.
            result = await print_enrolment_letters(
                session, schools=schools, audience=args.audience, now=utcnow(), out=out,
                telegram_bot=username, whatsapp_from=whatsapp_from)
    except NoStudents as exc:
        raise UserError(f"AUDIENCE: {exc}") from exc
    except OSError as exc:
        raise UserError(f"--out: {out}: {exc.strerror or exc}") from exc
    data = {"pages": result.pages, "codes": result.codes, "file": result.file}
    human = (f"{result.pages} letters written to {result.file} ({result.codes} family codes, valid "
             "30 days; earlier codes of these students no longer work).")
    return data, human


async def _bot_username(settings: Settings, school_code: str | None = None) -> str | None:
    """The username (getMe) of the bot that serves this school — its own from CHANNELS_FILE, else
    the deployment's — when a token is configured and the API answers."""
    token, base_url = settings.telegram_bot_token, settings.telegram_api_base_url
    own = load_channels(settings.channels_file).school(school_code)
    if own is not None and own.telegram_bot_token:
        token, base_url = own.telegram_bot_token, own.telegram_api_base_url or base_url
    if not token:
        return None
    from telegram import Bot
    from telegram.error import TelegramError

    try:
        async with Bot(token, base_url=base_url) as bot:
            return bot.username
    except (TelegramError, OSError):
        return None


def served_address(host: str, port: int) -> str:
    """The address people reach this server at: the host given, or for 0.0.0.0 / :: this
    machine's address on its local network (what a school's phones and laptops can open)."""
    if host in ("0.0.0.0", "::", ""):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect(("10.255.255.255", 1))  # no packet is sent: this only picks a route
                host = probe.getsockname()[0]
            except OSError:
                host = "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def _serve(settings: Settings, host: str, port: int, workers: int = 1, *, sender_process: bool = False) -> int:
    import uvicorn

    from bot.app import SERVED_AT, create_app, settle_heap
    from bot.protocol import KEEP_ALIVE_SECONDS, GuardedH11Protocol

    # Slow clients are dropped: idle connections after a few seconds, a request head that
    # trickles in (bot.protocol), a body that does (bot.web.read_body).
    timeouts: dict[str, Any] = {"http": GuardedH11Protocol, "timeout_keep_alive": KEEP_ALIVE_SECONDS,
                                "h11_max_incomplete_event_size": 64 * 1024}

    if workers < 1:
        raise UserError("--workers: at least 1")
    if settings.simulator_guarded and not settings.simulator_secret and not _loopback(host):
        raise UserError(f"SIMULATOR=on beside real channels would let anyone who reaches {host}:{port} read "
                        "families' data and chat as any staff member: set SIMULATOR_SECRET (16+ characters), "
                        "turn the simulator off (SIMULATOR=off), or serve on 127.0.0.1")
    # Links in messages (the dashboard's) point where this server listens; the workers and the
    # background process inherit it from this process's environment.
    os.environ[SERVED_AT] = served_address(host, port)
    if workers == 1 and not sender_process:
        app = create_app(settings)
        settle_heap()
        uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower(),
                    log_config=log_config(settings.log_level, settings.log_format), **timeouts)
        return 0
    # Several web workers share the port (or one, with --sender-process); exactly one background
    # process sends and schedules
    # (two schedulers must never share a job store, two senders would race for the outbox). It
    # is supervised: restarted when it dies, so sending never silently stops.
    from bot.supervisor import BackgroundSupervisor

    supervisor = BackgroundSupervisor(lambda: subprocess.Popen([sys.executable, "-m", "bot", "scheduler"]))
    if workers == 1:
        # uvicorn serving in this process re-raises the SIGTERM it stopped on once it is done;
        # with Python's default handler that would end this process before the background one
        # is stopped (an orphan that goes on sending). As an exception, the `finally` runs.
        signal.signal(signal.SIGTERM, _stopped_by_signal)
    supervisor.start()
    try:
        uvicorn.run("bot.app:web_worker_app", factory=True, host=host, port=port, workers=workers,
                    log_level=settings.log_level.lower(), log_config=log_config(settings.log_level, settings.log_format),
                    **timeouts)
    finally:
        supervisor.stop()
    return 0


def _stopped_by_signal(signum: int, frame: object) -> None:
    raise SystemExit(0)  # a graceful stop: uvicorn has shut down already


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _background(settings: Settings) -> int:
    from bot.app import run_background, settle_heap

    settle_heap()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run_background(settings, stop, reload=lambda poke: loop.add_signal_handler(signal.SIGHUP, poke))

    asyncio.run(main())
    return 0


if __name__ == "__main__":
    sys.exit(main())
