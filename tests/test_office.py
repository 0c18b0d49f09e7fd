"""The school office on the dashboard over HTTP: who may use it, forged and replayed forms, the
upload limit, and the preview time of a whole school's Dapodik export.

The office's own story, in a browser, is tests/test_office_browser.py.
"""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

from sqlmodel import select

from storage.models import AuditEntry, RosterUpload, Student
from tests.dapodik_export import make_students, write_export
from tests.harness import running_school
from tests.test_dashboard import signed_in, visible_text
from tests.test_enrolment import OFFICE, STAFF, WALI, _ani

COUNSELOR = "+6281200002003"
PRINCIPAL = "+6281200002001"
OFFICE_GETS = ["/dashboard/office", "/dashboard/office/roster", "/dashboard/office/people?q=Ani",
               "/dashboard/office/staff", "/dashboard/office/meetings"]
OFFICE_POSTS = ["/dashboard/office/roster", "/dashboard/office/roster/1", "/dashboard/office/enrolments/1",
                "/dashboard/office/guardians/1/show", "/dashboard/office/guardians/1/phone",
                "/dashboard/office/guardians/1/stop", "/dashboard/classes/VII-A/letters",
                "/dashboard/office/staff", "/dashboard/office/staff/1", "/dashboard/office/meetings",
                "/dashboard/office/meetings/1/invite"]


def _school_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "smpn3"
    folder.mkdir()
    write_export(folder / "daftar_pd.xlsx", [_ani(), *make_students(4, ["7 A"], start=75000010)])
    (folder / "staff.csv").write_text(STAFF, encoding="utf-8")
    return folder


def token(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page carries a form token"
    return unescape(found.group(1))


async def test_a_teacher_and_a_counselor_get_no_office_page_or_action(database_url: str, tmp_path: Path) -> None:
    async with running_school(database_url, roster=_school_folder(tmp_path)) as school:
        for phone in (WALI, COUNSELOR):
            person = await signed_in(school, phone)
            home = await person.get("/dashboard")
            assert "/dashboard/office" not in home.text
            for url in OFFICE_GETS:
                assert (await person.get(url)).status_code == 403, url
            for url in OFFICE_POSTS:  # with their own session's token, still not theirs
                response = await person.post(url, data={"csrf": token(home.text), "answer": "yes",
                                                        "phone": "081299990000"})
                assert response.status_code in (403, 404), (url, response.status_code)
        async with school.services.sessions() as session:
            actions = {e.action for e in (await session.exec(select(AuditEntry))).all()}
        assert actions == {"sign_in"}
        principal = await signed_in(school, PRINCIPAL)  # the principal is the office's too
        assert "/dashboard/office" in (await principal.get("/dashboard")).text
        for url in OFFICE_GETS:
            assert (await principal.get(url)).status_code == 200, url


async def test_a_forged_or_replayed_form_is_refused(database_url: str, tmp_path: Path) -> None:
    async with running_school(database_url, roster=_school_folder(tmp_path)) as school:
        office = await signed_in(school, OFFICE)
        page = await office.get("/dashboard/office/people?q=Ani")
        assert page.status_code == 200 and "Sari Wulandari" in page.text
        guardian = re.search(r'/dashboard/office/guardians/(\d+)/stop', page.text)[1]  # type: ignore[index]
        url = f"/dashboard/office/guardians/{guardian}/stop?q=Ani"
        # Another site's page posting into the office's session: no token, or its own origin.
        assert (await office.post(url, data={})).status_code == 403
        assert (await office.post(url, data={"csrf": "made-up"})).status_code == 403
        cross = await office.post(url, data={"csrf": token(page.text)}, headers={"Origin": "https://evil.example"})
        assert cross.status_code == 403
        assert (await office.post(url, data={"csrf": token(page.text)},
                                  headers={"Sec-Fetch-Site": "cross-site"})).status_code == 403
        # A form kept from before signing out is refused in the next session.
        old = token(page.text)
        await office.post("/dashboard/logout")
        office = await signed_in(school, OFFICE)
        assert (await office.post(url, data={"csrf": old})).status_code == 403
        done = await office.post(url, data={"csrf": token((await office.get("/dashboard/office")).text)})
        assert done.status_code == 200 and "tidak akan dikirimi pesan lagi" in visible_text(done.text)


async def test_an_upload_over_the_limit_or_of_the_wrong_type_is_refused_clearly(
        database_url: str, tmp_path: Path) -> None:
    async with running_school(database_url, roster=_school_folder(tmp_path)) as school:
        office = await signed_in(school, OFFICE)
        csrf = token((await office.get("/dashboard/office/roster")).text)
        big = await office.post("/dashboard/office/roster", data={"csrf": csrf},
                                files={"files": ("daftar.xlsx", b"PK\x03\x04" + b"\0" * (11 * 1024 * 1024))})
        assert big.status_code == 200
        assert "Berkas terlalu besar: paling besar 10 MiB seluruhnya." in visible_text(big.text)
        odd = await office.post("/dashboard/office/roster", data={"csrf": csrf},
                                files={"files": ("foto.jpg", b"\xff\xd8\xff")})
        assert "foto.jpg bukan berkas .xlsx, .csv atau .yaml." in visible_text(odd.text)
        fake = await office.post("/dashboard/office/roster", data={"csrf": csrf},
                                 files={"files": ("daftar.xlsx", b"Nama,NISN\n")})
        assert "daftar.xlsx bukan berkas .xlsx" in visible_text(fake.text)
        async with school.services.sessions() as session:
            assert (await session.exec(select(RosterUpload))).all() == []


async def test_a_saved_preview_cannot_be_saved_again_and_problems_name_file_line_and_column(
        database_url: str, tmp_path: Path) -> None:
    async with running_school(database_url, roster=_school_folder(tmp_path)) as school:
        office = await signed_in(school, OFFICE)
        csrf = token((await office.get("/dashboard/office/roster")).text)
        export = tmp_path / "baru.xlsx"
        write_export(export, [_ani(), *make_students(6, ["7 A", "7 B"], start=75000010)])
        preview = await office.post("/dashboard/office/roster", data={"csrf": csrf},
                                    files={"files": ("baru.xlsx", export.read_bytes())})
        text = visible_text(preview.text)
        assert "Pratinjau perubahan" in text and "NIK" in text, text
        action = re.search(r'action="(/dashboard/office/roster/\d+)"', preview.text)[1]  # type: ignore[index]
        digest = re.search(r'name="digest" value="(\w+)"', preview.text)[1]  # type: ignore[index]
        async with school.services.sessions() as session:
            assert len((await session.exec(select(Student))).all()) == 5  # nothing written yet
        saved = await office.post(action, data={"csrf": csrf, "digest": digest})
        assert "Data tersimpan" in visible_text(saved.text)
        again = await office.post(action, data={"csrf": csrf, "digest": digest})
        assert "sudah disimpan, kedaluwarsa" in visible_text(again.text)
        async with school.services.sessions() as session:
            assert len((await session.exec(select(Student))).all()) == 7
            audit = (await session.exec(select(AuditEntry).where(AuditEntry.action == "import_roster"))).all()
        assert len(audit) == 1

        bad = tmp_path / "students.csv"
        bad.write_text("student_id,name,class\n123,Ani,VII-A\n,Budi,VII-Z\n", encoding="utf-8")
        shown = await office.post("/dashboard/office/roster", data={"csrf": csrf}, files=[
            ("files", ("students.csv", bad.read_bytes())),
            ("files", ("staff.csv", STAFF.encode())),
            ("files", ("guardians.csv", b"student_id,name,relation,phone\n")),
        ])
        rows = re.findall(r'<td data-label="Berkas">([^<]*)</td><td data-label="Baris">(\d*)</td>',
                          shown.text)
        assert ("students.csv", "3") in rows, visible_text(shown.text)
        problems = visible_text(shown.text).split("Masalah")[-1]
        assert "Wajib diisi (student_id)." in problems and "missing" not in problems  # the office reads Indonesian
        assert "Simpan" not in visible_text(shown.text).split("Masalah")[0] or 'id="save"' not in shown.text


async def test_a_whole_schools_export_previews(database_url: str, tmp_path: Path) -> None:
    """1,500 students in 30 classes preview whole (how fast is measured in bench/, not here)."""
    classes = [f"{grade} {section}" for grade in (7, 8, 9) for section in "ABCDEFGHIJ"]
    async with running_school(database_url, roster=_school_folder(tmp_path)) as school:
        office = await signed_in(school, OFFICE)
        csrf = token((await office.get("/dashboard/office/roster")).text)
        export = tmp_path / "besar.xlsx"
        write_export(export, make_students(1500, classes, start=76000000))
        preview = await office.post("/dashboard/office/roster", data={"csrf": csrf},
                                    files={"files": ("besar.xlsx", export.read_bytes())})
        assert 'id="save"' in preview.text, visible_text(preview.text)[:2000]
        assert "1500" in visible_text(preview.text).replace(".", "").replace(",", "")


async def test_the_office_changes_a_teachers_classes_and_adds_a_counselor_with_the_rosters_checks(
        database_url: str, tmp_path: Path) -> None:
    async with running_school(database_url, roster=_school_folder(tmp_path)) as school:
        office = await signed_in(school, OFFICE)
        page = await office.get("/dashboard/office/staff")
        assert "Sri Handayani" in page.text and "••••••••2004" in page.text and "+6281200002004" not in page.text
        sri = re.search(r'/dashboard/office/staff\?edit=(\d+)#staff-form">Sri Handayani', page.text)[1]  # type: ignore[index]
        csrf = token(page.text)
        wrong = await office.post(f"/dashboard/office/staff/{sri}", data={
            "csrf": csrf, "name": "Sri Handayani", "role": "teacher", "homeroom_class": "VII-Z",
            "classes": "VII-A; 7", "office_hours": "Senin jam segala"})
        text = visible_text(wrong.text)
        # Every field's reason in the office's language (the checks write English, for the CLI).
        assert "Kelas 'VII-Z' tidak ada" in text and "Tingkat ('7') hanya untuk Guru BK" in text
        assert re.search(r'id="error-office_hours">[^<]*tidak dapat dibaca', wrong.text)
        assert "unknown class" not in text and "only allowed" not in text and "cannot read" not in text
        await office.get("/dashboard/office/staff?lang=en")  # the same person, reading English
        english = visible_text((await office.post(f"/dashboard/office/staff/{sri}", data={
            "csrf": csrf, "name": "Sri Handayani", "role": "teacher", "homeroom_class": "VII-Z",
            "classes": "VII-A; 7", "office_hours": "Senin jam segala"})).text)
        assert "unknown class 'VII-Z'" in english and "only allowed for counselors" in english
        await office.get("/dashboard/office/staff?lang=id")
        changed = await office.post(f"/dashboard/office/staff/{sri}", data={
            "csrf": csrf, "name": "Sri Handayani", "role": "teacher", "homeroom_class": "VII-A",
            "classes": "VII-A", "subjects": "Matematika; IPA", "office_hours": "", "teams": "tppk"})
        assert "Data Sri Handayani disimpan." in visible_text(changed.text)
        added = await office.post("/dashboard/office/staff", data={
            "csrf": csrf, "staff_id": "BK-02", "name": "Pak Konselor Dua", "role": "counselor",
            "phone": "0812 0000 2009", "classes": "7"})
        assert "Data Pak Konselor Dua disimpan." in visible_text(added.text)
        taken = await office.post("/dashboard/office/staff", data={
            "csrf": csrf, "staff_id": "BK-03", "name": "Orang Lain", "role": "teacher", "phone": "0812-0000-2009"})
        assert re.search(r'id="error-phone"', taken.text), visible_text(taken.text)
        async with school.services.sessions() as session:
            from storage.models import Staff

            people = {s.staff_code: s for s in (await session.exec(select(Staff))).all()}
            actions = [e.action for e in (await session.exec(select(AuditEntry))).all()]
        assert people["T-01"].subjects == "Matematika;IPA" and people["T-01"].teams == "tppk"
        assert people["BK-02"].role == "counselor" and people["BK-02"].classes == "7"
        assert "BK-03" not in people
        assert actions.count("change_staff") == 1 and actions.count("add_staff") == 1
