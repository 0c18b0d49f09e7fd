"""Roster import as a school operator uses it: files in, people in the database, clear errors.

Every test runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL (the ``sessions`` fixture).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func
from sqlmodel import select

from storage.demo import DEMO_ROSTER, seed_demo
from storage.models import Guardian, GuardianStudent, School, SchoolClass, Staff, Student
from storage.roster import ImportResult, RosterError, import_roster, read_roster

GOOD = Path(__file__).parent / "data" / "roster" / "good"
GOOD_JSON = {
    "school": "SMP1", "students": 5, "guardians": 5, "staff": 5, "classes": 2,
    # 2 classes + 5 staff + 5 students + 5 guardians + 6 guardian-student links
    "created": 23, "updated": 0, "errors": [],
}
TABLES = (SchoolClass, Staff, Student, Guardian, GuardianStudent, School)


# ---------------------------------------------------------------- helpers


def roster_copy(tmp_path: Path, name: str = "roster") -> Path:
    folder = tmp_path / name
    shutil.copytree(GOOD, folder)
    return folder


def edit(folder: Path, file: str, old: str, new: str) -> None:
    """Replace text in one roster file, failing loudly if the test's assumption is wrong."""
    path = folder / file
    text = path.read_text(encoding="utf-8-sig")
    assert old in text, f"{old!r} not in {file}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def append(folder: Path, file: str, line: str) -> None:
    with (folder / file).open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def workbook_from(folder: Path, target: Path) -> Path:
    """The same rows as the CSV folder, as one .xlsx with sheets staff, students, guardians."""
    book = Workbook()
    book.remove(book.active)
    for kind in ("staff", "students", "guardians"):
        sheet = book.create_sheet(kind)
        with (folder / f"{kind}.csv").open(encoding="utf-8-sig", newline="") as handle:
            for row in csv.reader(handle):
                sheet.append(row)
    book.save(target)
    return target


async def count(sessions, table) -> int:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return (await session.exec(select(func.count()).select_from(table))).one()


async def assert_empty(sessions) -> None:  # type: ignore[no-untyped-def]
    for table in TABLES:
        assert await count(sessions, table) == 0, f"{table.__name__} has rows after a failed import"


async def all_rows(sessions, table, school_code: str | None = None) -> list:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        query = select(table)
        if school_code is not None:
            school = (await session.exec(select(School).where(School.code == school_code))).one()
            query = query.where(table.school_id == school.id)
        return list((await session.exec(query.order_by(table.id))).all())


async def snapshot(sessions) -> dict[str, list[dict]]:  # type: ignore[no-untyped-def]
    return {t.__name__: [r.model_dump() for r in await all_rows(sessions, t)] for t in TABLES}


# ---------------------------------------------------------------- good rosters


async def test_csv_folder_import_counts_and_stores_the_roster(sessions) -> None:  # type: ignore[no-untyped-def]
    result = await import_roster(sessions, GOOD, school_code="SMP1", school_name="SMP Satu")
    assert isinstance(result, ImportResult)
    assert result.as_json() == GOOD_JSON
    assert list(result.as_json()) == ["school", "students", "guardians", "staff", "classes",
                                      "created", "updated", "errors"]

    [school] = await all_rows(sessions, School)
    assert (school.code, school.name) == ("SMP1", "SMP Satu")
    classes = {c.name: c.grade for c in await all_rows(sessions, SchoolClass)}
    assert classes == {"VII-A": 7, "VIII-A": 8}
    staff = {s.staff_code: s for s in await all_rows(sessions, Staff)}
    assert staff["T-01"].phone == "+6281200002004"
    assert staff["T-01"].homeroom_class == "VII-A"
    assert staff["T-01"].classes == "VII-A;VIII-A"
    assert staff["T-01"].subjects == "Matematika;IPA"
    assert staff["T-01"].language == "en"
    assert staff["T-01"].office_hours == "Sen-Jum 07.00-15.00; Sab 08.00-12.00"
    assert staff["BK-01"].role == "counselor" and staff["BK-01"].classes == "7;8"
    assert staff["TU-01"].language == "id"  # empty language: Bahasa Indonesia
    assert staff["T-02"].homeroom_class == "VIII-A" and staff["T-02"].office_hours == ""
    assert staff["K-01"].homeroom_class is None


async def test_phones_are_stored_in_e164_whatever_the_roster_wrote(sessions) -> None:  # type: ignore[no-untyped-def]
    await import_roster(sessions, GOOD, school_code="SMP1")
    phones = {g.name: g.phone for g in await all_rows(sessions, Guardian)}
    assert phones == {
        "Sari Lestari": "+6281200003001", "Agus Santoso": "+6281200003002",
        "Wati Santoso": "+6281200003003", "Pak Asuh": "+6281200003004", "Om Wali": "+6281200003005",
    }
    assert {s.phone for s in await all_rows(sessions, Staff)} == {
        f"+62812000020{n:02d}" for n in range(1, 6)}


async def test_relations_proxies_and_languages(sessions) -> None:  # type: ignore[no-untyped-def]
    await import_roster(sessions, GOOD, school_code="SMP1")
    guardians = {g.id: g for g in await all_rows(sessions, Guardian)}
    students = {s.id: s for s in await all_rows(sessions, Student)}
    links = {(guardians[link.guardian_id].name, students[link.student_id].name): (link.relation, link.proxy)
             for link in await all_rows(sessions, GuardianStudent)}
    assert links == {
        ("Sari Lestari", "Ani Lestari"): ("ibu", False),
        ("Sari Lestari", "Dodi Lestari"): ("ibu", False),  # written "Ibu": accepted, stored lower case
        ("Agus Santoso", "Budi Santoso"): ("ayah", False),
        ("Wati Santoso", "Budi Santoso"): ("ibu", False),
        ("Pak Asuh", "Cahya Purnama"): ("orang tua asuh", True),
        ("Om Wali", "Euis Komariah"): ("wali", True),  # "ya"
    }
    assert {g.name: g.language for g in guardians.values()}["Wati Santoso"] == "en"


async def test_siblings_share_one_guardian_row(sessions) -> None:  # type: ignore[no-untyped-def]
    await import_roster(sessions, GOOD, school_code="SMP1")
    [mother] = [g for g in await all_rows(sessions, Guardian) if g.phone == "+6281200003001"]
    children = [link.student_id for link in await all_rows(sessions, GuardianStudent)
                if link.guardian_id == mother.id]
    students = {s.id: s for s in await all_rows(sessions, Student)}
    classes = {c.id: c.name for c in await all_rows(sessions, SchoolClass)}
    assert sorted((students[i].name, classes[students[i].class_id]) for i in children) == [
        ("Ani Lestari", "VII-A"), ("Dodi Lestari", "VIII-A")]


async def test_xlsx_workbook_imports_like_the_csv_folder(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    book = workbook_from(GOOD, tmp_path / "roster.xlsx")
    result = await import_roster(sessions, book, school_code="SMP1")
    assert result.as_json() == GOOD_JSON
    assert {g.phone for g in await all_rows(sessions, Guardian)} == {
        f"+62812000030{n:02d}" for n in range(1, 6)}
    # The same rows as CSV afterwards are the same roster: nothing to change.
    again = await import_roster(sessions, GOOD, school_code="SMP1")
    assert (again.created, again.updated) == (0, 0)


async def test_xlsx_numbers_typed_as_numbers_still_import(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Excel turns 081200003002 into the number 81200003002 and NISNs into numbers."""
    path = workbook_from(GOOD, tmp_path / "roster.xlsx")
    from openpyxl import load_workbook

    book = load_workbook(path)
    for row in book["guardians"].iter_rows(min_row=2):
        row[0].value = int(row[0].value)
    book["guardians"]["D4"] = 81200003002
    for row in book["students"].iter_rows(min_row=2):
        row[0].value = int(row[0].value)
    book.save(path)
    result = await import_roster(sessions, path, school_code="SMP1")
    assert result.as_json() == GOOD_JSON
    assert "+6281200003002" in {g.phone for g in await all_rows(sessions, Guardian)}


async def test_semicolon_separated_csv_from_excel_imports(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Excel with Indonesian settings saves "CSV" with ';' between cells."""
    folder = tmp_path / "semicolons"
    folder.mkdir()
    for kind in ("staff", "students", "guardians"):
        with (GOOD / f"{kind}.csv").open(encoding="utf-8-sig", newline="") as source, \
                (folder / f"{kind}.csv").open("w", encoding="utf-8", newline="") as target:
            csv.writer(target, delimiter=";").writerows(csv.reader(source))
    result = await import_roster(sessions, folder, school_code="SMP1")
    assert result.as_json() == GOOD_JSON
    staff = {s.staff_code: s for s in await all_rows(sessions, Staff)}
    assert staff["T-01"].classes == "VII-A;VIII-A"


async def test_without_school_code_an_empty_database_gets_a_default_school(sessions) -> None:  # type: ignore[no-untyped-def]
    result = await import_roster(sessions, GOOD)
    assert result.school == "default"
    again = await import_roster(sessions, GOOD)  # the only school is used again
    assert (again.school, again.created, again.updated) == ("default", 0, 0)
    assert await count(sessions, School) == 1


# ---------------------------------------------------------------- re-imports and updates


async def test_reimporting_the_same_roster_changes_nothing(sessions) -> None:  # type: ignore[no-untyped-def]
    await import_roster(sessions, GOOD, school_code="SMP1")
    before = await snapshot(sessions)
    again = await import_roster(sessions, GOOD, school_code="SMP1")
    assert again.as_json() == {**GOOD_JSON, "created": 0, "updated": 0}
    assert await snapshot(sessions) == before


async def test_an_updated_roster_updates_rows_in_place(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    await import_roster(sessions, GOOD, school_code="SMP1")
    ids = {t.__name__: [r.id for r in await all_rows(sessions, t)] for t in TABLES}
    folder = roster_copy(tmp_path)
    edit(folder, "students.csv", "Ani Lestari,VII-A", "Ani Lestari Putri,VII-A")  # name
    edit(folder, "students.csv", "Budi Santoso,VII-A", "Budi Santoso,VIII-A")  # moved class
    edit(folder, "staff.csv", "081200002005", "0812-0000-2099")  # teacher's new phone
    edit(folder, "guardians.csv", "Agus Santoso,ayah,0812-0000-3002", "Agus Santoso,ayah,0812-0000-3099")

    result = await import_roster(sessions, folder, school_code="SMP1")
    assert (result.created, result.updated) == (0, 4)
    assert {t.__name__: [r.id for r in await all_rows(sessions, t)] for t in TABLES} == ids
    students = {s.nisn: s for s in await all_rows(sessions, Student)}
    classes = {c.id: c.name for c in await all_rows(sessions, SchoolClass)}
    assert students["1000000001"].name == "Ani Lestari Putri"
    assert classes[students["1000000002"].class_id] == "VIII-A"
    assert {s.staff_code: s.phone for s in await all_rows(sessions, Staff)}["T-02"] == "+6281200002099"
    # Same father, same child, new number: his row (and opt-outs, history) moves with him.
    assert {g.name: g.phone for g in await all_rows(sessions, Guardian)}["Agus Santoso"] == "+6281200003099"

    again = await import_roster(sessions, folder, school_code="SMP1")
    assert (again.created, again.updated) == (0, 0)


async def test_two_staff_can_swap_phone_numbers(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    await import_roster(sessions, GOOD, school_code="SMP1")
    folder = roster_copy(tmp_path)
    edit(folder, "staff.csv", "(0812) 0000-2004", "081200002005")
    edit(folder, "staff.csv", "Bu Wali Delapan,teacher,081200002005", "Bu Wali Delapan,teacher,081200002004")
    result = await import_roster(sessions, folder, school_code="SMP1")
    assert (result.created, result.updated) == (0, 2)
    phones = {s.staff_code: s.phone for s in await all_rows(sessions, Staff)}
    assert (phones["T-01"], phones["T-02"]) == ("+6281200002005", "+6281200002004")


async def test_new_rows_are_added_and_dropped_links_removed(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Students, staff and guardians absent from a new roster stay; their links to children go."""
    await import_roster(sessions, GOOD, school_code="SMP1")
    folder = roster_copy(tmp_path)
    edit(folder, "guardians.csv", "1000000002,Wati Santoso,ibu,0812-0000-3003,en,,\n", "")
    append(folder, "students.csv", "1000000006,Fina Rahmawati,VIII-B")
    append(folder, "guardians.csv", "1000000006,Rahmat Hidayat,ayah,0812-0000-3006,id,no,")
    result = await import_roster(sessions, folder, school_code="SMP1")
    # created: class VIII-B, student, guardian, link; updated: Wati's link removed
    assert (result.created, result.updated) == (4, 1)
    assert (result.students, result.guardians, result.classes) == (6, 5, 3)
    wati = [g for g in await all_rows(sessions, Guardian) if g.name == "Wati Santoso"]
    assert len(wati) == 1  # kept, for history
    assert not [link for link in await all_rows(sessions, GuardianStudent) if link.guardian_id == wati[0].id]


async def test_a_language_chosen_in_chat_survives_a_roster_with_no_language(sessions) -> None:  # type: ignore[no-untyped-def]
    await import_roster(sessions, GOOD, school_code="SMP1")
    async with sessions() as session, session.begin():
        admin = (await session.exec(select(Staff).where(Staff.staff_code == "TU-01"))).one()
        admin.language = "en"  # switched with `bahasa` in chat
        session.add(admin)
    result = await import_roster(sessions, GOOD, school_code="SMP1")
    assert (result.created, result.updated) == (0, 0)
    assert {s.staff_code: s.language for s in await all_rows(sessions, Staff)}["TU-01"] == "en"


# ---------------------------------------------------------------- schools, dry runs


async def test_two_schools_never_see_each_others_rows(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    await import_roster(sessions, GOOD, school_code="A", school_name="SMP A")
    other = roster_copy(tmp_path, "other")
    edit(other, "students.csv", "Ani Lestari", "Ani dari Sekolah B")
    edit(other, "staff.csv", "Pak Wali Tujuh", "Pak Wali Sekolah B")
    result_b = await import_roster(sessions, other, school_code="B", school_name="SMP B")
    # Same phones and NISNs, another school: all its rows are its own.
    assert result_b.as_json() == {**GOOD_JSON, "school": "B"}

    a_names = {s.name for s in await all_rows(sessions, Student, "A")}
    b_names = {s.name for s in await all_rows(sessions, Student, "B")}
    assert "Ani Lestari" in a_names and "Ani dari Sekolah B" not in a_names
    assert "Ani dari Sekolah B" in b_names and "Ani Lestari" not in b_names
    assert len(await all_rows(sessions, Guardian, "A")) == len(await all_rows(sessions, Guardian, "B")) == 5
    assert {s.name for s in await all_rows(sessions, Staff, "A")} >= {"Pak Wali Tujuh"}

    # Re-importing school A with its own roster does not touch B, and vice versa.
    again = await import_roster(sessions, GOOD, school_code="A")
    assert (again.created, again.updated) == (0, 0)
    assert "Ani dari Sekolah B" in {s.name for s in await all_rows(sessions, Student, "B")}
    b_classes = {c.id for c in await all_rows(sessions, SchoolClass, "B")}
    assert {s.class_id for s in await all_rows(sessions, Student, "B")} <= b_classes

    with pytest.raises(RosterError) as caught:
        await import_roster(sessions, GOOD)
    assert caught.value.errors == ["--school is required: the database holds several schools (A, B)"]


async def test_dry_run_counts_but_writes_nothing(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = await import_roster(sessions, GOOD, school_code="SMP1", dry_run=True)
    assert result.as_json() == GOOD_JSON
    await assert_empty(sessions)

    await import_roster(sessions, GOOD, school_code="SMP1")
    before = await snapshot(sessions)
    folder = roster_copy(tmp_path)
    edit(folder, "students.csv", "Cahya Purnama", "Cahya Purnamasari")
    preview = await import_roster(sessions, folder, school_code="SMP1", dry_run=True)
    assert (preview.created, preview.updated) == (0, 1)
    assert await snapshot(sessions) == before


# ---------------------------------------------------------------- bad rosters


BAD_ROWS = [
    pytest.param("guardians.csv", "0812-0000-3002", "0812",
                 "guardians.csv:4: phone: not a valid Indonesian phone number '0812'", id="bad-phone"),
    pytest.param("staff.csv", "0812-0000-2001", "",
                 "staff.csv:2: phone: missing phone", id="missing-phone"),
    pytest.param("staff.csv", "teacher,081200002005,id,VIII-A", "teacher,081200002005,id,IX-A",
                 "staff.csv:6: homeroom_class: unknown class 'IX-A' (no student in students.csv is in it)",
                 id="unknown-homeroom-class"),
    pytest.param("staff.csv", "teacher,081200002005,id,VIII-A", "teacher,081200002005,id,vii-a",
                 "staff.csv:6: homeroom_class: class VII-A already has homeroom teacher T-01 (line 5)",
                 id="two-homeroom-teachers"),
    pytest.param("staff.csv", "VII-A;VIII-A,Matematika", "VII-A;VIII-C,Matematika",
                 "staff.csv:5: classes: unknown class 'VIII-C' (no student in students.csv is in it)",
                 id="unknown-class-taught"),
    pytest.param("staff.csv", ",7;8,", ",7;9,",
                 "staff.csv:4: classes: unknown grade '9' (no class of that grade in students.csv)",
                 id="unknown-grade"),
    pytest.param("staff.csv", "VIII-A,VIII-A,Bahasa", "VIII-A,8,Bahasa",
                 "staff.csv:6: classes: a grade ('8') is only allowed for counselors; list classes like VII-A",
                 id="grade-for-a-teacher"),
    pytest.param("students.csv", "Cahya Purnama,VII-A", "Cahya Purnama,VIIA",
                 "students.csv:4: class: malformed class name 'VIIA' (expected e.g. VII-A or X-IPA-1)",
                 id="malformed-class"),
    pytest.param("guardians.csv", "1000000005,Om Wali", "1000000099,Om Wali",
                 "guardians.csv:7: student_id: unknown student '1000000099' (not in students.csv)",
                 id="unknown-student"),
    pytest.param("students.csv", "1000000003,Cahya Purnama", "1000000003,",
                 "students.csv:4: name: missing name", id="missing-student-name"),
    pytest.param("guardians.csv", "Om Wali", " ", "guardians.csv:7: name: missing name",
                 id="missing-guardian-name"),
    pytest.param("staff.csv", "T-02,", "T-01,",
                 "staff.csv:6: staff_id: duplicate staff_id 'T-01' (also on line 5)", id="duplicate-staff-id"),
    pytest.param("students.csv", "Euis Komariah,VIII-A\n", "Euis Komariah,VIII-A\n1000000001,Ani Kembar,VII-A\n",
                 "students.csv:7: student_id: duplicate student_id '1000000001' (also on line 2)",
                 id="duplicate-nisn"),
    pytest.param("guardians.csv", "1000000002,Wati Santoso,ibu,0812-0000-3003,en",
                 "1000000002,Agus Santoso,ibu,081200003002,id",
                 "guardians.csv:5: phone: duplicate guardian: phone '081200003002' is already listed "
                 "for student 1000000002 on line 4", id="duplicate-guardian"),
    pytest.param("staff.csv", "081200002005", "+62 812-0000-2001",
                 "staff.csv:6: phone: duplicate phone '+62 812-0000-2001' (also on line 2)",
                 id="duplicate-staff-phone"),
    pytest.param("staff.csv", "Contoh,principal", "Contoh,guru",
                 "staff.csv:2: role: unknown role 'guru' (expected teacher, counselor, principal or admin)",
                 id="unknown-role"),
    pytest.param("guardians.csv", "0812-0000-3004,id", "0812-0000-3004,jv",
                 "guardians.csv:6: language: unknown language 'jv' (expected id or en)", id="bad-language"),
    pytest.param("guardians.csv", "Om Wali,wali", "Om Wali,paman",
                 "guardians.csv:7: relation: unknown relation 'paman' "
                 "(expected ayah, ibu, wali or orang tua asuh)", id="bad-relation"),
    pytest.param("guardians.csv", "0812-0000-3004,id,yes", "0812-0000-3004,id,mungkin",
                 "guardians.csv:6: proxy: unknown proxy value 'mungkin' (expected yes or no)",
                 id="bad-proxy"),
    pytest.param("staff.csv", "Mon-Fri 07:00-14:00", "Mon-Fri 7-14",
                 "staff.csv:4: office_hours: cannot read 'Mon-Fri 7-14' (expected e.g. Mon-Fri 07:00-15:00)",
                 id="bad-office-hours"),
    pytest.param("staff.csv", "Sen-Jum 07.00-15.00; Sab", "Sen-Jum 07.00-15.00; Sbt",
                 "staff.csv:5: office_hours: unknown day 'Sbt'", id="bad-office-day"),
    pytest.param("guardians.csv", "1000000004,Sari Lestari,Ibu", "1000000004,Sari Lestary,Ibu",
                 "guardians.csv:3: name: phone '+62 812-0000-3001' already belongs to 'Sari Lestari' "
                 "on line 2 (one phone is one person)", id="one-phone-two-names"),
    pytest.param("guardians.csv", "student_id,name,relation,phone,", "student_id,name,relation,telp,",
                 "guardians.csv:1: phone: missing column", id="missing-column"),
]


@pytest.mark.parametrize(("file", "old", "new", "error"), BAD_ROWS)
async def test_a_bad_row_is_reported_exactly_and_nothing_is_written(  # type: ignore[no-untyped-def]
        sessions, tmp_path: Path, file: str, old: str, new: str, error: str) -> None:
    folder = roster_copy(tmp_path)
    edit(folder, file, old, new)
    with pytest.raises(RosterError) as caught:
        await import_roster(sessions, folder, school_code="SMP1")
    assert caught.value.errors == [error]
    await assert_empty(sessions)


async def test_every_bad_row_is_listed_at_once(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = roster_copy(tmp_path)
    edit(folder, "staff.csv", "Contoh,principal", "Contoh,guru")
    edit(folder, "students.csv", "1000000003,Cahya Purnama", "1000000003,")
    edit(folder, "guardians.csv", "0812-0000-3002", "0812")
    edit(folder, "guardians.csv", "Om Wali,wali", "Om Wali,paman")
    edit(folder, "guardians.csv", "0812-0000-3004,id,yes", "0812-0000-3004,jv,yes")
    with pytest.raises(RosterError) as caught:
        await import_roster(sessions, folder, school_code="SMP1")
    assert caught.value.errors == [
        "staff.csv:2: role: unknown role 'guru' (expected teacher, counselor, principal or admin)",
        "students.csv:4: name: missing name",
        "guardians.csv:4: phone: not a valid Indonesian phone number '0812'",
        "guardians.csv:6: language: unknown language 'jv' (expected id or en)",
        "guardians.csv:7: relation: unknown relation 'paman' (expected ayah, ibu, wali or orang tua asuh)",
    ]
    assert str(caught.value).splitlines() == caught.value.errors
    await assert_empty(sessions)


async def test_bad_rows_in_a_workbook_name_the_sheet(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = roster_copy(tmp_path)
    edit(folder, "guardians.csv", "0812-0000-3002", "0812")
    edit(folder, "students.csv", "Cahya Purnama,VII-A", "Cahya Purnama,VIIA")
    book = workbook_from(folder, tmp_path / "roster.xlsx")
    with pytest.raises(RosterError) as caught:
        await import_roster(sessions, book, school_code="SMP1")
    assert caught.value.errors == [
        "roster.xlsx[students]:4: class: malformed class name 'VIIA' (expected e.g. VII-A or X-IPA-1)",
        "roster.xlsx[guardians]:4: phone: not a valid Indonesian phone number '0812'",
    ]
    await assert_empty(sessions)


async def test_a_bad_update_leaves_the_previous_roster_untouched(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    await import_roster(sessions, GOOD, school_code="SMP1")
    before = await snapshot(sessions)
    folder = roster_copy(tmp_path)
    edit(folder, "students.csv", "Ani Lestari", "Ani Berubah")  # valid change...
    edit(folder, "guardians.csv", "Om Wali,wali", "Om Wali,paman")  # ...and one bad row
    with pytest.raises(RosterError):
        await import_roster(sessions, folder, school_code="SMP1")
    assert await snapshot(sessions) == before


async def test_a_staff_phone_still_held_by_someone_left_out_is_refused(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    await import_roster(sessions, GOOD, school_code="SMP1")
    before = await snapshot(sessions)
    folder = roster_copy(tmp_path)
    edit(folder, "staff.csv", "K-01,Ibu Kepala Contoh,principal,0812-0000-2001,id,,,,Sen-Jum 07.00-15.00\n", "")
    append(folder, "staff.csv", "K-02,Kepala Baru,principal,0812-0000-2001,id,,,,")
    with pytest.raises(RosterError) as caught:
        await import_roster(sessions, folder, school_code="SMP1")
    assert caught.value.errors == [
        "staff.csv:6: phone: +6281200002001 belongs to staff K-01 (Ibu Kepala Contoh), "
        "who is not in this roster"]
    assert await snapshot(sessions) == before


def test_missing_files_and_unreadable_text_are_reported(tmp_path: Path) -> None:
    folder = roster_copy(tmp_path)
    (folder / "guardians.csv").unlink()
    (folder / "students.csv").write_bytes("student_id,name,class\n1,Ani Müller,VII-A\n".encode("cp1252"))
    with pytest.raises(RosterError) as caught:
        read_roster(folder)
    assert caught.value.errors == [
        'students.csv:2: name: not UTF-8 text (byte 0xfc, an accent saved as Windows-1252?): '
        'save the file as "CSV UTF-8"',
        f"guardians.csv: file missing in {folder}",
    ]
    with pytest.raises(RosterError) as caught:
        read_roster(tmp_path / "nowhere")
    assert caught.value.errors == [f"{tmp_path / 'nowhere'}: no such file or folder"]


def test_a_workbook_without_a_sheet_is_reported(tmp_path: Path) -> None:
    book = Workbook()
    book.active.title = "staff"
    book.create_sheet("students")
    path = tmp_path / "roster.xlsx"
    book.save(path)
    with pytest.raises(RosterError) as caught:
        read_roster(path)
    assert caught.value.errors[-1] == "roster.xlsx: missing sheet 'guardians' (the workbook has 'staff', 'students')"


# ---------------------------------------------------------------- the demo school


async def test_demo_roster_imports_cleanly(sessions) -> None:  # type: ignore[no-untyped-def]
    result = await seed_demo(sessions, if_empty=True)
    assert result is not None
    assert (result.school, result.classes, result.students, result.staff) == ("DEMO", 4, 24, 10)
    assert result.errors == [] and result.updated == 0
    [school] = await all_rows(sessions, School)
    assert school.name == "SMP Negeri Contoh Jembatan"
    assert school.timezone == "Asia/Jakarta"
    assert "Tata Usaha" in school.office_contact

    staff = await all_rows(sessions, Staff)
    assert {s.role for s in staff} == {"principal", "admin", "counselor", "teacher"}
    assert sorted(s.classes for s in staff if s.role == "counselor") == ["7", "8;9"]
    assert {s.homeroom_class for s in staff} >= {"VII-A", "VII-B", "VIII-A", "IX-A"}
    links = await all_rows(sessions, GuardianStudent)
    assert any(link.proxy and link.relation == "orang tua asuh" for link in links)
    assert "en" in {g.language for g in await all_rows(sessions, Guardian)}
    # Siblings in different classes share one guardian.
    students = {s.id: s.class_id for s in await all_rows(sessions, Student)}
    per_guardian: dict[int, set[int]] = {}
    for link in links:
        per_guardian.setdefault(link.guardian_id, set()).add(students[link.student_id])
    assert any(len(classes) > 1 for classes in per_guardian.values())

    # Seeding again when a school exists is a no-op; importing its roster again changes nothing.
    assert await seed_demo(sessions, if_empty=True) is None
    again = await import_roster(sessions, DEMO_ROSTER, school_code="DEMO")
    assert (again.created, again.updated) == (0, 0)
    reseed = await seed_demo(sessions, if_empty=False)
    assert reseed is not None and (reseed.created, reseed.updated) == (0, 0)


async def test_demo_is_not_seeded_over_another_school(sessions) -> None:  # type: ignore[no-untyped-def]
    await import_roster(sessions, GOOD, school_code="SMP1")
    assert await seed_demo(sessions, if_empty=True) is None
    assert [s.code for s in await all_rows(sessions, School)] == ["SMP1"]
