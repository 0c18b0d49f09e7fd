"""A counseling concern's words stay with the counselors: escalation never reaches a teacher, and
on the dashboard only its holder and the class's counselors read it; the principal gives a reason.

The small schools here are written as rosters in the test: one without a principal (two
counselors), one with neither a second counselor nor a principal (the office is only told).
"""

from __future__ import annotations

from pathlib import Path

from sqlmodel import col, select

from handlers.escalation import escalate_overdue
from storage.models import AuditEntry, Concern, Staff
from tests.harness import AHMAD, BUDI, DEWI, MAYA, RINA, SRI, running_school
from tests.test_dashboard import signed_in, visible_text

WORDS = "Ani dipukul kakak kelas di toilet dan diancam"
LINA = "+6281200000007"  # a second counselor, covering grade 8

STAFF_HEADER = "staff_id,name,role,phone,language,homeroom_class,classes,subjects,office_hours\n"
SRI_ROW = "T-001,Sri Wahyuni,teacher,0812-0000-0001,id,VII-A,VII-A,Matematika,\n"
RINA_ROW = "T-003,Rina Marlina,counselor,081200000003,id,,7,,\n"
LINA_ROW = "T-007,Lina Marlinda,counselor,081200000007,id,,8,,\n"
DEWI_ROW = "T-005,Dewi Lestari,admin,081200000005,id,,,,\n"


def roster(tmp_path: Path, *staff_rows: str) -> Path:
    folder = tmp_path / "roster"
    folder.mkdir()
    (folder / "staff.csv").write_text(STAFF_HEADER + "".join(staff_rows))
    (folder / "students.csv").write_text("student_id,name,class\n0071000001,Ani Wijaya,VII-A\n"
                                         "0081000001,Eko Saputra,VIII-A\n")
    (folder / "guardians.csv").write_text("student_id,name,relation,phone,language,proxy\n"
                                          "0071000001,Maya Wijaya,ibu,081300000002,id,no\n")
    return folder


async def overdue(school) -> None:  # type: ignore[no-untyped-def]
    school.clock.advance(hours=25)
    assert await escalate_overdue(school.services.sessions, now=school.clock.now(), simulator_enabled=True) == 1


async def test_without_a_principal_a_bullying_concern_goes_to_the_other_counselor(
        database_url: str, tmp_path: Path) -> None:
    async with running_school(database_url, roster=roster(tmp_path, SRI_ROW, RINA_ROW, LINA_ROW, DEWI_ROW)) as school:
        ack = await school.say(MAYA, WORDS)
        assert "Rina Marlina" in ack[-1]["text"]
        assert WORDS in (await school.inbox(RINA))[-1]["text"]
        await school.inbox(SRI)
        await overdue(school)

        escalated = await school.inbox(LINA)
        assert len(escalated) == 1 and WORDS in escalated[0]["text"]
        assert "belum dijawab oleh Guru BK, Bapak/Ibu Rina Marlina" in escalated[0]["text"]
        assert await school.inbox(SRI) == [], "the wali kelas never receives a counseling concern"
        assert await school.inbox(DEWI) == []
        assert "Lina Marlinda" in (await school.inbox(MAYA))[-1]["text"]
        # Lina took it in chat, so she reads it on the dashboard too; Sri does not.
        assert WORDS in visible_text((await (await signed_in(school, LINA)).get("/dashboard/concerns/1")).text)
        refused = await (await signed_in(school, SRI)).get("/dashboard/concerns/1")
        assert refused.status_code == 403 and WORDS not in refused.text
        assert "rahasia" in visible_text(refused.text)


async def test_with_neither_another_counselor_nor_a_principal_the_office_is_told_without_the_words(
        database_url: str, tmp_path: Path) -> None:
    async with running_school(database_url, roster=roster(tmp_path, SRI_ROW, RINA_ROW, DEWI_ROW)) as school:
        await school.say(MAYA, WORDS)
        await school.inbox(RINA)
        await overdue(school)

        office = await school.inbox(DEWI)
        assert len(office) == 1
        text = office[0]["text"]
        assert "pesan bimbingan konseling (#1)" in text and "kelas VII-A" in text and "Rina Marlina" in text
        for private in ("dipukul", "Maya", "Ani"):
            assert private not in text
        assert await school.inbox(SRI) == [], "never to a teacher"
        assert "mengingatkan pihak sekolah" in (await school.inbox(MAYA))[-1]["text"]
        async with school.services.sessions() as session:
            concern = await session.get(Concern, 1)
        assert concern is not None and concern.escalated_at is not None and concern.escalated_to_id is None
        # A reply to the office's notice reaches no family; the family's next words reach only Rina.
        await school.say(DEWI, "Baik, saya ingatkan Bu Rina.", reply_to=office[0]["id"])
        assert await school.inbox(MAYA) == []
        await school.say(MAYA, "Hari ini Ani tidak mau berangkat sekolah")
        assert "tidak mau berangkat" in (await school.inbox(RINA))[-1]["text"]
        assert all("tidak mau berangkat" not in m["text"] for m in await school.inbox(DEWI))
        # The office and the wali kelas see on the dashboard only that it exists.
        for phone in (DEWI, SRI):
            page = await (await signed_in(school, phone)).get("/dashboard/concerns/1")
            assert page.status_code in (403, 404) and "dipukul" not in page.text


async def test_the_principal_opens_a_counseling_concern_only_with_a_reason_kept_in_the_audit_log(
        database_url: str) -> None:
    async with running_school(database_url) as school:
        await school.say(MAYA, WORDS)
        assert WORDS in (await school.inbox(RINA))[-1]["text"]

        rina = await signed_in(school, RINA)  # the counselor holding it
        assert WORDS in visible_text((await rina.get("/dashboard/concerns/1")).text)
        for phone in (SRI, BUDI, DEWI):  # the wali kelas, a subject teacher, the office: refused
            refused = await (await signed_in(school, phone)).get("/dashboard/concerns/1")
            assert refused.status_code == 403 and "dipukul" not in refused.text

        principal = await signed_in(school, AHMAD)
        asked = await principal.get("/dashboard/concerns/1")
        assert asked.status_code == 200 and "dipukul" not in asked.text
        assert 'name="reason"' in asked.text and "Ani Wijaya (VII-A)" in visible_text(asked.text)
        assert (await principal.get("/dashboard/concerns/1?format=csv&table=messages")).status_code == 404
        empty = await principal.post("/dashboard/concerns/1", data={"reason": "  "})
        assert "dipukul" not in empty.text and "Mohon tuliskan alasan" in visible_text(empty.text)
        opened = await principal.post("/dashboard/concerns/1",
                                      data={"reason": "Orang tua menelepon saya langsung, perlu tindak lanjut"})
        assert opened.status_code == 200 and WORDS in visible_text(opened.text)
        assert "dicatat di log audit" in visible_text(opened.text)

        async with school.services.sessions() as session:
            entries = (await session.exec(select(AuditEntry.action, AuditEntry.subject, AuditEntry.reason, Staff.name)
                                          .join(Staff, col(Staff.id) == AuditEntry.staff_id)
                                          .where(AuditEntry.action == "open_concern"))).all()
        assert entries == [("open_concern", "concern:1", "Orang tua menelepon saya langsung, perlu tindak lanjut",
                            "Ahmad Fauzi")]
        audit = visible_text((await principal.get("/dashboard/audit")).text)
        assert "Orang tua menelepon saya langsung" in audit


async def test_a_wali_kelas_named_by_an_older_escalation_gets_no_more_of_its_words(database_url: str) -> None:
    async with running_school(database_url) as school:
        await school.say(MAYA, WORDS)
        await school.inbox(RINA)
        async with school.services.sessions() as session, session.begin():  # as the old chain left it
            concern = await session.get(Concern, 1)
            sri = (await session.exec(select(Staff).where(Staff.phone == SRI))).one()
            assert concern is not None
            concern.escalated_at, concern.escalated_to_id = school.clock.now(), sri.id
            session.add(concern)
        await school.inbox(SRI)
        await school.say(MAYA, "Tadi pagi Ani dipukul lagi di toilet")
        assert "dipukul lagi" in (await school.inbox(RINA))[-1]["text"]
        assert await school.inbox(SRI) == []
        refused = await (await signed_in(school, SRI)).get("/dashboard/concerns/1")
        assert refused.status_code == 403 and "dipukul" not in refused.text
