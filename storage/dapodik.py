"""Dapodik's student export (*Daftar Peserta Didik*, ``.xlsx``) read exactly as the school downloads it.

The export starts with title rows (the list's name, the school, its region, "Tanggal Unduh"),
then a two-row header: most columns span both rows, while ``Data Ayah``, ``Data Ibu`` and
``Data Wali`` are merged groups with ``Nama``, ``Tahun Lahir``, ``Jenjang Pendidikan``,
``Pekerjaan``, ``Penghasilan`` and ``NIK`` beneath them. Versions differ in which columns they
have and where, so the header is searched for and columns are matched by name only.

Only what the school needs to reach families is read: the student's name, NISN, date of birth,
class (``Rombel Saat Ini``), the names of father, mother and guardian, and the family's number
(``HP``, else ``Telepon``). Every other column (NIK, No KK, bank accounts, income, coordinates...)
is never copied out of the workbook: it is named in ``ignored_columns`` and nothing more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

HEADER_SCAN_ROWS = 40  # title rows come first; the header is within the first rows
GROUPS = {"data ayah": "ayah", "data ibu": "ibu", "data wali": "wali"}
NOBODY = {"", "-", "--", "—", "0", "tidak ada"}  # a parent's name cell that names no one
# Columns read, by normalised name -> the field they fill (``Nama`` of a group is its guardian).
WANTED = {
    "nama": "name", "nisn": "nisn", "tanggal lahir": "birth_date", "rombel saat ini": "class",
    "hp": "hp", "telepon": "telepon",
    "data ayah / nama": "ayah", "data ibu / nama": "ibu", "data wali / nama": "wali",
}
REQUIRED = {"nisn": "NISN", "nama": "Nama", "rombel saat ini": "Rombel Saat Ini"}
# Headers that tell a Dapodik export from any other sheet (with "Nama", two of these).
_SIGNATURE = {"nisn", "nipd", "rombel saat ini", "data ayah", "data ibu", "tanggal lahir", "jk", "nik"}


@dataclass
class DapodikStudent:
    """One student row, with only the columns Jembatan keeps."""

    line: int
    nisn: str
    name: str
    class_raw: str
    birth_date_raw: Any
    phone_raw: str  # HP, else Telepon (the family's number, owner unknown)
    guardians: list[tuple[str, str]] = field(default_factory=list)  # (relation, name)


@dataclass
class DapodikExport:
    """The student rows of an export and the names of the columns left unread."""

    label: str
    header_line: int
    rows: list[DapodikStudent]
    ignored_columns: list[str]


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _display(value: object) -> str:
    """A header as the operator reads it: line breaks and runs of spaces made one space."""
    return " ".join(_text(value).split())


def _key(value: object) -> str:
    return _display(value).casefold()


def looks_like_dapodik(rows: list[tuple[Any, ...]]) -> int | None:
    """The 0-based index of the header row among the first rows, or None when not an export."""
    for index, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        keys = {_key(cell) for cell in row if cell is not None}
        if "nama" in keys and len(keys & _SIGNATURE) >= 2:
            return index
    return None


def _column_names(top: tuple[Any, ...], sub: tuple[Any, ...] | None) -> list[str]:
    """One display name per column from a one- or two-row header ("Data Ayah / Nama")."""
    width = max(len(top), len(sub or ()))
    names: list[str] = []
    group = ""
    for i in range(width):
        upper = _display(top[i]) if i < len(top) else ""
        lower = _display(sub[i]) if sub is not None and i < len(sub) else ""
        if upper and lower:
            group = upper
            names.append(f"{upper} / {lower}")
        elif upper:
            group = ""
            names.append(upper)
        elif lower:
            names.append(f"{group} / {lower}" if group else lower)
        else:
            names.append("")
    return names


def parse_rows(label: str, rows: list[tuple[Any, ...]], header_index: int,
               errors: list[str]) -> DapodikExport | None:
    """Read the student rows below the header found at ``header_index`` (0-based)."""
    top = rows[header_index]
    after = rows[header_index + 1] if header_index + 1 < len(rows) else ()
    # A second header row exists when the first has merged groups (Data Ayah ...) above it.
    two_rows = any(_key(cell) in GROUPS for cell in top)
    names = _column_names(top, after if two_rows else None)
    header_line = header_index + 1
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        if name.casefold() in WANTED and WANTED[name.casefold()] not in index:
            index[WANTED[name.casefold()]] = i
    missing = [shown for key, shown in REQUIRED.items() if WANTED[key] not in index]
    for shown in missing:
        errors.append(f"{label}:{header_line}: {shown}: missing column "
                      f"(the export's header on line {header_line} has no {shown} column)")
    if missing:
        return None
    used = set(index.values())
    ignored = [name for i, name in enumerate(names) if name and i not in used]

    def cell(values: tuple[Any, ...], name: str) -> Any:
        i = index.get(name)
        return values[i] if i is not None and i < len(values) else None

    students: list[DapodikStudent] = []
    first_data = header_index + (2 if two_rows else 1)
    for offset, values in enumerate(rows[first_data:]):
        line = first_data + offset + 1
        if not any(_text(v) for v in values):
            continue
        raw_nisn = cell(values, "nisn")
        # A NISN is 10 digits; a cell Excel turned into a number lost its leading zeros.
        nisn = f"{int(raw_nisn):010d}" if isinstance(raw_nisn, (int, float)) \
            and not isinstance(raw_nisn, bool) and float(raw_nisn).is_integer() else _text(raw_nisn)
        name = _display(cell(values, "name"))
        if not nisn and not name:
            continue  # a footer or a numbering row, not a student
        phone = _text(cell(values, "hp")) or _text(cell(values, "telepon"))
        guardians = []
        for relation in ("ayah", "ibu", "wali"):
            person = _display(cell(values, relation))
            if person.casefold() not in NOBODY:
                guardians.append((relation, person))
        students.append(DapodikStudent(line, nisn, name, _display(cell(values, "class")),
                                       cell(values, "birth_date"), phone, guardians))
    return DapodikExport(label, header_line, students, ignored)


def read_birth_date(raw: Any) -> date | None:
    """A ``Tanggal Lahir`` cell (a date cell, or text like 2011-05-17 / 17-05-2011); raises ValueError."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    text = str(raw).strip()
    for pattern in ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y", "%Y/%m/%d"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise ValueError(f"not a date {text!r} (expected e.g. 2011-05-17)")


def sheet_rows(path: Path, sheet: Any) -> list[tuple[Any, ...]]:
    """Every row of a read-only sheet as values; the sheet's stated size is not trusted
    (Dapodik files often declare a wrong one, which is why Excel offers to "recover" them)."""
    sheet.reset_dimensions()
    return [tuple(row) for row in sheet.iter_rows(values_only=True)]


def class_key(raw: str) -> str | None:
    """``Kelas 7A``, ``7 A``, ``7A``, ``VII A``, ``VII-A`` -> ``VII-A``; None when no class is named."""
    text = re.sub(r"^\s*(kelas|rombel)\s*", "", raw or "", flags=re.IGNORECASE).strip().upper()
    # An arabic grade may touch its letter (7A); a roman one needs a space or dash (VIIA is
    # ambiguous: VII-A or VI-IA).
    match = re.match(r"^(?:(?P<arabic>\d{1,2}+)\s*[-./ ]?|(?P<roman>[IVX]++)\s*[-./ ])\s*"
                     r"(?P<rest>[A-Z0-9][A-Z0-9 .\-]*)$", text)
    if not match:
        return None
    grade = match["arabic"] or match["roman"]
    if grade.isdigit():
        number = int(grade)
        if not 1 <= number <= 12:
            return None
        grade = ROMAN[number]
    rest = re.sub(r"[\s.\-]+", "-", match["rest"].strip(" .-"))
    return f"{grade}-{rest}" if rest else None


ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V", 6: "VI", 7: "VII", 8: "VIII", 9: "IX",
         10: "X", 11: "XI", 12: "XII"}
