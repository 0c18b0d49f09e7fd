"""A school starts from its Dapodik export as downloaded: students, parents' names, the family's
number, and nothing of the sensitive columns. Runs on SQLite and, with TEST_DATABASE_URL, PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select
from sqlmodel import SQLModel

from storage.models import Guardian, GuardianStudent, School, SchoolClass, Staff, Student
from storage.roster import RosterError, import_roster
from tests.dapodik_export import make_students, write_export
from tests.test_cli import jembatan

CLASSES = ["Kelas 7A", "7 B", "VII C", "8A", "VIII-B"]
STAFF = """staff_id,name,role,phone,language,homeroom_class,classes,subjects,office_hours
K-01,Ibu Kepala,principal,0812-0000-2001,id,,,,
TU-01,Pak Tata Usaha,admin,0812-0000-2002,id,,,,
BK-01,Bu Konselor,counselor,0812-0000-2003,id,,7;8,,
T-01,Bu Sri,teacher,0812-0000-2004,id,VII-A,VII-A;VII-B,Matematika,
T-02,Pak Budi,teacher,0812-0000-2005,id,VIII-B,VIII-A;VIII-B,IPA,
"""
SCHOOL_YAML = """name: SMP Negeri 3 Lubuk Alung
address: Jl. Raya Lubuk Alung No. 1
city: Lubuk Alung
phone: (0751) 123456
email: smpn3@example.sch.id
principal: Dra. Hj. Nurhayati, M.Pd.
principal_nip: "196501011990032001"
letter_number: 421.3/{seq:03d}/SMPN3/{roman_month}/{year}
"""


def school_folder(tmp_path: Path, count: int = 60, **options) -> tuple[Path, list]:  # type: ignore[no-untyped-def]
    folder = tmp_path / "sekolah"
    folder.mkdir(exist_ok=True)
    students = make_students(count, CLASSES)
    write_export(folder / "daftar_pd-SMPN3-2026.xlsx", students, **options)
    (folder / "staff.csv").write_text(STAFF, encoding="utf-8")
    (folder / "school.yaml").write_text(SCHOOL_YAML, encoding="utf-8")
    return folder, students


async def rows(sessions, table) -> list:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return list((await session.exec(select(table).order_by(table.id))).scalars().all())


async def every_text(sessions) -> str:  # type: ignore[no-untyped-def]
    """Every text-like value of every column of every table, as one string."""
    found: list[str] = []
    async with sessions() as session:
        connection = await session.connection()
        for table in SQLModel.metadata.sorted_tables:
            for row in (await connection.execute(select(table))).all():
                found.extend(str(value) for value in row if value is not None)
    return "\n".join(found)


async def test_export_with_staff_and_letterhead_imports_students_guardians_and_family_numbers(
        sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder, students = school_folder(tmp_path)
    result = await import_roster(sessions, folder, school_code="SMPN3")
    data = result.as_json()
    assert data["school"] == "SMPN3" and data["students"] == 60 and data["staff"] == 5
    assert data["classes"] == 5 and data["errors"] == []
    named = sum((s.father != "-") + 1 + (s.guardian != "-") for s in students)
    assert data["guardians"] == named
    for column in ("NIK", "No KK", "Nomor Rekening Bank", "Lintang", "Bujur",
                   "Data Ayah / NIK", "Data Ibu / Penghasilan", "Layak PIP (usulan dari sekolah)"):
        assert column in data["ignored_columns"]
    assert "NISN" not in data["ignored_columns"] and "Data Ibu / Nama" not in data["ignored_columns"]

    classes = {c.name for c in await rows(sessions, SchoolClass)}
    assert classes == {"VII-A", "VII-B", "VII-C", "VIII-A", "VIII-B"}  # however Dapodik wrote them
    staff = {s.staff_code: s for s in await rows(sessions, Staff)}
    assert staff["T-01"].homeroom_class == "VII-A"
    [school] = await rows(sessions, School)
    assert school.name == "SMP Negeri 3 Lubuk Alung"
    assert school.letterhead["principal_nip"] == "196501011990032001"
    assert school.letterhead["letter_number"].startswith("421.3/{seq:03d}")

    first = students[0]
    by_nisn = {s.nisn: s for s in await rows(sessions, Student)}
    stored = by_nisn[first.nisn]
    assert stored.name == first.name and stored.birth_date == first.birth_date
    assert stored.family_phone == "+62" + first.hp[1:] if first.hp else stored.family_phone is None
    assert stored.left_at is None
    guardians = {g.id: g for g in await rows(sessions, Guardian)}
    links = [(link.relation, guardians[link.guardian_id].name)
             for link in await rows(sessions, GuardianStudent) if link.student_id == stored.id]
    expected = [("ayah", first.father), ("ibu", first.mother), ("wali", first.guardian)]
    assert sorted(links) == sorted((r, n) for r, n in expected if n != "-")
    # The family's number is given to no guardian: nobody is reachable before enrolling.
    assert not any(g.phone.startswith("+") for g in guardians.values())

    dump = await every_text(sessions)
    for student in students:
        for secret in (student.nik, student.no_kk, student.account, *student.parents_nik):
            assert secret not in dump
    assert "Rp. 1,000,000" not in dump and "100.2912345" not in dump and "-0.6612345" not in dump


async def test_reimport_is_idempotent_and_an_updated_export_updates_in_place(
        sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder, students = school_folder(tmp_path, count=30)
    await import_roster(sessions, folder, school_code="SMPN3")
    before = {s.nisn: s.id for s in await rows(sessions, Student)}
    again = await import_roster(sessions, folder, school_code="SMPN3")
    assert (again.created, again.updated) == (0, 0)

    moved, renamed, gone = students[1], students[2], students[3]
    moved.rombel = "8 A"
    renamed.mother = "Siti Rahmawati"
    later = [s for s in students if s is not gone]
    write_export(folder / "daftar_pd-SMPN3-2026.xlsx", later)
    updated = await import_roster(sessions, folder, school_code="SMPN3")
    assert updated.students == 29 and updated.created == 0
    assert updated.left == 1
    by_nisn = {s.nisn: s for s in await rows(sessions, Student)}
    assert {nisn: s.id for nisn, s in by_nisn.items()} == before  # updated in place, none deleted
    assert by_nisn[gone.nisn].left_at is not None
    classes = {c.id: c.name for c in await rows(sessions, SchoolClass)}
    assert classes[by_nisn[moved.nisn].class_id] == "VIII-A"
    guardians = {g.id: g for g in await rows(sessions, Guardian)}
    mothers = [guardians[link.guardian_id].name for link in await rows(sessions, GuardianStudent)
               if link.student_id == by_nisn[renamed.nisn].id and link.relation == "ibu"]
    assert mothers == ["Siti Rahmawati"]

    write_export(folder / "daftar_pd-SMPN3-2026.xlsx", students)  # the student came back
    await import_roster(sessions, folder, school_code="SMPN3")
    assert (await rows(sessions, Student))[3].left_at is None


async def test_older_export_and_a_wrongly_sized_sheet_read_the_same(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    students = make_students(25, CLASSES)
    old = write_export(tmp_path / "lama.xlsx", students, old=True, bad_dimension=True)
    result = await import_roster(sessions, old, school_code="SMPN3")
    assert result.students == 25 and "Telepon" not in result.ignored_columns
    stored = {s.nisn: s for s in await rows(sessions, Student)}
    assert set(stored) == {s.nisn for s in students}
    # Dapodik alone updates the same school's students (here: the same rows, nothing changes).
    new = write_export(tmp_path / "baru.xlsx", students)
    again = await import_roster(sessions, new, school_code="SMPN3")
    assert again.created == 0
    assert again.updated == sum(1 for s in students if not s.hp and s.telepon)  # Telepon now read


def _sheet_without(path: Path, column: str) -> None:
    from openpyxl import load_workbook
    book = load_workbook(path)
    sheet = book.active
    for cell in sheet[5]:
        if cell.value == column:
            cell.value = "Nomor Induk"
    book.save(path)


@pytest.mark.parametrize("case", ["no_nisn_column", "duplicate", "no_class", "not_dapodik",
                                  "password", "corrupt", "cp1252_csv"])
async def test_bad_input_is_a_precise_error_and_nothing_is_written(
        sessions, tmp_path: Path, case: str) -> None:  # type: ignore[no-untyped-def]
    students = make_students(12, CLASSES)
    path = tmp_path / "daftar.xlsx"
    if case == "no_nisn_column":
        write_export(path, students)
        _sheet_without(path, "NISN")
        expected = ["daftar.xlsx:5: NISN: missing column (the export's header on line 5 has no "
                    "NISN column)"]
    elif case == "duplicate":
        students[5].nisn = students[2].nisn
        write_export(path, students)
        expected = [f"daftar.xlsx:12: NISN: duplicate NISN '{students[2].nisn}' (also on line 9)"]
    elif case == "no_class":
        students[4].rombel = ""
        write_export(path, students)
        expected = [f"daftar.xlsx:11: Rombel Saat Ini: {students[4].name} has no class"]
    elif case == "not_dapodik":
        book = Workbook()
        book.active.title = "Nilai"
        book.active.append(["Nama", "Nilai"])
        book.save(path)
        expected = ["daftar.xlsx: neither a Dapodik student export (no header with Nama, NISN and "
                    "Rombel Saat Ini in its first 40 rows) nor a roster workbook with sheets staff, "
                    "students and guardians (it has 'Nilai')"]
    elif case == "password":
        path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
        expected = ["daftar.xlsx: the workbook is password-protected or an old .xls file: open it "
                    "in Excel and save it as .xlsx without a password"]
    elif case == "corrupt":
        write_export(path, students)
        path.write_bytes(path.read_bytes()[:3000])
        expected = ["daftar.xlsx: not a readable .xlsx workbook (the file is damaged or is not a "
                    "workbook): download or save it again"]
    else:
        path = tmp_path / "roster"
        path.mkdir()
        (path / "staff.csv").write_text(STAFF.replace(",", ";"), encoding="utf-8")
        (path / "students.csv").write_bytes(
            "student_id;name;class\n0071000001;Andr\u00e9 Siregar;VII-A\n".encode("cp1252"))
        (path / "guardians.csv").write_text("student_id;name;relation;phone\n", encoding="utf-8")
        expected = ["students.csv:2: name: not UTF-8 text (byte 0xe9, an accent saved as "
                    "Windows-1252?): save the file as \"CSV UTF-8\""]
    with pytest.raises(RosterError) as raised:
        await import_roster(sessions, path, school_code="SMPN3")
    assert raised.value.errors == expected
    for table in (School, Student, Guardian, SchoolClass, Staff):
        assert await rows(sessions, table) == []


def test_cli_json_names_ignored_columns_and_never_prints_sensitive_values(tmp_path: Path, sqlite_url: str) -> None:
    url = sqlite_url  # a copy of the migrated template: `db upgrade` itself is tested in test_cli.py
    students = make_students(10, CLASSES)
    export = write_export(tmp_path / "daftar.xlsx", students)
    result = jembatan("roster", "import", str(export), "--school", "SMPN3", "--json",
                      database_url=url, cwd=tmp_path, extra_env={"LOG_LEVEL": "DEBUG"})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["students"] == 10 and "No KK" in data["ignored_columns"]
    for student in students:
        assert student.nik not in result.stdout + result.stderr
        assert student.account not in result.stdout + result.stderr
