"""The `jembatan` command line as an operator uses it: real processes, real files, exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import SCHOOL

ROOT = Path(__file__).resolve().parent.parent


def jembatan(*args: str, database_url: str, cwd: Path, extra_env: dict[str, str] | None = None,
             ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_"))}
    env.update({"DATABASE_URL": database_url, **(extra_env or {})})
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=120)


@pytest.fixture
def empty_db(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"


def test_upgrade_demo_and_import_from_any_directory(tmp_path: Path, empty_db: str) -> None:
    assert jembatan("db", "upgrade", database_url=empty_db, cwd=tmp_path).returncode == 0
    demo = jembatan("demo", "--if-empty", "--json", database_url=empty_db, cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert json.loads(demo.stdout)["seeded"] is True
    again = jembatan("demo", "--if-empty", "--json", database_url=empty_db, cwd=tmp_path)
    assert json.loads(again.stdout) == {"seeded": False}

    imported = jembatan("roster", "import", str(SCHOOL), "--school", "UJI", "--json",
                        database_url=empty_db, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    result = json.loads(imported.stdout)
    assert result["school"] == "UJI" and result["students"] == 3 and result["staff"] == 6
    assert result["guardians"] == 4 and result["errors"] == []
    repeat = json.loads(jembatan("roster", "import", str(SCHOOL), "--school", "UJI", "--json",
                                 database_url=empty_db, cwd=tmp_path).stdout)
    assert repeat["created"] == 0 and repeat["updated"] == 0


def test_bad_roster_exits_1_with_file_line_column(tmp_path: Path, sqlite_url: str) -> None:
    db = sqlite_url  # a copy of the migrated template: `db upgrade` itself is tested above
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("staff.csv", "students.csv"):
        (bad / name).write_text((SCHOOL / name).read_text())
    (bad / "guardians.csv").write_text("student_id,name,relation,phone,language,proxy\n"
                                       "0071000001,Hendra Wijaya,ayah,0812,id,no\n")
    result = jembatan("roster", "import", str(bad), "--school", "UJI", database_url=db, cwd=tmp_path)
    assert result.returncode == 1
    assert re.search(r"guardians\.csv:2: phone: ", result.stderr)
    assert "Traceback" not in result.stderr


def test_link_code_for_a_roster_person(tmp_path: Path, sqlite_url: str) -> None:
    db = sqlite_url  # a copy of the migrated template: `db upgrade` itself is tested above
    jembatan("roster", "import", str(SCHOOL), "--school", "UJI", database_url=db, cwd=tmp_path)
    made = jembatan("link-code", "0813-0000-0002", "--json", database_url=db, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    data = json.loads(made.stdout)
    assert data["name"] == "Maya Wijaya" and len(data["code"]) >= 8 and data["link"] is None
    by_staff_id = jembatan("link-code", "T-003", database_url=db, cwd=tmp_path)
    assert by_staff_id.returncode == 0 and "Rina Marlina" in by_staff_id.stdout
    unknown = jembatan("link-code", "0813-9999-9999", database_url=db, cwd=tmp_path)
    assert unknown.returncode == 1 and "not in any roster" in unknown.stderr


def test_usage_error_exits_2(tmp_path: Path, empty_db: str) -> None:
    assert jembatan("roster", database_url=empty_db, cwd=tmp_path).returncode == 2
    assert jembatan("no-such-command", database_url=empty_db, cwd=tmp_path).returncode == 2


def test_env_example_lists_exactly_the_settings() -> None:
    from bot.settings import Settings

    listed = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert listed == {name.upper() for name in Settings.model_fields}


def test_migrations_match_the_models(tmp_path: Path) -> None:
    from alembic import command

    from storage.db import alembic_config, upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'check.db'}"
    upgrade(url)
    command.check(alembic_config(url))  # raises when the models drifted from the migrations


def test_meeting_invite_report_cancel_from_the_command_line(tmp_path: Path, sqlite_url: str) -> None:
    db = sqlite_url  # a copy of the migrated template: `db upgrade` itself is tested above
    jembatan("roster", "import", str(SCHOOL), "--school", "UJI", database_url=db, cwd=tmp_path)
    meeting = ROOT / "tests" / "data" / "meetings" / "pembagian_rapor.yaml"
    created = json.loads(jembatan("meeting", "create", str(meeting), "--json", database_url=db,
                                  cwd=tmp_path).stdout)
    invited = jembatan("meeting", "invite", str(created["id"]), "--json", database_url=db, cwd=tmp_path)
    assert invited.returncode == 0, invited.stderr
    assert json.loads(invited.stdout)["families"] == 2  # class VII-A: Ani's family and Citra's
    report = jembatan("report", "participation", str(created["id"]), "--json", "--csv", str(tmp_path / "p.csv"),
                      database_url=db, cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    rows = json.loads(report.stdout)["rows"]
    assert rows[0]["invited"] == 2 and rows[0]["class"] == ""
    assert (tmp_path / "p.csv").read_text().startswith("meeting,title,class,invited,delivered,read")
    moved = jembatan("meeting", "move", str(created["id"]), "--to", "2020-01-01T08:00", database_url=db,
                     cwd=tmp_path)
    assert moved.returncode == 1 and "in the past" in moved.stderr
    cancelled = jembatan("meeting", "cancel", str(created["id"]), "--json", database_url=db, cwd=tmp_path)
    assert json.loads(cancelled.stdout) == {"id": created["id"], "status": "cancelled", "told": 3}
    unknown = jembatan("meeting", "invite", "999", database_url=db, cwd=tmp_path)
    assert unknown.returncode == 1 and "no meeting with id 999" in unknown.stderr
