"""Dapodik import time: a generated 1,500-student export (the real layout, 66 columns) through
``jembatan roster import`` in process, first import and re-import, on SQLite (and PostgreSQL when
``BENCH_DATABASE_URL`` names a database that may be emptied). Target: under 10 s. Then the
enrolment letters of a class of 36 (``jembatan letters``): time and PDF size.

Run from the repository root: ``.venv/bin/python -m bench.dapodik_import [--json] [--students N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from sqlmodel import select

from handlers.letters import print_enrolment_letters
from storage.db import make_engine, make_sessionmaker, sync_url, upgrade
from storage.models import School, Student, utcnow
from storage.roster import import_roster, read_roster
from tests.dapodik_export import make_students, write_export

TARGET_SECONDS = 10.0
CLASSES = [f"Kelas {grade}{letter}" for grade in (7, 8, 9) for letter in "ABCDEFGHIJKLMNOP"]


def _fresh(url: str) -> None:
    if url.startswith("postgresql"):
        engine = create_engine(sync_url(url))
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    upgrade(url)


async def _measure(url: str, export: Path) -> dict[str, Any]:
    _fresh(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        started = time.perf_counter()
        first = await import_roster(sessions, export, school_code="BENCH")
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        again = await import_roster(sessions, export, school_code="BENCH")
        again_s = time.perf_counter() - started
        letters = await _letters(sessions, export.parent / "letters-36.pdf")
    finally:
        await engine.dispose()
    return {"first_import_s": round(first_s, 2), "reimport_s": round(again_s, 2), **letters,
            "created": first.created, "reimport_changes": again.created + again.updated,
            "within_target": first_s < TARGET_SECONDS and again_s < TARGET_SECONDS}


async def _letters(sessions: Any, out: Path) -> dict[str, Any]:
    """A class of 36: codes issued and the PDF written, with both QR codes per page."""
    async with sessions() as session, session.begin():
        school = (await session.exec(select(School))).one()
        nisns = (await session.exec(select(Student.nisn).order_by(Student.nisn).limit(36))).all()
        started = time.perf_counter()
        result = await print_enrolment_letters(
            session, schools=[school], audience="student:" + ",".join(nisns), now=utcnow(), out=out,
            telegram_bot="sekolah_bench_bot", whatsapp_from="whatsapp:+14155238886")
        seconds = time.perf_counter() - started
    return {"letters_36_s": round(seconds, 2), "letters_36_pages": result.pages,
            "letters_36_kb": out.stat().st_size // 1024}


async def main_async(students: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="dapodik-bench-") as tmp:
        export = write_export(Path(tmp) / "daftar_pd.xlsx", make_students(students, CLASSES))
        started = time.perf_counter()
        parsed = read_roster(export)
        read_s = time.perf_counter() - started
        report: dict[str, Any] = {
            "students": len(parsed.students), "columns": len(parsed.ignored_columns or []) + 9,
            "file_kb": export.stat().st_size // 1024, "read_only_s": round(read_s, 2),
            "target_s": TARGET_SECONDS,
            "sqlite": await _measure(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", export),
        }
        pg = os.environ.get("BENCH_DATABASE_URL")
        if pg:
            report["postgresql"] = await _measure(pg, export)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=1500)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    report = asyncio.run(main_async(args.students))
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"Dapodik export: {report['students']} students, {report['columns']} columns, "
          f"{report['file_kb']} KB; reading and checking it: {report['read_only_s']} s")
    for backend in ("sqlite", "postgresql"):
        if backend in report:
            row = report[backend]
            verdict = "within" if row["within_target"] else "OVER"
            print(f"{backend}: first import {row['first_import_s']} s, re-import "
                  f"{row['reimport_s']} s ({row['reimport_changes']} changes) - {verdict} the "
                  f"{TARGET_SECONDS:.0f} s target; letters for a class of 36: "
                  f"{row['letters_36_s']} s, {row['letters_36_pages']} pages, {row['letters_36_kb']} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
