"""Roster import: staff, students and guardians from CSV files, a workbook or a Dapodik export.

``read_roster`` reads and checks everything that can be checked without the database and
reports every bad row at once as ``file:line: column: reason``; ``import_roster`` then upserts
the roster into one school in a single transaction, so a roster is imported whole or not at all.

Rows are matched by natural keys within the school: a class by name, staff by ``staff_id``,
a student by NISN, a guardian by phone (siblings' shared parent is one guardian with several
links), a guardian-student link by the pair. Re-importing the same roster changes nothing.
Students, staff and guardians that are missing from a new roster are kept (never deleted:
concerns and messages refer to them); only guardian-student links missing from it are removed,
so a guardian no longer listed for a child stops hearing about that child.
An empty ``language`` cell keeps a language the person already chose in chat (``id`` for new rows).

A Dapodik export (storage/dapodik.py), alone or beside ``staff.csv``, gives students and the
names of their parents and guardian, without numbers: each such guardian is held under a
placeholder key until they enrol (handlers/enrolment.py). Students it no longer lists are
marked as left. ``school.yaml`` beside the roster gives the school's letterhead.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

import yaml

from domain.office_hours import parse_office_hours
from storage import dapodik
from storage.models import Guardian, GuardianStudent, School, SchoolClass, Staff, Student
from storage.phones import InvalidPhone, has_phone, normalize_phone, placeholder_phone

KINDS = ("staff", "students", "guardians")
COLUMNS = {
    "staff": ("staff_id", "name", "role", "phone", "language", "homeroom_class", "classes",
              "subjects", "office_hours", "teams"),
    "students": ("student_id", "name", "class"),
    "guardians": ("student_id", "name", "relation", "phone", "language", "proxy"),
}
# Columns a file cannot do without; the others may be left out and read as empty.
REQUIRED = {
    "staff": ("staff_id", "name", "role", "phone"),
    "students": ("student_id", "name", "class"),
    "guardians": ("student_id", "name", "relation", "phone"),
}
ROLES = ("teacher", "counselor", "principal", "admin")
RELATIONS = ("ayah", "ibu", "wali", "orang tua asuh")
LANGUAGES = ("id", "en")
_YES = {"yes", "ya", "y", "true", "1"}
_NO = {"no", "tidak", "n", "false", "0", ""}
DEFAULT_SCHOOL_CODE = "default"

_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6, "VII": 7, "VIII": 8, "IX": 9,
          "X": 10, "XI": 11, "XII": 12}
_CLASS = re.compile(r"^(?P<roman>[IVX]+)-[A-Z0-9]+(?:-[A-Z0-9]+)*$")


class RosterError(Exception):
    """The roster cannot be imported; ``errors`` lists every problem.

    Row problems read ``file:line: column: reason``; ``str()`` is all of them, one per line.
    """

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = list(errors)


@dataclass
class ImportResult:
    """What an import found in the roster and changed in the database."""

    school: str
    students: int
    guardians: int
    staff: int
    classes: int
    created: int
    updated: int
    errors: list[str] = field(default_factory=list)
    ignored_columns: list[str] | None = None  # a Dapodik export's columns that were not read
    left: int = 0  # students marked as having left (no longer in the Dapodik export)
    # What changed by kind (students, guardians, links, staff, classes): new / updated / left.
    changes: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The contract's JSON document for ``jembatan roster import --json``."""
        data = asdict(self)
        data.pop("left")
        data.pop("changes")
        if self.ignored_columns is None:
            data.pop("ignored_columns")
        return data


# ---------------------------------------------------------------- parsed rows


@dataclass
class StaffRow:
    line: int
    staff_code: str
    name: str
    role: str
    phone: str
    language: str | None  # None: not given in the roster
    homeroom_class: str | None
    classes: str  # ';'-joined class names or grades
    subjects: str  # ';'-joined
    office_hours: str
    teams: str = ""  # ';'-joined, lower case (e.g. tppk); the optional `teams` column


@dataclass
class StudentRow:
    line: int
    nisn: str
    name: str
    class_name: str
    birth_date: date | None = None  # Dapodik only
    family_phone: str | None = None  # Dapodik HP (else Telepon): the family's, owner unknown


@dataclass
class LinkRow:
    line: int
    nisn: str
    relation: str
    proxy: bool


@dataclass
class GuardianRow:
    """One guardian (one phone) with every student the roster links it to."""

    line: int  # first line that names this phone
    phone: str
    name: str
    language: str | None
    links: list[LinkRow] = field(default_factory=list)


@dataclass
class ParsedRoster:
    """A roster that passed every check that needs no database."""

    source: str
    labels: dict[str, str]  # kind -> file label used in messages
    classes: dict[str, int]  # class name -> grade, in first-seen order
    staff: list[StaffRow]
    students: list[StudentRow]
    guardians: list[GuardianRow]
    # A Dapodik export: guardians by NISN as (relation, name), without phones; staff only when a
    # staff.csv came with it; columns not read; students missing from it have left.
    dapodik_guardians: dict[str, list[tuple[str, str]]] | None = None
    staff_given: bool = True
    ignored_columns: list[str] | None = None
    letterhead: dict[str, Any] | None = None  # school.yaml beside the roster

    @property
    def links(self) -> list[LinkRow]:
        return [link for guardian in self.guardians for link in guardian.links]


# ---------------------------------------------------------------- reading tables


@dataclass
class _Table:
    label: str
    rows: list[tuple[int, dict[str, str]]]  # (line number, column -> stripped text)


def _cell_text(value: object) -> str:
    """A spreadsheet cell as the text the operator sees (numbers without a trailing .0)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value).strip()


def _header_key(value: object) -> str:
    return "_".join(_cell_text(value).lower().split())


def _table(label: str, kind: str, lines: Iterable[tuple[int, list[object]]],
           errors: list[str]) -> _Table | None:
    """Rows keyed by header; None (with errors added) when the header lacks required columns."""
    iterator = iter(lines)
    header: list[str] | None = None
    for line, cells in iterator:
        if any(_cell_text(c) for c in cells):
            header = [_header_key(c) for c in cells]
            header_line = line
            break
    if header is None:
        expected = ",".join(COLUMNS[kind])
        errors.append(f"{label}:1: header: the file is empty (expected columns {expected})")
        return None
    missing = [c for c in REQUIRED[kind] if c not in header]
    for column in missing:
        errors.append(f"{label}:{header_line}: {column}: missing column")
    if missing:
        return None
    index = {name: i for i, name in reversed(list(enumerate(header))) if name}
    rows: list[tuple[int, dict[str, str]]] = []
    for line, cells in iterator:
        texts = [_cell_text(c) for c in cells]
        if not any(texts):
            continue  # blank rows are common at the end of spreadsheets
        rows.append((line, {
            column: (texts[i] if i < len(texts) else "") for column, i in index.items()
            if column in COLUMNS[kind]
        }))
    return _Table(label, rows)


def _csv_lines(text: str) -> Iterator[tuple[int, list[object]]]:
    first = text.splitlines()[0] if text else ""
    # Excel with an Indonesian locale saves "CSV" with ';' (the decimal separator is ',').
    delimiter = ";" if ";" in first and "," not in first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    start = 1
    for cells in reader:
        yield start, list(cells)
        start = reader.line_num + 1  # a quoted cell may span lines


def _decode(path: Path, errors: list[str]) -> str | None:
    """A CSV file's text; a file that is not UTF-8 (Excel's "CSV" in Windows-1252) is an error
    naming the line and column of the first byte that cannot be read."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = data[:exc.start]
        line = before.count(b"\n") + 1
        header = data.split(b"\n", 1)[0].decode("utf-8", "replace").strip().lstrip("\ufeff")
        delimiter = ";" if ";" in header and "," not in header else ","
        prefix = before.rsplit(b"\n", 1)[-1]
        position = prefix.count(delimiter.encode())
        names = [name.strip() for name in header.split(delimiter)]
        column = names[position] if position < len(names) and names[position] else "text"
        errors.append(f"{path.name}:{line}: {column}: not UTF-8 text (byte 0x{data[exc.start]:02x}, "
                      "an accent saved as Windows-1252?): save the file as \"CSV UTF-8\"")
        return None


def _read_folder(folder: Path, errors: list[str], kinds: tuple[str, ...] = KINDS) -> dict[str, _Table]:
    files = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
    tables: dict[str, _Table] = {}
    for kind in kinds:
        path = files.get(f"{kind}.csv")
        if path is None:
            errors.append(f"{kind}.csv: file missing in {folder}")
            continue
        text = _decode(path, errors)
        if text is None:
            continue
        table = _table(path.name, kind, _csv_lines(text), errors)
        if table is not None:
            tables[kind] = table
    return tables


_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an encrypted workbook, or an old .xls


def _open_workbook(path: Path, errors: list[str]) -> Any:
    """A read-only workbook, or None with a precise error for a file openpyxl cannot read."""
    from zipfile import BadZipFile

    from openpyxl import load_workbook  # only needed for workbooks

    with path.open("rb") as handle:
        magic = handle.read(8)
    if magic == _OLE2:
        errors.append(f"{path.name}: the workbook is password-protected or an old .xls file: "
                      "open it in Excel and save it as .xlsx without a password")
        return None
    try:
        return load_workbook(path, read_only=True, data_only=True)
    except BadZipFile:
        errors.append(f"{path.name}: not a readable .xlsx workbook (the file is damaged or is "
                      "not a workbook): download or save it again")
    except Exception as exc:  # openpyxl raises several kinds for a broken workbook
        errors.append(f"{path.name}: cannot open the workbook ({type(exc).__name__}: {exc})")
    return None


@dataclass
class _Workbook:
    tables: dict[str, _Table]
    export: dapodik.DapodikExport | None = None


def _read_workbook(path: Path, errors: list[str], *, allow_roster: bool = True) -> _Workbook:
    """A Dapodik export (any sheet whose header says so), else the three roster sheets."""
    workbook = _open_workbook(path, errors)
    if workbook is None:
        return _Workbook({})
    try:
        sheets = [(ws.title, dapodik.sheet_rows(path, ws)) for ws in workbook.worksheets]
    finally:
        workbook.close()
    for title, rows in sheets:
        header = dapodik.looks_like_dapodik(rows)
        if header is not None:
            label = path.name if len(sheets) == 1 else f"{path.name}[{title}]"
            return _Workbook({}, dapodik.parse_rows(label, rows, header, errors))
    by_name = {title.strip().lower(): (title, rows) for title, rows in sheets}
    if not allow_roster or not any(kind in by_name for kind in KINDS):
        present = ", ".join(repr(title) for title, _ in sheets)
        errors.append(f"{path.name}: neither a Dapodik student export (no header with Nama, NISN "
                      f"and Rombel Saat Ini in its first {dapodik.HEADER_SCAN_ROWS} rows) nor a "
                      f"roster workbook with sheets staff, students and guardians (it has {present})")
        return _Workbook({})
    tables: dict[str, _Table] = {}
    for kind in KINDS:
        if kind not in by_name:
            present = ", ".join(repr(title) for title, _ in sheets)
            errors.append(f"{path.name}: missing sheet {kind!r} (the workbook has {present})")
            continue
        title, rows = by_name[kind]
        lines = ((n, list(row)) for n, row in enumerate(rows, start=1))
        table = _table(f"{path.name}[{title}]", kind, lines, errors)
        if table is not None:
            tables[kind] = table
    return _Workbook(tables)


LETTERHEAD_KEYS = ("name", "address", "city", "phone", "email", "principal", "principal_nip",
                   "logo", "letter_number")
_LOGO_LIMIT = 512 * 1024


def read_letterhead(path: Path) -> dict[str, Any]:
    """``school.yaml``: the letterhead printed on letters; the logo PNG is kept inside it."""
    import base64

    label = path.name
    try:
        node = yaml.compose(path.read_text(encoding="utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise RosterError([f"{label}:{line}: yaml: not readable YAML ({exc})"]) from exc
    if node is None:
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise RosterError([f"{label}:1: school: expected fields like name: and address:"])
    errors: list[str] = []
    letterhead: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key, line = str(key_node.value), key_node.start_mark.line + 1
        if key not in LETTERHEAD_KEYS:
            errors.append(f"{label}:{line}: {key}: unknown field (expected one of "
                          f"{', '.join(LETTERHEAD_KEYS)})")
            continue
        if not isinstance(value_node, yaml.ScalarNode):
            errors.append(f"{label}:{line}: {key}: expected text")
            continue
        value = " ".join(str(value_node.value).split())
        if key == "logo" and value:
            logo = (path.parent / value)
            if not logo.is_file():
                errors.append(f"{label}:{line}: logo: no such file {value!r} (a PNG beside {label})")
                continue
            data = logo.read_bytes()
            if not data.startswith(b"\x89PNG"):
                errors.append(f"{label}:{line}: logo: {value!r} is not a PNG image")
                continue
            if len(data) > _LOGO_LIMIT:
                errors.append(f"{label}:{line}: logo: {value!r} is over 512 KB")
                continue
            letterhead["logo_png"] = base64.b64encode(data).decode("ascii")
            continue
        if key == "letter_number" and value:
            try:
                value.format(seq=1, roman_month="XII", month=12, year=2026)
            except (KeyError, ValueError, IndexError) as exc:
                errors.append(f"{label}:{line}: letter_number: cannot fill {value!r} ({exc}); "
                              "use {seq:03d}, {roman_month}, {month}, {year}")
                continue
        letterhead[key] = value
    if errors:
        raise RosterError(errors)
    return letterhead


# ---------------------------------------------------------------- checking rows


def class_grade(name: str) -> int | None:
    """The grade of a class name (VII-A -> 7, X-IPA-1 -> 10), or None when it is malformed."""
    match = _CLASS.match(name)
    return _ROMAN.get(match["roman"]) if match else None


def normalize_class(raw: str) -> str:
    """``vii - a`` -> ``VII-A``: upper case, no spaces around the dashes."""
    return re.sub(r"\s*-\s*", "-", " ".join(raw.split())).upper()


def canonical_class(raw: str) -> str:
    """A roster's class however it is written: ``7A``, ``Kelas 7 A``, ``VII A`` -> ``VII-A``."""
    basic = normalize_class(raw)
    if not basic or class_grade(basic) is not None:
        return basic
    return dapodik.class_key(raw) or basic


def _split(raw: str) -> list[str]:
    return [part.strip() for part in re.split(r"[;,]", raw) if part.strip()]


def _unique(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for item in items:
        if item.casefold() not in seen:
            seen.add(item.casefold())
            out.append(item)
    return out


def _name(raw: str) -> str:
    return " ".join(raw.split())


class _Checker:
    """Collects ``file:line: column: reason`` messages while rows are read."""

    def __init__(self) -> None:
        self.errors: list[tuple[int, int, str]] = []  # (kind order, line, message) for sorting

    def add(self, table: _Table, kind: str, line: int, column: str, reason: str) -> None:
        self.errors.append((KINDS.index(kind), line, f"{table.label}:{line}: {column}: {reason}"))

    def messages(self) -> list[str]:
        return [message for _, _, message in sorted(self.errors, key=lambda e: (e[0], e[1]))]


def _language(check: _Checker, table: _Table, kind: str, line: int, raw: str) -> str | None:
    value = raw.strip().lower()
    if not value:
        return None
    if value not in LANGUAGES:
        check.add(table, kind, line, "language", f"unknown language {raw!r} (expected id or en)")
        return None
    return value


def _phone(check: _Checker, table: _Table, kind: str, line: int, raw: str) -> str | None:
    if not raw.strip():
        check.add(table, kind, line, "phone", "missing phone")
        return None
    try:
        return normalize_phone(raw)
    except InvalidPhone as exc:
        check.add(table, kind, line, "phone", str(exc))
        return None


def _check_students(check: _Checker, table: _Table) -> tuple[list[StudentRow], dict[str, int]]:
    students: list[StudentRow] = []
    classes: dict[str, int] = {}
    seen: dict[str, int] = {}
    for line, row in table.rows:
        ok = True
        nisn = row["student_id"].strip()
        if not nisn:
            check.add(table, "students", line, "student_id", "missing student_id")
            ok = False
        elif nisn in seen:
            check.add(table, "students", line, "student_id",
                      f"duplicate student_id {nisn!r} (also on line {seen[nisn]})")
            ok = False
        else:
            seen[nisn] = line
        name = _name(row["name"])
        if not name:
            check.add(table, "students", line, "name", "missing name")
            ok = False
        class_name = canonical_class(row["class"])
        grade = class_grade(class_name)
        if not class_name:
            check.add(table, "students", line, "class", "missing class")
            ok = False
        elif grade is None:
            check.add(table, "students", line, "class",
                      f"malformed class name {row['class']!r} (expected e.g. VII-A or X-IPA-1)")
            ok = False
        else:
            classes.setdefault(class_name, grade)
        if ok:
            students.append(StudentRow(line, nisn, name, class_name))
    return students, classes


def _check_staff(check: _Checker, table: _Table, classes: dict[str, int],
                 students_label: str) -> list[StaffRow]:
    staff: list[StaffRow] = []
    codes: dict[str, int] = {}
    phones: dict[str, int] = {}
    homerooms: dict[str, tuple[str, int]] = {}
    grades = set(classes.values())
    for line, row in table.rows:
        errors_before = len(check.errors)

        def bad(column: str, reason: str, line: int = line) -> None:
            check.add(table, "staff", line, column, reason)

        code = row["staff_id"].strip()
        if not code:
            bad("staff_id", "missing staff_id")
        elif code.casefold() in codes:
            bad("staff_id", f"duplicate staff_id {code!r} (also on line {codes[code.casefold()]})")
        else:
            codes[code.casefold()] = line
        name = _name(row["name"])
        if not name:
            bad("name", "missing name")
        role = row["role"].strip().lower()
        if not role:
            bad("role", "missing role")
        elif role not in ROLES:
            bad("role", f"unknown role {row['role']!r} "
                        "(expected teacher, counselor, principal or admin)")
        phone = _phone(check, table, "staff", line, row["phone"])
        if phone is not None:
            if phone in phones:
                bad("phone", f"duplicate phone {row['phone']!r} (also on line {phones[phone]})")
            else:
                phones[phone] = line
        language = _language(check, table, "staff", line, row.get("language", ""))

        homeroom: str | None = None
        raw_homeroom = row.get("homeroom_class", "")
        if raw_homeroom.strip():
            homeroom = canonical_class(raw_homeroom)
            if class_grade(homeroom) is None:
                bad("homeroom_class",
                    f"malformed class name {raw_homeroom!r} (expected e.g. VII-A)")
            elif homeroom not in classes:
                bad("homeroom_class",
                    f"unknown class {homeroom!r} (no student in {students_label} is in it)")
            elif homeroom in homerooms:
                other, other_line = homerooms[homeroom]
                bad("homeroom_class", f"class {homeroom} already has homeroom teacher {other} "
                                      f"(line {other_line})")
            else:
                homerooms[homeroom] = (code, line)

        covered: list[str] = []
        for item in _split(row.get("classes", "")):
            if item.isdigit():
                # Counselors (guru BK) often cover a whole grade: "7" or "8;9".
                grade = int(item)
                if role != "counselor":
                    bad("classes", f"a grade ({item!r}) is only allowed for counselors; "
                                   "list classes like VII-A")
                elif grade not in grades:
                    bad("classes",
                        f"unknown grade {item!r} (no class of that grade in {students_label})")
                else:
                    covered.append(str(grade))
                continue
            class_name = canonical_class(item)
            if class_grade(class_name) is None:
                bad("classes", f"malformed class name {item!r} (expected e.g. VII-A)")
            elif class_name not in classes:
                bad("classes",
                    f"unknown class {class_name!r} (no student in {students_label} is in it)")
            else:
                covered.append(class_name)
        subjects = _unique(_name(s) for s in _split(row.get("subjects", "")))
        office_hours = " ".join(row.get("office_hours", "").split())
        try:
            parse_office_hours(office_hours)
        except ValueError as exc:
            bad("office_hours", str(exc))
        if len(check.errors) == errors_before:
            assert phone is not None
            teams = _unique(t.casefold() for t in _split(row.get("teams", "")))
            staff.append(StaffRow(line, code, name, role, phone, language, homeroom,
                                  ";".join(_unique(covered)), ";".join(subjects), office_hours,
                                  ";".join(teams)))
    return staff


def _check_guardians(check: _Checker, table: _Table, nisns: set[str],
                     students_label: str) -> list[GuardianRow]:
    guardians: dict[str, GuardianRow] = {}
    languages: dict[str, tuple[str, int]] = {}
    pairs: dict[tuple[str, str], int] = {}
    for line, row in table.rows:
        errors_before = len(check.errors)

        def bad(column: str, reason: str, line: int = line) -> None:
            check.add(table, "guardians", line, column, reason)

        nisn = row["student_id"].strip()
        if not nisn:
            bad("student_id", "missing student_id")
        elif nisn not in nisns:
            bad("student_id", f"unknown student {nisn!r} (not in {students_label})")
        name = _name(row["name"])
        if not name:
            bad("name", "missing name")
        relation = " ".join(row["relation"].lower().split())
        if not relation:
            bad("relation", "missing relation")
        elif relation not in RELATIONS:
            bad("relation", f"unknown relation {row['relation']!r} "
                            "(expected ayah, ibu, wali or orang tua asuh)")
        if row["phone"].strip() or not nisn or not relation:
            phone = _phone(check, table, "guardians", line, row["phone"])
        else:
            # Named without a number (as Dapodik names parents): kept, reached once they enrol.
            phone = placeholder_phone(nisn, relation)
        language = _language(check, table, "guardians", line, row.get("language", ""))
        raw_proxy = row.get("proxy", "").strip().lower()
        if raw_proxy not in _YES | _NO:
            bad("proxy", f"unknown proxy value {row.get('proxy', '')!r} (expected yes or no)")
        proxy = raw_proxy in _YES

        if phone is not None:
            if nisn and (phone, nisn) in pairs:
                bad("phone", f"duplicate guardian: phone {row['phone']!r} is already listed for "
                             f"student {nisn} on line {pairs[(phone, nisn)]}")
            elif nisn:
                pairs[(phone, nisn)] = line
            # One phone is one person: siblings' rows must agree on who it is.
            known = guardians.get(phone)
            if known is not None and name and known.name.casefold() != name.casefold():
                bad("name", f"phone {row['phone']!r} already belongs to {known.name!r} "
                            f"on line {known.line} (one phone is one person)")
            if language is not None:
                if phone in languages and languages[phone][0] != language:
                    first, first_line = languages[phone]
                    bad("language", f"language {language!r} differs from {first!r} given for "
                                    f"this phone on line {first_line}")
                languages.setdefault(phone, (language, line))
        if len(check.errors) != errors_before:
            continue
        assert phone is not None
        guardian = guardians.setdefault(phone, GuardianRow(line, phone, name, language))
        guardian.language = guardian.language or language
        guardian.links.append(LinkRow(line, nisn, relation, proxy))
    return list(guardians.values())


def _check_dapodik(export: dapodik.DapodikExport, errors: list[str]) -> tuple[
        list[StudentRow], dict[str, int], dict[str, list[tuple[str, str]]]]:
    """The students, classes and named guardians of a Dapodik export; problems go to ``errors``."""
    students: list[StudentRow] = []
    classes: dict[str, int] = {}
    guardians: dict[str, list[tuple[str, str]]] = {}
    seen: dict[str, int] = {}
    label = export.label
    for row in export.rows:
        ok = True

        def bad(column: str, reason: str, line: int = row.line) -> None:
            errors.append(f"{label}:{line}: {column}: {reason}")

        if not row.nisn:
            bad("NISN", f"missing NISN for {row.name or 'a student'}")
            ok = False
        elif not row.nisn.isdigit():
            bad("NISN", f"NISN {row.nisn!r} is not a number")
            ok = False
        elif row.nisn in seen:
            bad("NISN", f"duplicate NISN {row.nisn!r} (also on line {seen[row.nisn]})")
            ok = False
        else:
            seen[row.nisn] = row.line
        if not row.name:
            bad("Nama", "missing name")
            ok = False
        class_name = canonical_class(row.class_raw) if row.class_raw else ""
        grade = class_grade(class_name) if class_name else None
        if not row.class_raw:
            bad("Rombel Saat Ini", f"{row.name or row.nisn} has no class")
            ok = False
        elif grade is None:
            bad("Rombel Saat Ini", f"cannot read the class {row.class_raw!r} "
                                   "(expected e.g. 7A, Kelas 7A, VII A or VII-A)")
            ok = False
        try:
            birth_date = dapodik.read_birth_date(row.birth_date_raw)
        except ValueError as exc:
            bad("Tanggal Lahir", str(exc))
            ok = False
        try:
            # The family's number is a help, not a requirement: one that cannot be a phone
            # ("-", "0", a typo) is left out rather than blocking the school's import.
            family_phone = normalize_phone(row.phone_raw) if row.phone_raw else None
        except InvalidPhone:
            family_phone = None
        if ok:
            classes.setdefault(class_name, grade)  # type: ignore[arg-type]
            students.append(StudentRow(row.line, row.nisn, row.name, class_name, birth_date,
                                       family_phone))
            guardians[row.nisn] = row.guardians
    return students, classes, guardians


def read_roster(path: Path) -> ParsedRoster:
    """Read a roster folder (three CSVs, or a Dapodik export with staff.csv), a roster workbook
    or a Dapodik export, and check every row.

    Raises ``RosterError`` listing every problem, not just the first.
    """
    path = Path(path)
    errors: list[str] = []
    export: dapodik.DapodikExport | None = None
    if path.is_dir():
        names = {p.name.lower() for p in path.iterdir() if p.is_file()}
        workbooks = sorted(p for p in path.iterdir() if p.is_file()
                           and p.suffix.lower() in (".xlsx", ".xlsm") and not p.name.startswith("~$"))
        if workbooks and "students.csv" not in names:
            if len(workbooks) > 1:
                shown = ", ".join(p.name for p in workbooks)
                raise RosterError([f"{path}: several workbooks ({shown}): keep only the Dapodik "
                                   "export beside staff.csv"])
            export = _read_workbook(workbooks[0], errors, allow_roster=False).export
            tables = _read_folder(path, errors, ("staff",)) if "staff.csv" in names else {}
        else:
            tables = _read_folder(path, errors)
        letterhead_path = path / "school.yaml"
    elif path.is_file() and path.suffix.lower() in (".xlsx", ".xlsm"):
        book = _read_workbook(path, errors)
        tables, export = book.tables, book.export
        letterhead_path = path.parent / "school.yaml"
    elif path.exists():
        raise RosterError([f"{path}: expected a folder with staff.csv, students.csv and "
                           "guardians.csv, a Dapodik export (.xlsx) or a roster workbook"])
    else:
        raise RosterError([f"{path}: no such file or folder"])
    letterhead: dict[str, Any] | None = None
    if letterhead_path.is_file():
        try:
            letterhead = read_letterhead(letterhead_path)
        except RosterError as exc:
            errors.extend(exc.errors)

    if export is not None:
        students, classes, guardians = _check_dapodik(export, errors)
        staff: list[StaffRow] = []
        if "staff" in tables:
            check = _Checker()
            staff = _check_staff(check, tables["staff"], classes, export.label)
            errors.extend(check.messages())
        if errors:
            raise RosterError(errors)
        return ParsedRoster(
            source=str(path), labels={"staff": tables["staff"].label if "staff" in tables else "",
                                      "students": export.label, "guardians": export.label},
            classes=classes, staff=staff, students=students, guardians=[],
            dapodik_guardians=guardians, staff_given="staff" in tables,
            ignored_columns=export.ignored_columns, letterhead=letterhead)
    if errors or len(tables) != len(KINDS):
        raise RosterError(errors)

    check = _Checker()
    students, classes = _check_students(check, tables["students"])
    students_label = tables["students"].label
    staff = _check_staff(check, tables["staff"], classes, students_label)
    nisns = {row["student_id"].strip() for _, row in tables["students"].rows}
    guardians_rows = _check_guardians(check, tables["guardians"], nisns, students_label)
    if check.errors:
        raise RosterError(check.messages())
    return ParsedRoster(
        source=str(path), labels={kind: tables[kind].label for kind in KINDS},
        classes=classes, staff=staff, students=students, guardians=guardians_rows,
        letterhead=letterhead,
    )


# ---------------------------------------------------------------- writing


@dataclass
class _Counts:
    created: int = 0
    updated: int = 0
    # kind (students, guardians, links, staff, classes, school) -> {"new"|"updated"|"left": n}
    kinds: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, kind: str, what: str, n: int = 1) -> None:
        """Count ``n`` rows of ``kind`` as new, updated or left (left ones are updates too)."""
        if what == "new":
            self.created += n
        else:
            self.updated += n
        by_kind = self.kinds.setdefault(kind, {"new": 0, "updated": 0, "left": 0})
        by_kind[what] += n


def _assign(row: Any, values: dict[str, Any]) -> bool:
    """Set changed attributes on ``row``; True when anything changed."""
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed


async def _school(session: AsyncSession, code: str | None, name: str | None,
                  timezone: str | None) -> School:
    if code is not None:
        code = code.strip()
        if not code or len(code) > 32:
            raise RosterError([f"--school: a school code is 1 to 32 characters, got {code!r}"])
        school = (await session.exec(select(School).where(School.code == code))).first()
        if school is not None:
            if name and school.name != name:
                school.name = name
                session.add(school)
            return school
    else:
        schools = list((await session.exec(select(School).order_by(School.code))).all())
        if len(schools) == 1:
            return schools[0]
        if schools:
            codes = ", ".join(s.code for s in schools)
            raise RosterError(
                [f"--school is required: the database holds several schools ({codes})"])
        code = DEFAULT_SCHOOL_CODE
    school = School(code=code, name=name or code)
    if timezone:
        school.timezone = timezone
    session.add(school)
    await session.flush()
    return school


async def _write_classes(session: AsyncSession, school_id: int, roster: ParsedRoster,
                         counts: _Counts) -> dict[str, int]:
    rows = (await session.exec(select(SchoolClass).where(SchoolClass.school_id == school_id))).all()
    existing = {row.name: row for row in rows}
    for name, grade in roster.classes.items():
        row = existing.get(name)
        if row is None:
            existing[name] = row = SchoolClass(school_id=school_id, name=name, grade=grade)
            session.add(row)
            counts.add("classes", "new")
        elif _assign(row, {"grade": grade}):
            session.add(row)
            counts.add("classes", "updated")
    await session.flush()
    return {name: row.id for name, row in existing.items() if row.id is not None}


async def _write_staff(session: AsyncSession, school_id: int, roster: ParsedRoster,
                       counts: _Counts) -> None:
    rows = (await session.exec(select(Staff).where(Staff.school_id == school_id))).all()
    by_code = {row.staff_code: row for row in rows}
    listed = {item.staff_code for item in roster.staff}
    absent_phones = {row.phone: row for row in rows if row.staff_code not in listed}
    errors = []
    for item in roster.staff:
        holder = absent_phones.get(item.phone)
        if holder is not None:
            errors.append(f"{roster.labels['staff']}:{item.line}: phone: {item.phone} belongs to "
                          f"staff {holder.staff_code} ({holder.name}), who is not in this roster")
    if errors:
        raise RosterError(errors)
    # Phones are unique per school: park changed ones first so two staff can swap numbers.
    moving = [by_code[i.staff_code] for i in roster.staff
              if i.staff_code in by_code and by_code[i.staff_code].phone != i.phone]
    for row in moving:
        row.phone = f"moving:{row.id}"
        session.add(row)
    if moving:
        await session.flush()
    for item in roster.staff:
        values: dict[str, Any] = {
            "name": item.name, "role": item.role, "phone": item.phone,
            "homeroom_class": item.homeroom_class, "classes": item.classes,
            "subjects": item.subjects, "office_hours": item.office_hours, "teams": item.teams,
        }
        if item.language is not None:
            values["language"] = item.language
        row = by_code.get(item.staff_code)
        if row is None:
            session.add(Staff(school_id=school_id, staff_code=item.staff_code,
                              **{"language": "id", **values}))
            counts.add("staff", "new")
        elif _assign(row, values):  # a parked phone always counts as changed here
            session.add(row)
            counts.add("staff", "updated")
    await session.flush()


async def _write_students(session: AsyncSession, school_id: int, roster: ParsedRoster,
                          class_ids: dict[str, int], counts: _Counts, *,
                          now: datetime | None = None) -> tuple[dict[str, int], int]:
    """Upsert the roster's students; with a Dapodik export (``now`` given), students it no longer
    lists are marked as left (kept: their history stays) and returning ones are back.
    Returns NISN -> id and how many were newly marked as left."""
    rows = (await session.exec(select(Student).where(Student.school_id == school_id))).all()
    existing = {row.nisn: row for row in rows}
    full = roster.dapodik_guardians is not None
    new: list[dict[str, Any]] = []  # inserted in one statement: a whole school's export at once
    for item in roster.students:
        values: dict[str, Any] = {"name": item.name, "class_id": class_ids[item.class_name]}
        if full:
            values.update(birth_date=item.birth_date, family_phone=item.family_phone, left_at=None)
        row = existing.get(item.nisn)
        if row is None:
            new.append({"school_id": school_id, "nisn": item.nisn, **values})
        elif _assign(row, values):
            session.add(row)
            counts.add("students", "updated")
    left = 0
    if full and now is not None:
        listed = {item.nisn for item in roster.students}
        for nisn, row in existing.items():
            if nisn not in listed and row.left_at is None:
                row.left_at = now
                session.add(row)
                counts.add("students", "left")
                left += 1
    await session.flush()
    ids = {nisn: row.id for nisn, row in existing.items() if row.id is not None}
    if new:
        inserted = await session.exec(insert(Student).returning(Student.id, Student.nisn),  # type: ignore[call-overload]
                                      params=new)
        ids.update({nisn: student_id for student_id, nisn in inserted.all()})
        counts.add("students", "new", len(new))
    return ids, left


async def _write_dapodik_guardians(session: AsyncSession, school_id: int, roster: ParsedRoster,
                                   student_ids: dict[str, int], counts: _Counts) -> int:
    """Father, mother and guardian of each student by name, without a number until they enrol.

    A guardian is found again by (student, relation). One who has not enrolled yet follows the
    export (renamed, or unlinked when the export no longer names them); one who has enrolled is
    a person the school confirmed and is left as they are. Returns how many guardians are named.
    """
    assert roster.dapodik_guardians is not None
    guardians = {row.id: row for row in (await session.exec(
        select(Guardian).where(Guardian.school_id == school_id))).all()}
    links = (await session.exec(
        select(GuardianStudent).where(GuardianStudent.school_id == school_id))).all()
    by_phone = {row.phone: row for row in guardians.values()}
    by_student: dict[int, list[GuardianStudent]] = {}
    for link in links:
        by_student.setdefault(link.student_id, []).append(link)
    named = 0
    new_guardians: list[dict[str, Any]] = []
    new_links: list[tuple[str, int, str]] = []  # (guardian key, student id, relation)
    for nisn, wanted in roster.dapodik_guardians.items():
        student_id = student_ids[nisn]
        current = by_student.get(student_id, [])
        kept: set[int] = set()
        for relation, name in wanted:
            named += 1
            same = [link for link in current if link.relation == relation and link.id not in kept]
            same.sort(key=lambda link: guardians[link.guardian_id].name.casefold() != name.casefold())
            if same:
                link = same[0]
                kept.add(link.id)  # type: ignore[arg-type]
                guardian = guardians[link.guardian_id]
                if not has_phone(guardian.phone) and guardian.name != name:
                    guardian.name = name
                    session.add(guardian)
                    counts.add("guardians", "updated")
                continue
            key = placeholder_phone(nisn, relation)
            existing = by_phone.get(key)
            if existing is not None:  # named again after a gap: the same key, renamed if need be
                if existing.name != name:
                    existing.name = name
                    session.add(existing)
                    counts.add("guardians", "updated")
            else:
                new_guardians.append({"school_id": school_id, "name": name, "phone": key,
                                      "language": "id"})
            new_links.append((key, student_id, relation))
        for link in current:
            if link.id in kept or link.relation not in ("ayah", "ibu", "wali"):
                continue
            if not has_phone(guardians[link.guardian_id].phone):
                await session.delete(link)  # the export no longer names them
                counts.add("links", "left")
    await session.flush()
    # New rows in two statements (a first import is thousands of guardians and links).
    ids = {key: row.id for key, row in by_phone.items()}
    if new_guardians:
        inserted = await session.exec(insert(Guardian).returning(Guardian.id, Guardian.phone),  # type: ignore[call-overload]
                                      params=new_guardians)
        ids.update({key: guardian_id for guardian_id, key in inserted.all()})
        counts.add("guardians", "new", len(new_guardians))
    if new_links:
        await session.exec(insert(GuardianStudent), params=[  # type: ignore[call-overload]
            {"school_id": school_id, "guardian_id": ids[key], "student_id": student_id,
             "relation": relation, "proxy": False} for key, student_id, relation in new_links])
        counts.add("links", "new", len(new_links))
    return named


async def _write_guardians(session: AsyncSession, school_id: int, roster: ParsedRoster,
                           student_ids: dict[str, int], counts: _Counts) -> None:
    guardians = (await session.exec(select(Guardian).where(Guardian.school_id == school_id))).all()
    links = (await session.exec(
        select(GuardianStudent).where(GuardianStudent.school_id == school_id))).all()
    by_phone = {row.phone: row for row in guardians}
    old_links = {(link.guardian_id, link.student_id): link for link in links}

    # A guardian whose number changed is the same person: when a new phone's name, child and
    # relation match exactly one guardian whose old phone left the roster, move that row to the
    # new phone instead of creating a stranger (keeps opt-outs and concern history).
    old_pairs: dict[int, set[tuple[int, str]]] = {}
    for (guardian_id, student_id), link in old_links.items():
        old_pairs.setdefault(guardian_id, set()).add((student_id, link.relation))
    listed = {item.phone for item in roster.guardians}
    # Named without a number but enrolled since (with the number they gave): the same person,
    # who keeps that number.
    for item in roster.guardians:
        if has_phone(item.phone) or item.phone in by_phone:
            continue
        wanted = {(student_ids[link.nisn], link.relation) for link in item.links}
        enrolled = [row for row in guardians if has_phone(row.phone) and row.phone not in listed
                    and wanted & old_pairs.get(row.id, set())]  # type: ignore[arg-type]
        if len(enrolled) == 1:
            by_phone[item.phone] = enrolled[0]
            listed.add(enrolled[0].phone)
    leaving = [row for row in guardians if row.phone not in listed]
    claimed: set[int] = set()
    for item in roster.guardians:
        if item.phone in by_phone:
            continue
        wanted = {(student_ids[link.nisn], link.relation) for link in item.links}
        matches = [
            row for row in leaving
            if row.id not in claimed and row.name.casefold() == item.name.casefold()
            and wanted & old_pairs.get(row.id, set())  # type: ignore[arg-type]
        ]
        if len(matches) == 1:
            row = matches[0]
            claimed.add(row.id)  # type: ignore[arg-type]
            row.phone = item.phone
            by_phone[item.phone] = row
            # counted as updated below, through its changed phone

    keep: set[tuple[int, int]] = set()
    for item in roster.guardians:
        values: dict[str, Any] = {"name": item.name}
        if item.language is not None:
            values["language"] = item.language
        row = by_phone.get(item.phone)
        if row is None:
            row = Guardian(school_id=school_id, phone=item.phone, **{"language": "id", **values})
            session.add(row)
            counts.add("guardians", "new")
        elif _assign(row, values) or row.id in claimed:
            session.add(row)
            counts.add("guardians", "updated")
        by_phone[item.phone] = row
    await session.flush()

    for item in roster.guardians:
        guardian_id = by_phone[item.phone].id
        assert guardian_id is not None
        for link_row in item.links:
            key = (guardian_id, student_ids[link_row.nisn])
            keep.add(key)
            values = {"relation": link_row.relation, "proxy": link_row.proxy}
            link = old_links.get(key)
            if link is None:
                session.add(GuardianStudent(school_id=school_id, guardian_id=key[0],
                                            student_id=key[1], **values))
                counts.add("links", "new")
            elif _assign(link, values):
                session.add(link)
                counts.add("links", "updated")
    # Links the new roster no longer lists are gone for good; count them as changes.
    for key, link in old_links.items():
        if key not in keep:
            await session.delete(link)
            counts.add("links", "left")
    await session.flush()


async def apply_roster(session: AsyncSession, school: School, roster: ParsedRoster, *,
                       now: datetime | None = None) -> ImportResult:
    """Upsert a checked roster into ``school`` inside the caller's transaction."""
    assert school.id is not None
    counts = _Counts()
    if roster.letterhead is not None and school.letterhead != roster.letterhead:
        if school.letterhead is not None:
            counts.updated += 1  # a new school's first letterhead is part of creating it
        school.letterhead = roster.letterhead
        session.add(school)
    class_ids = await _write_classes(session, school.id, roster, counts)
    if roster.staff_given:
        await _write_staff(session, school.id, roster, counts)
    student_ids, left = await _write_students(session, school.id, roster, class_ids, counts,
                                              now=now or datetime.now(UTC))
    if roster.dapodik_guardians is not None:
        guardians = await _write_dapodik_guardians(session, school.id, roster, student_ids, counts)
    else:
        await _write_guardians(session, school.id, roster, student_ids, counts)
        guardians = len(roster.guardians)
    return ImportResult(
        school=school.code, students=len(roster.students), guardians=guardians,
        staff=len(roster.staff), classes=len(roster.classes),
        created=counts.created, updated=counts.updated, errors=[],
        ignored_columns=roster.ignored_columns, left=left, changes=counts.kinds,
    )


async def import_roster(
    sessions: async_sessionmaker[AsyncSession],
    path: Path,
    *,
    school_code: str | None = None,
    school_name: str | None = None,
    timezone: str | None = None,
    dry_run: bool = False,
) -> ImportResult:
    """Import the roster at ``path`` into one school, all or nothing.

    ``school_code`` picks (or creates) the school; without it the database's only school is
    used, or a ``default`` school is created in an empty database. ``timezone`` applies to a
    school created here. ``dry_run`` checks and counts everything, then rolls back.
    Raises ``RosterError`` (nothing written) when any row is invalid.
    """
    roster = read_roster(path)
    async with sessions() as session:
        try:
            name = school_name or (roster.letterhead or {}).get("name")
            school = await _school(session, school_code, name, timezone)
            result = await apply_roster(session, school, roster)
        except IntegrityError as exc:
            await session.rollback()
            # Validation should prevent this; report it as a roster problem, not a crash.
            raise RosterError(
                [f"{roster.source}: the database refused the roster ({exc.orig})"]) from exc
        except BaseException:
            await session.rollback()
            raise
        if dry_run:
            await session.rollback()
        else:
            await session.commit()
    return result


# ---------------------------------------------------------------- one staff member (the dashboard)


def check_staff_rows(rows: list[tuple[int, dict[str, str]]], classes: dict[str, int],
                     ) -> tuple[list[StaffRow], list[tuple[int, str, str]]]:
    """The roster's staff checks on rows given as ``(line, column -> text)``: the checked rows and
    every problem as ``(line, column, reason)``."""
    check = _Checker()
    table = _Table("form", [(line, {key: row.get(key, "") for key in COLUMNS["staff"]}) for line, row in rows])
    checked = _check_staff(check, table, classes, "the school's classes")
    problems = []
    for _, line, message in check.errors:
        _, _, rest = message.partition(f"form:{line}: ")
        column, _, reason = rest.partition(": ")
        problems.append((line, column, reason))
    return checked, problems


async def write_staff_rows(session: AsyncSession, school_id: int, rows: list[StaffRow]) -> None:
    """Upsert checked staff rows (every staff member of the school) as an import does."""
    roster = ParsedRoster(source="dashboard", labels={"staff": "form"}, classes={}, staff=rows,
                          students=[], guardians=[])
    await _write_staff(session, school_id, roster, _Counts())
