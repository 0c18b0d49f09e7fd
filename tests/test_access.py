"""Access, tried as an attacker would: each test is one attack, and fails if its protection goes.

Guardians naming or pressing for another family, replayed buttons, staff answering or closing a
concern that is not theirs, a teacher announcing, school A's staff reaching into school B, a
Telegram account sharing someone else's contact, and markup or template syntax in user text on
every channel and page.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlmodel import col, select

from bot.app import create_app
from domain.clock import ManualClock
from handlers.meetings import invite_meeting
from storage.meetings import create_meeting
from storage.models import (
    Broadcast,
    ChannelAccount,
    Concern,
    Meeting,
    MeetingFamily,
    MeetingInvitation,
    MeetingSlot,
    Student,
)
from storage.roster import import_roster
from tests.fakes.server import LocalServer
from tests.fakes.telegram_updates import callback_update, contact_update, text_update
from tests.harness import (
    AHMAD,
    BUDI,
    DEWI,
    HENDRA,
    JOKO,
    MAYA,
    MONDAY_MORNING,
    RAHMAT,
    RINA,
    SCHOOL,
    SRI,
    YULIA,
    School,
    running_school,
    settings_for,
)
from tests.phones import TG_SECRET, network

MEETINGS = Path(__file__).parent / "data" / "meetings"
STALE = "tidak berlaku"
MARKUP = "<b>tebal</b> <script>alert(1)</script> *miring* _garis_ `kode` [x](http://x.test) {{ 7*7 }} " \
         "{% for i in range(3) %}ulang{% endfor %}"
# School B: its own staff, a child in a class with the same name as one of school A's.
B_STAFF = """staff_id,name,role,phone,language,homeroom_class,classes,subjects,office_hours
S-001,Wulan Sari,teacher,081400000001,id,VII-A,VII-A,Matematika,
S-003,Yanti Puspita,counselor,081400000003,id,,7,,
S-004,Bambang Irawan,principal,081400000004,id,,,,
S-005,Lina Marlina,admin,081400000005,id,,,,
"""
B_STUDENTS = "student_id,name,class\n0072000001,Dodi Pratama,VII-A\n"
B_GUARDIANS = "student_id,name,relation,phone,language,proxy\n0072000001,Siti Aminah,ibu,081400000011,id,no\n"
YANTI, BAMBANG, SITI = "+6281400000003", "+6281400000004", "+6281400000011"
GUARDIANS_LINKED = (MAYA, HENDRA, YULIA)


def texts(messages: list[dict[str, Any]]) -> str:
    return "\n---\n".join(m["text"] for m in messages)


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for row in message.get("buttons") or [] for b in row]


async def meetings_for_the_test_school(school: School) -> dict[str, int]:
    """The report-card day of VII-A (Ani's and Citra's families) and a summons of Bima's family."""
    ids = {}
    for name in ("pembagian_rapor", "surat_panggilan"):
        created = await create_meeting(school.services.sessions, MEETINGS / f"{name}.yaml",
                                       default_timezone="Asia/Jakarta")
        async with school.services.sessions() as session, session.begin():
            await invite_meeting(session, created.id, now=school.clock.now(), simulator_enabled=True)
        ids[name] = created.id
    return ids


async def family_of(school: School, meeting_id: int, nisn: str) -> MeetingFamily:
    async with school.services.sessions() as session:
        student = (await session.exec(select(Student).where(Student.nisn == nisn))).one()
        families = (await session.exec(select(MeetingFamily).where(MeetingFamily.meeting_id == meeting_id))).all()
        return next(f for f in families if str(student.id) in f.family_key.split(","))


async def student_id(school: School, nisn: str) -> int:
    async with school.services.sessions() as session:
        student = (await session.exec(select(Student).where(Student.nisn == nisn))).one()
        assert student.id is not None
        return student.id


async def concerns(school: School) -> list[Concern]:
    async with school.services.sessions() as session:
        return list((await session.exec(select(Concern).order_by(Concern.id))).all())


# ---------------------------------------------------------------- a guardian and another family


async def test_a_guardian_naming_another_familys_child_writes_only_about_her_own(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(MAYA, "menu")
        await school.say(YULIA, "menu")
        await school.say(RAHMAT, "menu")
        ack = await school.say(MAYA, "Citra dibully di kelas, tolong Bu")  # Citra is Yulia's daughter
        assert "Ani Wijaya" in texts(ack) and "Citra Lestari" not in texts(ack)
        forwarded = await school.inbox(RINA)
        assert len(forwarded) == 1 and "Maya Wijaya (Ibu dari Ani Wijaya, VII-A)" in forwarded[0]["text"]
        assert "Citra Lestari (VII-A)" not in forwarded[0]["text"]
        assert await school.inbox(YULIA) == [] and await school.inbox(RAHMAT) == []
        [concern] = await concerns(school)
        assert concern.student_id == await student_id(school, "0071000001")


async def test_a_guardian_cannot_choose_another_familys_child_by_button(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        asked = await school.say(HENDRA, "Citra sakit, PR IPA tidak jelas")  # Hendra: Ani and Bima
        offered = [b["label"] for b in buttons(asked[-1])]
        assert offered == ["Ani Wijaya (VII-A)", "Bima Wijaya (VII-B)"]
        citra = await student_id(school, "0071000003")
        refused = await school.say(HENDRA, press=f"cc:{citra}")  # data forged for Citra
        assert STALE in refused[-1]["text"]
        assert await concerns(school) == []
        typed = await school.say(HENDRA, "Citra")  # a name typed in answer: not one of his
        assert "Citra Lestari" not in texts(typed)
        assert await concerns(school) == []


async def test_a_guardian_cannot_answer_another_familys_invitation_or_slot(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        ids = await meetings_for_the_test_school(school)
        await school.inbox(HENDRA)
        bima = await family_of(school, ids["surat_panggilan"], "0071000002")  # Hendra's summons
        async with school.services.sessions() as session:
            slot = (await session.exec(select(MeetingSlot).where(
                MeetingSlot.meeting_id == ids["surat_panggilan"]))).first()
        assert slot is not None
        await school.inbox(RINA)
        forged = [f"rv:{ids['surat_panggilan']}:decline", f"rv:{ids['surat_panggilan']}:proxy",
                  f"sl:ok:{bima.id}", f"sl:x:{bima.id}", f"sl:t:{bima.id}:{slot.id}", f"sl:a:{bima.id}",
                  f"sl:w:{bima.id}:{slot.id}"]
        for data in forged:  # Maya is invited to the report-card day, not to Bima's summons
            refused = await school.say(MAYA, press=data)
            assert STALE in refused[-1]["text"], data
        after = await family_of(school, ids["surat_panggilan"], "0071000002")
        assert (after.response, after.slot_id, after.responded_by_guardian_id) == (None, None, None)
        async with school.services.sessions() as session:
            fresh = await session.get(MeetingSlot, slot.id)
            answered = (await session.exec(select(MeetingInvitation).where(
                col(MeetingInvitation.response).is_not(None)))).all()
        assert fresh is not None and fresh.booked == 0 and answered == []
        assert await school.inbox(RINA) == [], "the organizer heard nothing from Maya"
        assert await school.inbox(HENDRA) == []


async def test_a_guardian_cannot_press_staff_buttons(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(RINA, "panggil 0071000002")  # Rina has a summons half-written
        for data in ("pg:confirm", "ug:confirm", "hd:0071000001", "sb:send", "sb:urgent", "ks:save"):
            refused = await school.say(MAYA, press=data)
            assert STALE in refused[-1]["text"], data
        async with school.services.sessions() as session:
            assert (await session.exec(select(Meeting))).all() == []
            assert (await session.exec(select(Broadcast))).all() == []


async def test_a_concern_question_meant_for_another_guardian_cannot_be_answered(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        asked = await school.say(HENDRA, "PR IPA kemarin kurang jelas")
        bima_button = buttons(asked[-1])[1]["data"]
        refused = await school.say(MAYA, press=bima_button)  # Hendra's button, pressed by Maya
        assert STALE in refused[-1]["text"]
        refused = await school.say(MAYA, press="cg:counseling")  # and a category she was never asked
        assert STALE in refused[-1]["text"]
        assert await concerns(school) == []
        assert await school.inbox(BUDI) == [] and await school.inbox(RINA) == []


# ---------------------------------------------------------------- replayed buttons


async def test_replayed_rsvp_slot_and_confirm_buttons_change_nothing(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        ids = await meetings_for_the_test_school(school)
        summons = ids["surat_panggilan"]
        invitation = next(m for m in await school.inbox(HENDRA) if f"rv:{summons}:" in str(m["buttons"]))
        attend = next(b["data"] for b in buttons(invitation) if b["data"].endswith(":attend"))
        decline = next(b["data"] for b in buttons(invitation) if b["data"].endswith(":decline"))
        offer = await school.say(HENDRA, press=attend)  # two times on offer: he picks one
        take = next(b["data"] for b in buttons(offer[-1]) if b["data"].startswith("sl:t:"))
        await school.say(HENDRA, press=take)
        told = [m for m in await school.inbox(RINA) if "Hendra Wijaya" in m["text"]]
        assert len(told) == 1

        again = await school.say(HENDRA, press=take)  # the same slot button, pressed again
        assert "tidak berlaku" not in again[-1]["text"]
        late = await school.say(HENDRA, press=decline)  # the old invitation's other answer, later
        assert "sudah tercatat" in late[-1]["text"]
        family = await family_of(school, summons, "0071000002")
        assert family.response == "attend" and family.slot_id is not None
        async with school.services.sessions() as session:
            slots = (await session.exec(select(MeetingSlot).where(MeetingSlot.meeting_id == summons))).all()
        assert sorted(s.booked for s in slots) == [0, 1], "one place, taken once"
        assert await school.inbox(RINA) == [], "the organizer is not told twice"

        await school.say(RINA, "siaran")
        await school.say(RINA, "class:VII-B")
        preview = await school.say(RINA, "Besok pulang lebih awal pukul 11.00.")
        assert "sb:send" in [b["data"] for b in buttons(preview[-1])]
        await school.say(RINA, press="sb:send")
        replay = await school.say(RINA, press="sb:send")
        assert STALE in replay[-1]["text"]
        async with school.services.sessions() as session:
            assert len((await session.exec(select(Broadcast))).all()) == 1
        announced = [m for m in await school.inbox(HENDRA) if "pulang lebih awal" in m["text"]]
        assert len(announced) == 1


async def test_a_replayed_telegram_callback_is_answered_once(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        budi = await net.phone("telegram", BUDI)
        hendra = await net.phone("telegram", HENDRA)
        asked = await hendra.say("PR IPA kemarin kurang jelas")
        keyboard = asked[-1]["raw"]["reply_markup"]["inline_keyboard"]
        message = net.telegram.message(hendra.user_id, asked[-1]["id"])
        update = callback_update(net.next_update_id(), hendra.user_id, keyboard[1][0]["callback_data"],
                                 message=message)
        headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
        for _ in range(2):  # Telegram retrying the same update
            assert (await net.client.post("/webhooks/telegram", json=update, headers=headers)).status_code == 200
        replayed = {**update, "update_id": net.next_update_id()}  # the same press, sent again
        assert (await net.client.post("/webhooks/telegram", json=replayed, headers=headers)).status_code == 200
        await net.deliver()
        assert len([m for m in await budi.new() if "PR IPA" in m["text"]]) == 1
        assert STALE in (await hendra.new())[-1]["text"]


# ---------------------------------------------------------------- staff and concerns


async def test_staff_cannot_answer_or_close_a_concern_forwarded_to_someone_else(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(MAYA, "Ani dibully di kelas, tolong dibantu")  # to Rina, the counselor
        to_rina = await school.inbox(RINA)
        await school.say(YULIA, "Citra's math homework is too hard")  # Sri has a concern of her own
        await school.inbox(SRI)
        await school.inbox(MAYA)
        concern_id = re.search(r"#(\d+)", to_rina[0]["text"]).group(1)  # type: ignore[union-attr]
        for phone in (BUDI, SRI):
            refused = await school.say(phone, "Sudah saya tangani, Bu.", reply_to=to_rina[0]["id"])
            assert "tidak kami teruskan" in refused[-1]["text"], phone
            closed = await school.say(phone, f"selesai {concern_id}")
            assert "tidak ditemukan" in closed[-1]["text"]
        assert await school.inbox(MAYA) == [], "Maya heard from no one but Rina"
        mine = await school.say(SRI, "kasus")
        assert "Ani Wijaya" not in mine[-1]["text"] and "Citra Lestari" in mine[-1]["text"]
        assert all(c.status == "open" for c in await concerns(school))


async def test_a_telegram_reply_to_another_staff_members_message_id_is_not_relayed(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        rina = await net.phone("telegram", RINA)
        budi = await net.phone("telegram", BUDI)
        maya = await net.phone("whatsapp", MAYA)
        await maya.say("Ani dibully di kelas")
        forwarded = (await rina.new())[-1]
        # Budi's client forges a reply to the message id Rina received (ids are per chat).
        fake = {**forwarded["raw"], "chat": {"id": budi.user_id, "type": "private", "first_name": "Budi"},
                "chat_id": budi.user_id}
        update = text_update(net.next_update_id(), budi.user_id, "Saya yang jawab.", reply_to=fake)
        response = await net.client.post("/webhooks/telegram", json=update,
                                         headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
        assert response.status_code == 200
        assert "Saya yang jawab" not in texts(await maya.new())
        assert "tidak kami teruskan" in (await budi.new())[-1]["text"]


async def test_a_teacher_cannot_broadcast_and_a_wali_kelas_not_beyond_their_class(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        for phone in GUARDIANS_LINKED:
            await school.say(phone, "menu")
        refused = await school.say(JOKO, "broadcast")  # a subject teacher, no class of his own
        assert "only be sent by homeroom teachers" in refused[-1]["text"]
        for teacher, word in ((SRI, "siaran"), (JOKO, "broadcast"), (BUDI, "pengumuman")):
            await school.say(teacher, word)
            for data in ("sb:aud:school", "sb:send", "sb:urgent", "sb:now"):  # forged: the whole school
                await school.say(teacher, press=data)
            await school.say(teacher, "Besok libur!")
        async with school.services.sessions() as session:
            assert (await session.exec(select(Broadcast))).all() == []
        for phone in GUARDIANS_LINKED:
            assert not [m for m in await school.inbox(phone) if "libur" in m["text"]]


# ---------------------------------------------------------------- school A and school B


def _school_b(tmp_path: Path) -> Path:
    roster = tmp_path / "school_b"
    roster.mkdir()
    (roster / "staff.csv").write_text(B_STAFF)
    (roster / "students.csv").write_text(B_STUDENTS)
    (roster / "guardians.csv").write_text(B_GUARDIANS)
    return roster


async def test_school_a_staff_cannot_reach_school_b(sqlite_url: str, tmp_path: Path) -> None:
    async with running_school(sqlite_url) as school:
        await import_roster(school.services.sessions, _school_b(tmp_path), school_code="LAIN", school_name="SMP Lain")
        await school.say(SITI, "menu")
        await school.say(MAYA, "menu")
        await school.say(SITI, "Dodi dibully di kelas VII-A")
        to_yanti = await school.inbox(YANTI)
        assert len(to_yanti) == 1 and "Dodi Pratama" in to_yanti[0]["text"]
        assert await school.inbox(RINA) == [] and await school.inbox(SRI) == []  # same class name, grade 7
        await school.inbox(SITI)
        b_concern = re.search(r"#(\d+)", to_yanti[0]["text"]).group(1)  # type: ignore[union-attr]

        assert "Dodi" not in (await school.say(RINA, "kasus"))[-1]["text"]
        assert "tidak ditemukan" in (await school.say(RINA, f"selesai {b_concern}"))[-1]["text"]
        assert "tidak ditemukan" in (await school.say(AHMAD, f"selesai {b_concern}"))[-1]["text"]
        refused = await school.say(RINA, "Saya bantu, Bu.", reply_to=to_yanti[0]["id"])
        assert "tidak kami teruskan" in refused[-1]["text"]
        for words in ("panggil 0072000001", "panggil Dodi"):
            assert "tidak menemukan" in texts(await school.say(RINA, words))
            await school.say(RINA, "batal")
        assert "0072000001 tidak ditemukan" in (await school.say(AHMAD, "hadir 0072000001"))[-1]["text"]
        assert await school.inbox(SITI) == [], "nothing from school A reached the family in school B"

        await school.say(AHMAD, "siaran")  # the principal of A announces to "VII-A": his own class only
        await school.say(AHMAD, "class:VII-A")
        preview = await school.say(AHMAD, "Rapat komite Sabtu pukul 09.00.")
        await school.say(AHMAD, press="sb:send")
        await school.deliver()
        assert [m for m in await school.inbox(MAYA) if "Rapat komite" in m["text"]]
        assert not [m for m in await school.inbox(SITI) if "Rapat komite" in m["text"]]
        assert "Siti" not in texts(preview)

        b_meeting = tmp_path / "b_meeting.yaml"
        b_meeting.write_text("type: konsultasi\ntitle: Konsultasi Dodi\norganizer: S-003\naudience: student:0072000001\n"
                             "location: Ruang BK\nslots:\n  - {start: 2026-12-14T13:00, end: 2026-12-14T13:30}\n")
        created = await create_meeting(school.services.sessions, b_meeting, school_code="LAIN",
                                       default_timezone="Asia/Jakarta")
        assert "tidak kami temukan" in (await school.say(AHMAD, f"rapat {created.id}"))[-1]["text"]
        async with school.services.sessions() as session:
            b = await session.get(Concern, int(b_concern))
        assert b is not None and b.status == "open"


async def test_school_a_principal_cannot_open_school_b_pages(sqlite_url: str, tmp_path: Path) -> None:
    async with running_school(sqlite_url) as school:
        await import_roster(school.services.sessions, _school_b(tmp_path), school_code="LAIN", school_name="SMP Lain")
        await school.say(SITI, "Dodi dibully di kelas")
        b_concern = (await concerns(school))[-1].id
        b_principal = await _signed_in(school, BAMBANG)
        own = await school.client.get(f"/dashboard/concerns/{b_concern}", headers=b_principal)
        assert own.status_code == 200 and "Dodi" in own.text
        a_principal = await _signed_in(school, AHMAD)
        page = await school.client.get(f"/dashboard/concerns/{b_concern}", headers=a_principal)
        assert page.status_code == 404 and "Dodi" not in page.text
        listing = await school.client.get("/dashboard/concerns", headers=a_principal)
        assert listing.status_code == 200 and "Dodi" not in listing.text and "Siti Aminah" not in listing.text


async def _signed_in(school: School, phone: str) -> dict[str, str]:
    """The Cookie header of a browser signed in with the link the bot sends to ``phone``."""
    link = re.search(r"https?://\S+(/dashboard/login/[\w-]+)", (await school.say(phone, "dasbor"))[-1]["text"])
    assert link, "the bot sends a sign-in link"
    response = await school.client.post(link.group(1), headers={"Origin": "http://test"})
    assert response.status_code == 303
    cookies = "; ".join(f"{name}={value}" for name, value in response.cookies.items())
    school.client.cookies.clear()
    return {"Cookie": cookies}


# ---------------------------------------------------------------- Telegram identity


async def test_telegram_account_sharing_someone_elses_contact_is_not_linked(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
        attacker = 6666
        someone_else = contact_update(net.next_update_id(), attacker, MAYA.lstrip("+"), contact_user_id=7777)
        phone_book_card = contact_update(net.next_update_id(), attacker, MAYA.lstrip("+"))
        del phone_book_card["message"]["contact"]["user_id"]  # a card from the address book: no user
        updates = [someone_else, phone_book_card] + [text_update(net.next_update_id(), attacker, words)
                                                     for words in ("kasus", "selesai", "Ani dibully", "/start")]
        for update in updates:
            assert (await net.client.post("/webhooks/telegram", json=update, headers=headers)).status_code == 200
        await net.deliver()
        got = [m["text"] for m in net.telegram.messages_to(attacker)]
        assert sum("bukan milik akun Telegram ini" in t for t in got) == 2
        assert sum("Bagikan nomor telepon saya" in t for t in got) == len(got), "asked, every time"
        assert all("Maya" not in t and "Ani Wijaya" not in t for t in got), "nothing of Maya's is shown"
        async with net.services.sessions() as session:
            account = (await session.exec(select(ChannelAccount).where(
                ChannelAccount.external_id == str(attacker)))).one()
            assert account.phone is None
            assert (await session.exec(select(Concern))).all() == []


# ---------------------------------------------------------------- markup and template syntax


async def test_markup_in_user_text_arrives_verbatim_on_the_simulator(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(MAYA, f"Ani dibully. {MARKUP}")
        forwarded = await school.inbox(RINA)
        assert MARKUP in forwarded[-1]["text"] and "49" not in forwarded[-1]["text"]
        await school.say(RINA, f"Baik Bu. {MARKUP}", reply_to=forwarded[-1]["id"])
        answer = (await school.inbox(MAYA))[-1]["text"]
        assert MARKUP in answer and "ulangulangulang" not in answer


@pytest.mark.parametrize(("guardian_on", "staff_on"), [("whatsapp", "telegram"), ("telegram", "whatsapp"),
                                                     ("sms", "telegram")])
async def test_markup_in_user_text_arrives_verbatim_on_telegram_whatsapp_and_sms(sqlite_url: str, guardian_on: str,
                                                                            staff_on: str) -> None:
    async with network(sqlite_url) as net:
        rina = await net.phone(staff_on, RINA)
        if staff_on == "whatsapp":
            await rina.say("menu")
            await rina.new()
        maya = await net.phone(guardian_on, MAYA)
        await maya.say(f"Ani dibully. {MARKUP}")
        forwarded = (await rina.new())[-1]
        assert MARKUP in forwarded["text"] and "49" not in forwarded["text"]
        await rina.reply(forwarded, f"Baik Bu. {MARKUP}")
        answer = (await maya.new())[-1]
        assert MARKUP in answer["text"] and "ulangulangulang" not in answer["text"]
        for call in net.telegram.calls_of("sendMessage"):  # plain text: no parse mode, no entities
            assert "parse_mode" not in call and "entities" not in call, call
        for sent in net.twilio.sent:
            assert "ContentSid" not in sent  # free-form Body, inside the window: sent as written


async def test_markup_in_a_telegram_name_is_plain_text_to_the_admin(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        dewi = await net.phone("telegram", DEWI)
        headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
        stranger = 6667
        for n in range(40):  # a flood from an unlinked account calling itself markup
            update = text_update(net.next_update_id(), stranger, f"spam {n}", first_name="<b>{{ 7*7 }}</b>")
            assert (await net.client.post("/webhooks/telegram", json=update, headers=headers)).status_code == 200
        alert = [m for m in await dewi.new() if "banyak pesan" in m["text"]]
        assert len(alert) == 1 and '"<b>{{ 7*7 }}</b>"' in alert[0]["text"]


async def test_markup_is_shown_as_text_on_the_simulator_page(sqlite_url: str) -> None:
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("Debian chromium is not installed (make test installs it as root)")
    from playwright.async_api import async_playwright, expect

    async with _served(sqlite_url) as (base, school):
        await school.say(MAYA, f"Ani dibully. {MARKUP}")
        await school.deliver()
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(chromium), headless=True,
                                                       args=["--no-sandbox", "--disable-gpu"])
            page = await browser.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            for phone in (MAYA, RINA):  # her own words, and the forward the counselor reads
                await page.goto(f"{base}/?as={quote(phone)}")
                chat = page.locator("#chat")
                await expect(chat).to_contain_text("<script>alert(1)</script>", timeout=10_000)
                await expect(chat).to_contain_text("{{ 7*7 }}")
                assert await chat.locator("b, script, img, a").count() == 0
            assert dialogs == [] and await page.title() != "49"
            await browser.close()


@asynccontextmanager
async def _served(database_url: str) -> AsyncIterator[tuple[str, School]]:
    """The app on a real port (the page needs a browser), driven by the test's clock."""
    clock = ManualClock(MONDAY_MORNING)
    app = create_app(settings_for(database_url), clock=clock, run_scheduler=False, run_sender=False)
    async with LifespanManager(app) as manager:
        await import_roster(app.state.services.sessions, SCHOOL, school_code="UJI", school_name="SMP Uji Coba")
        server = LocalServer("jembatan-under-test")
        port = await server.start(manager.app)
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app),
                                         base_url="http://test") as client:
                yield f"http://127.0.0.1:{port}", School(client, app.state.services, clock)
        finally:
            await server.stop()
