"""A generated Dapodik student export (Daftar Peserta Didik) with the real layout, for tests and bench.

Title rows, then a two-row header where single columns span both rows and the ``Data Ayah`` /
``Data Ibu`` / ``Data Wali`` groups are merged over six columns each; 65 columns, two of them
with a line break in their name; realistic values including the sensitive ones Jembatan must
never store (NIK, No KK, bank account, income, coordinates). ``old=True`` writes an older
version: no ``Telepon`` column and ``Rombel Saat Ini`` third.
"""

from __future__ import annotations

import random
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

GROUP_COLUMNS = ["Nama", "Tahun Lahir", "Jenjang Pendidikan", "Pekerjaan", "Penghasilan", "NIK"]
BEFORE = ["No", "Nama", "NIPD", "JK", "NISN", "Tempat Lahir", "Tanggal Lahir", "NIK", "Agama",
          "Alamat", "RT", "RW", "Dusun", "Kelurahan", "Kecamatan", "Kode Pos", "Jenis Tinggal",
          "Alat Transportasi", "Telepon", "HP", "E-Mail", "SKHUN", "Penerima KPS", "No. KPS"]
AFTER = ["Rombel Saat Ini", "No Peserta Ujian Nasional", "No Seri Ijazah", "Penerima KIP",
         "Nomor KIP", "Nama di KIP", "Nomor KKS", "No Registrasi Akta Lahir", "Bank",
         "Nomor Rekening Bank", "Rekening Atas Nama", "Layak PIP\n(usulan dari sekolah)",
         "Alasan Layak PIP", "Kebutuhan Khusus", "Sekolah Asal", "Anak ke-berapa", "Lintang",
         "Bujur", "No KK", "Berat Badan", "Tinggi Badan", "Lingkar Kepala",
         "Jml. Saudara\nKandung", "Jarak Rumah\nke Sekolah (KM)"]

FIRST = ["Budi", "Sari", "Agus", "Wati", "Dewi", "Andi", "Rina", "Joko", "Putri", "Eko", "Siti",
         "Bayu", "Ayu", "Fajar", "Indah", "Hendra", "Lestari", "Rudi", "Nur", "Yusuf", "Ratna",
         "Dedi", "Maya", "Teguh", "Fitri", "Bambang", "Intan", "Gilang", "Citra", "Hadi"]
LAST = ["Santoso", "Wulandari", "Pratama", "Saputra", "Lestari", "Hidayat", "Nugroho", "Siregar",
        "Harahap", "Putra", "Kurniawan", "Rahmawati", "Setiawan", "Syahputra", "Marpaung"]


@dataclass
class ExportStudent:
    nisn: str
    name: str
    rombel: str  # as Dapodik writes it: "Kelas 7A", "7 A", "VII A"...
    birth_date: date
    father: str
    mother: str
    guardian: str = "-"
    hp: str = ""
    telepon: str = ""
    nik: str = ""
    no_kk: str = ""
    account: str = ""
    parents_nik: list[str] = field(default_factory=list)


def make_students(count: int, classes: list[str], *, seed: int = 7, start: int = 71000000) -> list[ExportStudent]:
    """``count`` students spread over ``classes`` (written as Dapodik writes them)."""
    rng = random.Random(seed)
    students = []
    for n in range(count):
        family = rng.choice(LAST)
        father = f"{rng.choice(FIRST)} {family}"
        mother = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        students.append(ExportStudent(
            nisn=f"{start + n:010d}", name=f"{rng.choice(FIRST)} {rng.choice(FIRST)} {family}",
            rombel=classes[n % len(classes)],
            birth_date=date(2012, 1, 1) + timedelta(days=rng.randrange(700)),
            father=father if rng.random() > 0.05 else "-", mother=mother,
            guardian=f"{rng.choice(FIRST)} {rng.choice(LAST)}" if rng.random() < 0.1 else "-",
            hp=f"0812{rng.randrange(10**7, 10**8)}" if rng.random() > 0.1 else "",
            telepon=f"0751{rng.randrange(10**5, 10**6)}" if rng.random() < 0.2 else "",
            nik=f"13060{rng.randrange(10**10, 10**11)}", no_kk=f"13069{rng.randrange(10**10, 10**11)}",
            account=f"{rng.randrange(10**9, 10**10)}{rng.randrange(10, 99)}",
            parents_nik=[f"13061{rng.randrange(10**10, 10**11)}" for _ in range(3)],
        ))
    return students


def _row(student: ExportStudent, number: int, rng: random.Random) -> dict[str, object]:
    values: dict[str, object] = {
        "No": number, "Nama": student.name, "NIPD": f"{2400 + number}", "JK": rng.choice("LP"),
        "NISN": student.nisn, "Tempat Lahir": "Padang Pariaman",
        "Tanggal Lahir": student.birth_date.isoformat(), "NIK": student.nik, "Agama": "Islam",
        "Alamat": f"Jl. Raya Lubuk Alung No. {number}", "RT": "1", "RW": "2",
        "Dusun": "Korong Pasar", "Kelurahan": "Lubuk Alung", "Kecamatan": "Kec. Lubuk Alung",
        "Kode Pos": "25581", "Jenis Tinggal": "Bersama orang tua", "Alat Transportasi": "Sepeda motor",
        "Telepon": student.telepon, "HP": student.hp, "E-Mail": "", "SKHUN": "",
        "Penerima KPS": "Tidak", "No. KPS": "", "Rombel Saat Ini": student.rombel,
        "No Peserta Ujian Nasional": "", "No Seri Ijazah": "", "Penerima KIP": "Ya",
        "Nomor KIP": f"K{rng.randrange(10**6, 10**7)}", "Nama di KIP": student.name,
        "Nomor KKS": "", "No Registrasi Akta Lahir": f"1306-LT-{rng.randrange(10**7, 10**8)}",
        "Bank": "BRI", "Nomor Rekening Bank": student.account, "Rekening Atas Nama": student.name,
        "Layak PIP\n(usulan dari sekolah)": "Ya", "Alasan Layak PIP": "Siswa Miskin/Rentan Miskin",
        "Kebutuhan Khusus": "Tidak ada", "Sekolah Asal": "SD Negeri 12 Lubuk Alung",
        "Anak ke-berapa": 2, "Lintang": -0.6612345, "Bujur": 100.2912345, "No KK": student.no_kk,
        "Berat Badan": 41, "Tinggi Badan": 150, "Lingkar Kepala": 53,
        "Jml. Saudara\nKandung": 2, "Jarak Rumah\nke Sekolah (KM)": 3,
    }
    for group, name, nik in (("Data Ayah", student.father, student.parents_nik[0]),
                             ("Data Ibu", student.mother, student.parents_nik[1]),
                             ("Data Wali", student.guardian, student.parents_nik[2])):
        named = name not in ("", "-")
        values[(group, "Nama")] = name
        values[(group, "Tahun Lahir")] = 1980 if named else ""
        values[(group, "Jenjang Pendidikan")] = "SMA / sederajat" if named else ""
        values[(group, "Pekerjaan")] = "Petani" if named else ""
        values[(group, "Penghasilan")] = "Rp. 1,000,000 - Rp. 1,999,999" if named else ""
        values[(group, "NIK")] = nik if named else ""
    return values


def layout(old: bool = False) -> list[object]:
    """The columns in order: a name, or (group, name) under a merged group."""
    before = [c for c in BEFORE if not (old and c == "Telepon")]
    if old:  # No, Nama, Rombel Saat Ini, NIPD, ...
        before.insert(2, "Rombel Saat Ini")
    groups: list[object] = [(g, c) for g in ("Data Ayah", "Data Ibu", "Data Wali") for c in GROUP_COLUMNS]
    after = [c for c in AFTER if not (old and c == "Rombel Saat Ini")]
    return [*before, *groups, *after]


def write_export(path: Path, students: list[ExportStudent], *, old: bool = False,
                 school: str = "SMP NEGERI 3 LUBUK ALUNG", bad_dimension: bool = False,
                 seed: int = 11) -> Path:
    """Write the export as Dapodik does; ``bad_dimension`` declares a wrong sheet size (the
    reason Excel offers to "recover" many real exports)."""
    rng = random.Random(seed)
    book = Workbook()
    sheet = book.active
    sheet.title = "Daftar Peserta Didik"
    columns = layout(old)
    sheet["A1"] = "Daftar Peserta Didik"
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A2"] = school
    sheet["A3"] = "Kecamatan Kec. Lubuk Alung, Kabupaten Kab. Padang Pariaman, Provinsi Prov. Sumatera Barat"
    sheet["A4"] = "Tanggal Unduh: 2026-07-15 10:11:12"
    sheet["C4"] = "Pengunduh: operator@smpn3lubukalung.sch.id"
    top, sub = 5, 6
    col = 1
    while col <= len(columns):
        item = columns[col - 1]
        if isinstance(item, tuple):
            group = item[0]
            sheet.cell(top, col, group)
            sheet.merge_cells(start_row=top, start_column=col, end_row=top, end_column=col + 5)
            for offset, name in enumerate(GROUP_COLUMNS):
                sheet.cell(sub, col + offset, name)
            col += 6
            continue
        sheet.cell(top, col, item).alignment = Alignment(wrap_text=True)
        sheet.merge_cells(start_row=top, start_column=col, end_row=sub, end_column=col)
        col += 1
    for number, student in enumerate(students, start=1):
        values = _row(student, number, rng)
        sheet.append([values.get(c, "") if not isinstance(c, tuple) else values[c] for c in columns])
    book.save(path)
    if bad_dimension:
        _declare_dimension(path, "A1:B2")
    return path


def _declare_dimension(path: Path, ref: str) -> None:
    """Rewrite the sheet's <dimension ref> as some exporters wrongly write it."""
    with zipfile.ZipFile(path) as source:
        items = [(info, source.read(info.filename)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in items:
            if info.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb'<dimension ref="[^"]*"', f'<dimension ref="{ref}"'.encode(), data)
            target.writestr(info, data)
