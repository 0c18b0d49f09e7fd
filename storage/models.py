"""SQLModel tables: the school's roster, channel accounts, conversations, concerns, inbox and outbox.

Every school-owned row carries ``school_id`` so several schools can share one deployment
without their data meeting. Datetimes are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, TypeVar

from sqlalchemy import JSON, BigInteger, Column, DateTime, LargeBinary, Text, UniqueConstraint
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import configure_mappers
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes stored as UTC on every backend (SQLite keeps no zone: we add it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class School(SQLModel, table=True):
    """One school; the unit that owns every roster row."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=32)
    name: str
    timezone: str = "Asia/Jakarta"
    office_contact: str = ""  # how a refused person can reach the school office
    # The letterhead from school.yaml beside the roster (name, address, city, phone, email,
    # principal, principal_nip, logo, letter_number): printed on the school's letters.
    letterhead: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class SchoolClass(SQLModel, table=True):
    """A class (rombel) such as VII-A; ``grade`` is the number behind its roman numeral."""

    __tablename__ = "school_class"
    __table_args__ = (UniqueConstraint("school_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    name: str
    grade: int


class Staff(SQLModel, table=True):
    """A teacher, counselor (guru BK), principal or admin from ``staff.csv``."""

    __table_args__ = (
        UniqueConstraint("school_id", "staff_code"),
        UniqueConstraint("school_id", "phone"),
    )
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    staff_code: str  # the roster's staff_id, e.g. T-007
    name: str
    role: str  # teacher | counselor | principal | admin
    phone: str = Field(index=True)  # E.164
    language: str = "id"
    homeroom_class: str | None = None  # class name this teacher is wali kelas of
    classes: str = ""  # ';'-separated class names, or grades for counselors
    subjects: str = ""  # ';'-separated subject names
    office_hours: str = ""  # as written in the roster; empty means always
    # Bumped at dashboard logout: session cookies carry the generation they were made in.
    session_generation: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # ';'-separated teams (lower case), e.g. tppk: the school's violence-prevention team
    teams: str = ""


class Student(SQLModel, table=True):
    """A student, identified in the roster by NISN."""

    __table_args__ = (UniqueConstraint("school_id", "nisn"),)
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    nisn: str
    name: str
    class_id: int = Field(foreign_key="school_class.id", index=True)
    birth_date: date | None = None  # Dapodik "Tanggal Lahir": helps staff recognise the child
    # Dapodik "HP" (else "Telepon"), E.164: the family's number, owner unknown (the student, a
    # parent or a guardian), so it is given to no guardian until someone says whose it is.
    family_phone: str | None = Field(default=None, index=True)
    left_at: datetime | None = _ts()  # no longer in the school's export: kept, never addressed


class Guardian(SQLModel, table=True):
    """A parent, guardian or proxy guardian; one person per phone number within a school."""

    __table_args__ = (UniqueConstraint("school_id", "phone"),)
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    name: str
    phone: str = Field(index=True)  # E.164
    language: str = "id"
    opted_out: bool = False  # STOP: no announcements
    digest: bool = False  # ringkasan: non-urgent announcements once a day, in one message
    # Consent (UU 27/2022): when and on which channel the guardian first chatted with the bot,
    # and when they withdrew it ("stop semua", "hapus data"): nothing more is sent after that.
    consent_at: datetime | None = _ts()
    consent_channel: str | None = None
    withdrawn_at: datetime | None = _ts()
    erase_requested_at: datetime | None = _ts()  # "hapus data": removed by the next purge
    erased_at: datetime | None = _ts()  # purged: only the school's roster entry is left


class GuardianStudent(SQLModel, table=True):
    """Which guardian stands for which student, how (ayah, ibu, wali, orang tua asuh)."""

    __tablename__ = "guardian_student"
    __table_args__ = (UniqueConstraint("guardian_id", "student_id"),)
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    guardian_id: int = Field(foreign_key="guardian.id", index=True)
    student_id: int = Field(foreign_key="student.id", index=True)
    relation: str  # ayah | ibu | wali | orang tua asuh
    proxy: bool = False


class ChannelAccount(SQLModel, table=True):
    """A chat account on one channel; ``phone`` is set once it is linked to roster people."""

    __tablename__ = "channel_account"
    __table_args__ = (UniqueConstraint("channel", "bot", "external_id",
                                       name=f"uq_{__tablename__}_channel_bot_external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str  # telegram | whatsapp | simulator
    # Whose bot or sender: "" the deployment's default, else the school code of its own
    # (CHANNELS_FILE). The same Telegram user on two schools' bots is two accounts.
    bot: str = Field(default="", sa_column_kwargs={"server_default": ""})
    external_id: str  # Telegram user id, WhatsApp number, simulator phone
    chat_id: str  # where messages to this account are sent
    display_name: str = ""
    phone: str | None = Field(default=None, index=True)  # E.164 of the linked roster person
    linked_at: datetime | None = _ts()
    last_seen_at: datetime | None = _ts()
    blocked: bool = False  # the platform refuses delivery (user blocked the bot)
    preferred: bool = False  # the person asked to be reached here (e.g. SMS instead of WhatsApp)


class LinkCode(SQLModel, table=True):
    """A one-time code that links a Telegram account to a roster phone (``jembatan link-code``)."""

    __tablename__ = "link_code"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    phone: str
    created_at: datetime | None = _ts(nullable=False)
    expires_at: datetime | None = _ts(nullable=False)
    used_at: datetime | None = _ts()
    used_by_account_id: int | None = Field(default=None, foreign_key="channel_account.id")


class Conversation(SQLModel, table=True):
    """Where one account is in a guided flow: flow name, step and collected data."""

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="channel_account.id", unique=True)
    flow: str | None = None
    step: str | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The choices of the last message with buttons, so "2" or a label works where buttons do not.
    choices: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    updated_at: datetime | None = _ts()


class Concern(SQLModel, table=True):
    """A guardian's concern about one child, handled by one staff member until closed."""

    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    guardian_id: int = Field(foreign_key="guardian.id", index=True)
    student_id: int = Field(foreign_key="student.id", index=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    escalated_to_id: int | None = Field(default=None, foreign_key="staff.id")
    staff_role: str = "homeroom_teacher"  # the role it was routed to: counselor, subject_teacher...
    category: str
    subject: str | None = None
    status: str = Field(default="open", index=True)  # open | answered | closed
    created_at: datetime | None = _ts(nullable=False)
    first_answer_at: datetime | None = _ts()
    last_activity_at: datetime | None = _ts()
    due_at: datetime | None = _ts(index=True)  # unanswered past this: escalate
    escalated_at: datetime | None = _ts()
    closed_at: datetime | None = _ts()
    # A violence report (`lapor`) whose reporter asked that only the TPPK team see their name.
    reporter_hidden: bool = False


class ConcernMessage(SQLModel, table=True):
    """One message in a concern's thread, as written."""

    __tablename__ = "concern_message"
    id: int | None = Field(default=None, primary_key=True)
    concern_id: int = Field(foreign_key="concern.id", index=True)
    author: str  # guardian | staff
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    text: str = Field(sa_column=Column(Text, nullable=False))
    media: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # [{url, content_type}]
    created_at: datetime | None = _ts(nullable=False)


class InboxMessage(SQLModel, table=True):
    """A received platform update, stored before it is acknowledged; processed at most once."""

    __tablename__ = "inbox_message"
    __table_args__ = (UniqueConstraint("channel", "bot", "external_id",
                                       name=f"uq_{__tablename__}_channel_bot_external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str
    bot: str = Field(default="", sa_column_kwargs={"server_default": ""})  # as ChannelAccount.bot
    external_id: str  # Telegram update_id, Twilio MessageSid, simulator message id
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    received_at: datetime | None = _ts(nullable=False)
    processed_at: datetime | None = _ts(index=True)  # done: answered, ignored, or parked
    error: str | None = None  # why it was not answered (flood, parked); class and message only
    # A failed attempt (database gone, a bug) leaves processed_at empty and the row to be retried
    # at next_attempt_at; after too many, it is parked (processed_at and parked_at set) for an
    # operator's `jembatan inbox retry`.
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    next_attempt_at: datetime | None = _ts()
    parked_at: datetime | None = _ts(index=True)
    last_error: str | None = None  # the latest failed attempt's error class and message


class OutboxMessage(SQLModel, table=True):
    """A rendered message waiting for, or done with, delivery by the sender."""

    __tablename__ = "outbox_message"
    id: int | None = Field(default=None, primary_key=True)
    school_id: int | None = Field(default=None, foreign_key="school.id", index=True)
    channel: str
    bot: str = Field(default="", sa_column_kwargs={"server_default": ""})  # the bot or sender it goes by
    chat_id: str
    account_id: int | None = Field(default=None, foreign_key="channel_account.id")
    guardian_id: int | None = Field(default=None, foreign_key="guardian.id")
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    template: str
    text: str = Field(sa_column=Column(Text, nullable=False))
    buttons: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    media: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # [{url, content_type}]
    concern_id: int | None = Field(default=None, foreign_key="concern.id", index=True)
    caused_by_staff_id: int | None = Field(default=None, foreign_key="staff.id")  # told when it cannot go
    broadcast_id: int | None = Field(default=None, foreign_key="broadcast.id", index=True)
    priority: int = 0  # conversation first (0); announcements (10) never hold up a parent's concern
    delivery: str | None = None  # the platform's status: queued, sent, delivered, read, failed, undelivered
    delivery_error: str | None = None
    status: str = Field(default="pending", index=True)  # pending | sent | failed | held
    attempts: int = 0
    next_attempt_at: datetime | None = _ts(index=True)
    created_at: datetime | None = _ts(nullable=False)
    sent_at: datetime | None = _ts()
    external_message_id: str | None = Field(default=None, index=True)
    error: str | None = None
    # Taken by a sending process until then (several may run): another leaves it alone meanwhile.
    claimed_until: datetime | None = _ts()
    # The claiming process's token (PostgreSQL): while it holds its advisory lock on the token it
    # is alive; once the lock is gone (the process died) its claims are free before the lease ends.
    claimed_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # WhatsApp only: service, utility or marketing (domain/whatsapp_costs.py). Foreseen when the
    # row is written, made final when it is sent (the family may have written meanwhile).
    pricing_category: str | None = Field(default=None, index=True)


class Meeting(SQLModel, table=True):
    """A meeting with families (``jembatan meeting create``): one of the eight meeting types."""

    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    # rapat_komite | pembagian_rapor | tahun_ajaran_baru | persiapan_ujian | pertemuan_khusus
    # | surat_panggilan | kunjungan_rumah | konsultasi
    type: str
    title: str
    organizer_staff_id: int = Field(foreign_key="staff.id", index=True)
    audience: str  # as written: school, grade:7, class:VII-A, student:NISN[,NISN...], joined by +
    location: str = ""  # empty for a home visit: the family's home
    room_capacity: int  # families the place holds at once
    # Shown to the family; required for a surat_panggilan (why the parents are summoned).
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    bring: str | None = None  # what the family should bring
    # A surat_panggilan's level this school year (1, 2, 3): the student's first summons is 1.
    summons_level: int | None = None
    status: str = Field(default="draft", index=True)
    created_at: datetime | None = _ts(nullable=False)


class MeetingSlot(SQLModel, table=True):
    """A time a meeting can take place, holding up to ``capacity`` families."""

    __tablename__ = "meeting_slot"
    __table_args__ = (UniqueConstraint("meeting_id", "starts_at"),)
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    starts_at: datetime | None = _ts(nullable=False)
    ends_at: datetime | None = _ts(nullable=False)
    capacity: int  # the meeting's room_capacity unless a slot says otherwise
    # Families holding a place; raised only by a conditional UPDATE so two presses on the last
    # place never overbook (storage/booking.py).
    booked: int = 0


class MeetingFamily(SQLModel, table=True):
    """One family's place in a meeting: siblings together, both parents answering as one."""

    __tablename__ = "meeting_family"
    __table_args__ = (UniqueConstraint("meeting_id", "family_key"),)
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    family_key: str  # the family's student ids in the audience, sorted, joined by ','
    response: str | None = None  # attend | decline | other_time | proxy (the first answer counts)
    responded_by_guardian_id: int | None = Field(default=None, foreign_key="guardian.id")
    responded_at: datetime | None = _ts()
    attended: bool = False
    attended_at: datetime | None = _ts()
    slot_id: int | None = Field(default=None, foreign_key="meeting_slot.id", index=True)
    # proposed: the school suggested it (``meeting schedule``); booked: the family took or accepted it
    slot_state: str | None = None


class MeetingStudent(SQLModel, table=True):
    """A student the meeting concerns, and the family who answers for them."""

    __tablename__ = "meeting_student"
    __table_args__ = (UniqueConstraint("meeting_id", "student_id"),)
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    student_id: int = Field(foreign_key="student.id", index=True)
    family_id: int = Field(foreign_key="meeting_family.id", index=True)


class MeetingInvitation(SQLModel, table=True):
    """One guardian's invitation (a parent's, or a proxy guardian's in their place)."""

    __tablename__ = "meeting_invitation"
    __table_args__ = (UniqueConstraint("meeting_id", "guardian_id"),)
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    family_id: int = Field(foreign_key="meeting_family.id", index=True)
    guardian_id: int = Field(foreign_key="guardian.id", index=True)
    proxy: bool = False  # sent to the orang tua asuh in place of the parents
    response: str | None = None  # this guardian's own answer
    outbox_id: int | None = Field(default=None, foreign_key="outbox_message.id")
    created_at: datetime | None = _ts(nullable=False)


class ReminderLog(SQLModel, table=True):
    """Each reminder sent or skipped, once: the guard against sending one twice."""

    __tablename__ = "reminder_log"
    __table_args__ = (UniqueConstraint("meeting_id", "guardian_id", "kind"),)
    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    guardian_id: int = Field(foreign_key="guardian.id", index=True)
    kind: str  # day_before | two_hours
    outcome: str  # sent | sent_late | skipped_past | skipped_not_attending
    at: datetime | None = _ts(nullable=False)


class Agreement(SQLModel, table=True):
    """What school and family agreed (kesepakatan) after a summons or consultation, and the check-in."""

    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    student_id: int = Field(foreign_key="student.id", index=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    meeting_id: int | None = Field(default=None, foreign_key="meeting.id")
    text: str = Field(sa_column=Column(Text, nullable=False))
    check_in_at: datetime | None = _ts(nullable=False, index=True)  # when the bot asks the family
    created_at: datetime | None = _ts(nullable=False)
    asked_at: datetime | None = _ts()
    answer: str | None = None  # improved | same | worse | note
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    answered_by_guardian_id: int | None = Field(default=None, foreign_key="guardian.id")
    answered_at: datetime | None = _ts()


class Broadcast(SQLModel, table=True):
    """An announcement by a counselor, the principal or an admin; its recipients are frozen at
    confirmation as outbox rows, so a restart finishes exactly the same list."""

    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    author_staff_id: int = Field(foreign_key="staff.id", index=True)
    audience: str
    text: str = Field(sa_column=Column(Text, nullable=False))
    urgent: bool = False  # urgent ones go out at night too
    created_at: datetime | None = _ts(nullable=False)
    send_at: datetime | None = _ts(nullable=False)  # after quiet hours, unless urgent
    recipients: int = 0
    opted_out: int = 0
    unreachable: int = 0
    reported_at: datetime | None = _ts()  # the author got the delivery report when sending ended
    answers: str = ""  # one-tap answers: "" none | read (Sudah dibaca) | attend (hadir / tidak)
    template: str | None = None  # a ready-made message instead of typed text: bk_series


class BroadcastSkip(SQLModel, table=True):
    """A guardian a broadcast did not go to, and why: to phone them, or to respect their STOP."""

    __tablename__ = "broadcast_skip"
    id: int | None = Field(default=None, primary_key=True)
    broadcast_id: int = Field(foreign_key="broadcast.id", index=True)
    guardian_id: int = Field(foreign_key="guardian.id")
    reason: str  # opted_out | unreachable


class Availability(SQLModel, table=True):
    """When a guardian (or a staff member) can meet: their words and the weekly windows read from
    them, reused for every meeting until they change it (``jadwal``)."""

    __table_args__ = (UniqueConstraint("guardian_id"), UniqueConstraint("staff_id"))
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    guardian_id: int | None = Field(default=None, foreign_key="guardian.id")
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    text: str = Field(default="", sa_column=Column(Text, nullable=False))  # as they wrote it
    # [[weekday, "HH:MM", "HH:MM"], ...] in the school's local time (scheduler/availability.py)
    windows: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    updated_at: datetime | None = _ts(nullable=False)


class SlotWaiting(SQLModel, table=True):
    """A family waiting for a place in a full slot; the first in line is offered a freed place."""

    __tablename__ = "slot_waiting"
    __table_args__ = (UniqueConstraint("slot_id", "family_id"),)
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    slot_id: int = Field(foreign_key="meeting_slot.id", index=True)
    family_id: int = Field(foreign_key="meeting_family.id", index=True)
    guardian_id: int = Field(foreign_key="guardian.id")  # who asked, and who is told
    created_at: datetime | None = _ts(nullable=False)
    offered_at: datetime | None = _ts()  # told a place is free (they still have to take it)


class BroadcastAnswer(SQLModel, table=True):
    """A guardian's one-tap answer to an announcement; the latest answer counts."""

    __tablename__ = "broadcast_answer"
    __table_args__ = (UniqueConstraint("broadcast_id", "guardian_id"),)
    id: int | None = Field(default=None, primary_key=True)
    broadcast_id: int = Field(foreign_key="broadcast.id", index=True)
    guardian_id: int = Field(foreign_key="guardian.id", index=True)
    answer: str  # read | attend | decline
    answered_at: datetime | None = _ts(nullable=False)


class DigestItem(SQLModel, table=True):
    """An announcement for a guardian's daily digest (ringkasan), and the digest carrying it."""

    __tablename__ = "digest_item"
    __table_args__ = (UniqueConstraint("broadcast_id", "guardian_id"),)
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    guardian_id: int = Field(foreign_key="guardian.id", index=True)
    broadcast_id: int = Field(foreign_key="broadcast.id", index=True)
    due_at: datetime | None = _ts(nullable=False, index=True)  # the digest hour (19.00 school time)
    created_at: datetime | None = _ts(nullable=False)
    status: str = Field(default="pending", index=True)  # pending | sent | dropped (STOP came first)
    sent_at: datetime | None = _ts()
    outbox_id: int | None = Field(default=None, foreign_key="outbox_message.id", index=True)


class BkSeriesMember(SQLModel, table=True):
    """A guardian following the guru BK explainer series: which part comes next, and when."""

    __tablename__ = "bk_series_member"
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    guardian_id: int = Field(foreign_key="guardian.id", unique=True)
    broadcast_id: int | None = Field(default=None, foreign_key="broadcast.id")  # by siaran
    started_at: datetime | None = _ts(nullable=False)
    next_part: int = 2  # past the last part: finished
    next_at: datetime | None = _ts(index=True)


class BkSeriesLog(SQLModel, table=True):
    """Each part of the explainer series a guardian was sent: the guard against sending it twice."""

    __tablename__ = "bk_series_log"
    __table_args__ = (UniqueConstraint("guardian_id", "part"),)
    id: int | None = Field(default=None, primary_key=True)
    guardian_id: int = Field(foreign_key="guardian.id", index=True)
    part: int
    sent_at: datetime | None = _ts(nullable=False)
    broadcast_id: int | None = Field(default=None, foreign_key="broadcast.id")


class DashboardLink(SQLModel, table=True):
    """A one-time sign-in link to the school dashboard, sent by the bot to one staff member.

    Only a hash of the token is kept here; the link itself goes out once, in the chat message.
    """

    __tablename__ = "dashboard_link"
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    token_hash: str = Field(unique=True, max_length=64)  # sha256 hex of the token in the link
    created_at: datetime | None = _ts(nullable=False)
    expires_at: datetime | None = _ts(nullable=False)
    used_at: datetime | None = _ts()


class DashboardKey(SQLModel, table=True):
    """The dashboard's cookie-signing secret when ``DASHBOARD_SECRET`` is unset: made once, shared
    by every web worker."""

    __tablename__ = "dashboard_key"
    id: int | None = Field(default=None, primary_key=True)
    secret: str = Field(max_length=128)
    created_at: datetime | None = _ts(nullable=False)


class AuditEntry(SQLModel, table=True):
    """Who did what on the dashboard: sign-ins, and every opening of a concern thread in oversight."""

    __tablename__ = "audit_entry"
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    action: str  # sign_in | open_concern
    subject: str = ""  # what was acted on, e.g. "concern:12"
    # Why the principal opened a counseling concern (contract section 10); None for other entries.
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    at: datetime | None = _ts(nullable=False, index=True)


class RoutingExample(SQLModel, table=True):
    """A parent's message labelled by the school itself (a hand-over, a "wrong person" choice, a
    category picked when asked): the router learns each school's own wording from these."""

    __tablename__ = "routing_example"
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    guardian_id: int | None = Field(default=None, foreign_key="guardian.id", index=True)  # for erasure
    concern_id: int | None = Field(default=None, foreign_key="concern.id", index=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    group: str  # counseling | academic | absence | admin: the staff group that should answer
    category: str | None = None
    source: str  # handover | wrong_person | asked
    created_at: datetime | None = _ts(nullable=False)


class ConcernHandover(SQLModel, table=True):
    """One move of a concern to another staff member: a colleague's hand-over (``alihkan``) or a
    guardian's "wrong person" choice. The school sees from these where routing needed help."""

    __tablename__ = "concern_handover"
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    concern_id: int = Field(foreign_key="concern.id", index=True)
    from_staff_id: int = Field(foreign_key="staff.id")
    to_staff_id: int = Field(foreign_key="staff.id")
    source: str  # handover | wrong_person
    category: str  # the concern's category before the move: what the router had said
    at: datetime | None = _ts(nullable=False)


class Heartbeat(SQLModel, table=True):
    """The background parts' last sign of life (``sender``, ``scheduler``), for ``/healthz``."""

    part: str = Field(primary_key=True, max_length=32)
    at: datetime | None = _ts(nullable=False)
    pid: int = 0


class FloodBucket(SQLModel, table=True):
    """One sender's flood-control token bucket, shared by every web worker (bot/flood.py).

    ``sender`` is a hash of channel and sender id, so no phone number is kept here."""

    __tablename__ = "flood_bucket"
    sender: str = Field(primary_key=True, max_length=64)
    tokens: float
    at: datetime | None = _ts(nullable=False, index=True)
    flooding: bool = False
    alerted_at: datetime | None = _ts()


class HomeVisit(SQLModel, table=True):
    """A home visit (kunjungan rumah) recorded by a counselor or wali kelas: who was met, what was
    discussed and agreed. Confidential like a counseling concern."""

    __tablename__ = "home_visit"
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    student_id: int = Field(foreign_key="student.id", index=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    visited_on: date
    met: str = Field(sa_column=Column(Text, nullable=False))  # who was met, as written
    discussed: str = Field(sa_column=Column(Text, nullable=False))
    agreed: str = Field(default="", sa_column=Column(Text, nullable=False))
    agreement_id: int | None = Field(default=None, foreign_key="agreement.id")
    created_at: datetime | None = _ts(nullable=False)


class LetterCounter(SQLModel, table=True):
    """The last letter number a school gave in a year: numbers are never reused within a year."""

    __tablename__ = "letter_counter"
    __table_args__ = (UniqueConstraint("school_id", "year"),)
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    year: int
    last_seq: int = 0


class MeetingLetter(SQLModel, table=True):
    """A family's official letter of a meeting (`jembatan meeting letter`): its number, kept so a
    reprint carries the same number, and when it was last printed."""

    __tablename__ = "meeting_letter"
    __table_args__ = (UniqueConstraint("meeting_id", "family_id"), UniqueConstraint("school_id", "year", "seq"))
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    family_id: int = Field(foreign_key="meeting_family.id", index=True)
    year: int
    seq: int
    number: str
    created_at: datetime | None = _ts(nullable=False)
    printed_at: datetime | None = _ts()


class FamilyCode(SQLModel, table=True):
    """The code printed on a student's enrolment letter: 30 days, each guardian enrols once.

    Only a hash is kept; printing the letters again issues a new code and revokes the old one.
    """

    __tablename__ = "family_code"
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    student_id: int = Field(foreign_key="student.id", index=True)
    code_hash: str = Field(unique=True, max_length=64)  # sha256 hex of the normalised code
    created_at: datetime | None = _ts(nullable=False)
    expires_at: datetime | None = _ts(nullable=False)
    revoked_at: datetime | None = _ts()


class Enrolment(SQLModel, table=True):
    """Someone who enrolled for a student (a letter's code, or the family's Dapodik number):
    who they said they are, their consent, and the homeroom teacher's answer."""

    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    student_id: int = Field(foreign_key="student.id", index=True)
    family_code_id: int | None = Field(default=None, foreign_key="family_code.id", index=True)
    account_id: int = Field(foreign_key="channel_account.id", index=True)
    # The roster guardian they said they are (None: "Lainnya", a person the roster lacks).
    roster_guardian_id: int | None = Field(default=None, foreign_key="guardian.id")
    guardian_id: int | None = Field(default=None, foreign_key="guardian.id", index=True)  # linked as
    relation: str  # ayah | ibu | wali | orang tua asuh | student (the number is the student's own)
    name: str  # as they introduced themselves
    consent_at: datetime | None = _ts()  # UU 27/2022: when they agreed, and on which channel
    consent_channel: str | None = None
    # pending (waits for the homeroom teacher) | linked | refused | student_own
    status: str = Field(default="pending", index=True)
    created_at: datetime | None = _ts(nullable=False, index=True)
    decided_at: datetime | None = _ts()
    decided_by_staff_id: int | None = Field(default=None, foreign_key="staff.id")
    escalated_at: datetime | None = _ts()  # unanswered for two days: sent to the office


class CodeAttempt(SQLModel, table=True):
    """A family code typed by one sender, right or wrong: the guard against guessing codes."""

    __tablename__ = "code_attempt"
    id: int | None = Field(default=None, primary_key=True)
    sender: str = Field(index=True)  # sha256 of channel:external id (a WhatsApp id is a phone)
    ok: bool
    at: datetime | None = _ts(nullable=False, index=True)


class RosterUpload(SQLModel, table=True):
    """Roster files the office uploaded on the dashboard, kept between the preview and "Simpan"
    (the save never trusts a copy from the browser) and dropped once saved or expired."""

    __tablename__ = "roster_upload"
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    digest: str = Field(max_length=64)  # sha256 of the archive: the form names exactly these files
    archive: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # a zip of the files
    created_at: datetime | None = _ts(nullable=False)
    expires_at: datetime | None = _ts(nullable=False)
    saved_at: datetime | None = _ts()


class ChannelRoute(SQLModel, table=True):
    """Which kinds of channel a school has its own of (from CHANNELS_FILE), so every process that
    writes the outbox sends a school's messages through its own bot or sender. ``kinds`` is a
    comma-separated list (``telegram,whatsapp``); a school without a row uses the defaults."""

    __tablename__ = "channel_route"
    school_code: str = Field(primary_key=True, max_length=32)
    kinds: str = ""
    # The school's own WhatsApp sender's daily tier of unique recipients (None: the default).
    whatsapp_daily_tier: int | None = None


class SendPace(SQLModel, table=True):
    """The shared rate limit of one bot or sender: every sending process reserves its next send
    here (a sliding window), so all of them together stay within the platform's limit.

    ``key`` is a hash of the bot or sender; ``recent`` the moments (Unix seconds) of the sends
    reserved within the last window; ``due`` the latest of them."""

    __tablename__ = "send_pace"
    key: str = Field(primary_key=True, max_length=64)
    due: datetime | None = _ts(nullable=False, index=True)
    recent: list[float] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


_FIELDS: dict[type, list[tuple[str, Any]]] = {}
M = TypeVar("M", bound=SQLModel)


def built(model: type[M], values: dict[str, Any]) -> M:
    """An object of a table model holding ``values`` (the rest its fields' defaults), made as the
    ORM makes the rows it loads: no validation, no attribute events (about 8 µs instead of 50 for
    the constructor). For values the code just read from the database or built itself."""
    if model not in _FIELDS:
        # The ORM sets up its attributes when the mappers are configured, which a query does
        # first; a fresh process may build a row before any query of these classes.
        configure_mappers()
        _FIELDS[model] = [(name, field) for name, field in model.model_fields.items() if not field.is_required()]
    instance: M = sa_inspect(model).class_manager.new_instance()
    fields = instance.__dict__
    for name, field in _FIELDS[model]:
        if name not in values:
            fields[name] = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
    fields.update(values)
    return instance
