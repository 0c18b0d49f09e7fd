"""Roster files uploaded on the dashboard: checked, previewed, then saved whole or not at all.

The office uploads the contract's workbook, a Dapodik export (with or without staff.csv) or the
three CSVs. The files are kept in a ``RosterUpload`` row (a zip, its sha256, an expiry) so that
"Simpan" imports exactly the files that were previewed, never a copy the browser sends back.
Both the preview and the save go through the one roster import (storage/roster.py): the preview
applies it in a transaction that is rolled back, the save in the caller's transaction.
"""

from __future__ import annotations

import hashlib
import io
import re
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, delete
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import RosterUpload, School, Staff
from storage.roster import ImportResult, RosterError, apply_roster, import_roster, read_roster

MAX_UPLOAD = 10 * 1024 * 1024  # bytes, all files together: a 1,500-student export is about 1 MiB
MAX_FILES = 5  # staff.csv, students.csv, guardians.csv, school.yaml, or a workbook beside staff.csv
KEPT_FOR = timedelta(hours=2)  # a preview not saved by then is dropped
SUFFIXES = (".xlsx", ".xlsm", ".csv", ".yaml", ".yml")
_XLSX_MAGIC = b"PK\x03\x04"  # a workbook is a zip
_SAFE = re.compile(r"[^\w.\- ]")


class UploadRefused(ValueError):
    """The files cannot be a roster (size, count, name or type); ``reason`` is the key of the
    message shown to the office, ``name`` the file it is about."""

    def __init__(self, reason: str, name: str = "") -> None:
        super().__init__(f"{name}: {reason}" if name else reason)
        self.reason, self.name = reason, name


@dataclass
class Preview:
    """What saving the upload would do, or every problem that stops it."""

    upload: RosterUpload | None
    result: ImportResult | None
    errors: list[str]
    files: list[str]


def check_files(files: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The uploaded files with safe names; ``UploadRefused`` when they cannot be a roster."""
    if not files:
        raise UploadRefused("no_file")
    if len(files) > MAX_FILES:
        raise UploadRefused("too_many")
    if sum(len(data) for _, data in files) > MAX_UPLOAD:
        raise UploadRefused("too_large")
    checked: list[tuple[str, bytes]] = []
    for raw_name, data in files:
        name = _SAFE.sub("_", Path(raw_name.replace("\\", "/")).name).strip() or "file"
        suffix = Path(name).suffix.lower()
        if suffix not in SUFFIXES:
            raise UploadRefused("bad_type", name)
        if suffix in (".xlsx", ".xlsm") and not data.startswith(_XLSX_MAGIC) \
                and not data.startswith(b"\xd0\xcf\x11\xe0"):  # an old .xls: the import explains it
            raise UploadRefused("bad_type", name)
        if name.lower() in {n.lower() for n, _ in checked}:
            raise UploadRefused("duplicate", name)
        checked.append((name, data))
    return checked


def _archive(files: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(name, data)
    return buffer.getvalue()


def _unpack(archive: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        return [(info.filename, opened.read(info)) for info in opened.infolist()]


@contextmanager
def _on_disk(files: list[tuple[str, bytes]]) -> Iterator[tuple[Path, Path]]:
    """The files in a fresh folder, and the path the import reads: a lone workbook is read as
    itself (the contract's workbook or a Dapodik export), anything else as a roster folder."""
    with tempfile.TemporaryDirectory(prefix="jembatan-roster-") as folder:
        root = Path(folder)
        for name, data in files:
            (root / name).write_bytes(data)
        workbooks = [name for name, _ in files if Path(name).suffix.lower() in (".xlsx", ".xlsm")]
        target = root / workbooks[0] if len(files) == 1 and workbooks else root
        yield root, target


def _plain(errors: list[str], root: Path) -> list[str]:
    """Problems naming the uploaded files as the office knows them, not the server's folder."""
    return [e.replace(f"{root}/", "").replace(str(root), "upload") for e in errors]


async def preview_upload(sessions: async_sessionmaker[AsyncSession], staff: Staff, school: School,
                         files: list[tuple[str, bytes]], *, now: datetime) -> Preview:
    """Say what saving the files would change (the import's dry run: nothing of the roster is
    written) and, when they can be saved, keep them for "Simpan"."""
    files = check_files(files)
    with _on_disk(files) as (root, target):
        try:
            result = await import_roster(sessions, target, school_code=school.code, dry_run=True)
        except RosterError as exc:
            return Preview(None, None, _plain(exc.errors, root), [name for name, _ in files])
    archive = _archive(files)
    async with sessions() as session, session.begin():
        await session.exec(delete(RosterUpload).where(col(RosterUpload.expires_at) < now))  # type: ignore[call-overload]
        upload = RosterUpload(school_id=school.id, staff_id=staff.id,  # type: ignore[arg-type]
                              digest=hashlib.sha256(archive).hexdigest(), archive=archive,
                              created_at=now, expires_at=now + KEPT_FOR)
        session.add(upload)
        await session.flush()
        session.expunge(upload)
    return Preview(upload, result, [], [name for name, _ in files])


async def pending_upload(session: AsyncSession, staff: Staff, upload_id: int, digest: str, *,
                         now: datetime) -> RosterUpload | None:
    """The upload this staff member previewed, unsaved and unexpired; None otherwise (another
    school's, another person's, saved already, expired, or a digest that does not match)."""
    upload = await session.get(RosterUpload, upload_id, with_for_update=True)
    if upload is None or upload.school_id != staff.school_id or upload.staff_id != staff.id \
            or upload.saved_at is not None or upload.expires_at is None or upload.expires_at <= now \
            or upload.digest != digest:
        return None
    return upload


async def save_upload(session: AsyncSession, upload: RosterUpload, school: School, *,
                      now: datetime) -> tuple[ImportResult | None, list[str]]:
    """Import the kept files into ``school`` in the caller's transaction (all or nothing); the
    files are dropped, only the fact of the save stays."""
    files = _unpack(upload.archive)
    with _on_disk(files) as (root, target):
        try:
            roster = read_roster(target)
        except RosterError as exc:
            return None, _plain(exc.errors, root)
    try:
        result = await apply_roster(session, school, roster, now=now)
    except RosterError as exc:
        return None, _plain(exc.errors, root)
    upload.saved_at, upload.archive = now, b""
    session.add(upload)
    return result, []
