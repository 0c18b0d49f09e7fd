"""The `jembatan` command line as an operator uses it: real processes, real files, exit codes."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import threading
import traceback
from pathlib import Path

import pytest

from tests.harness import SCHOOL

ROOT = Path(__file__).resolve().parent.parent


def jembatan(*args: str, database_url: str, cwd: Path, extra_env: dict[str, str] | None = None,
             process: bool = False) -> subprocess.CompletedProcess[str]:
    """`jembatan ARGS` with this environment and working directory: its exit code, stdout, stderr.

    Run in this test process (the command line's ``main`` on a thread of its own, with the
    environment, directory, stdout, stderr and logging it would have as a process, all put back
    afterwards): starting Python and importing the app costs most of a second a command, and
    the suite runs a hundred. ``process=True`` (and `serve`, `scheduler`) starts the real
    ``python -m bot`` instead: the entry point itself is tested that way
    (test_upgrade_demo_and_import_from_any_directory)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_"))}
    env.update({"DATABASE_URL": database_url, **(extra_env or {})})
    if process or args[0] in ("serve", "scheduler"):
        return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env=env, text=True,
                              capture_output=True, timeout=120)
    return _in_this_process(list(args), env, cwd)


async def jembatan_beside(*args: str, database_url: str, cwd: Path,
                          extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """:func:`jembatan` while this test's event loop goes on serving its fakes (a fake Bot API
    the command asks for its bot's name)."""
    return await asyncio.to_thread(jembatan, *args, database_url=database_url, cwd=cwd, extra_env=extra_env)


def _in_this_process(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    from bot import logs
    from bot.cli import main

    out, err = io.StringIO(), io.StringIO()
    code: list[int] = []

    def run() -> None:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code.append(main(args))
            except SystemExit as exc:  # argparse's usage errors, as `python -m bot` would exit
                if exc.code is None or isinstance(exc.code, int):
                    code.append(exc.code or 0)
                else:
                    print(exc.code, file=sys.stderr)
                    code.append(1)
            except BaseException:  # what the process would print before exiting with 1
                traceback.print_exc()
                code.append(1)

    manager = logging.Logger.manager
    loggers = [logging.getLogger(), *(logger for logger in manager.loggerDict.values()
                                      if isinstance(logger, logging.Logger))]
    saved_logging = [(logger, logger.level, list(logger.handlers), logger.propagate, logger.disabled)
                     for logger in loggers]
    saved_secrets, saved_env, saved_cwd = set(logs._known), dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        thread = threading.Thread(target=run, name="jembatan-cli")  # asyncio.run needs a loop-free thread
        thread.start()
        thread.join(timeout=120)
        assert not thread.is_alive(), f"jembatan {' '.join(args)} still running after 120 s"
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        for logger in (logging.getLogger(), *(logging.getLogger(name) for name in logs.UVICORN_LOGGERS)):
            for handler in logger.handlers:
                if all(handler is not h for _, _, handlers, _, _ in saved_logging for h in handlers):
                    handler.close()
        for logger, level, handlers, propagate, disabled in saved_logging:
            logger.setLevel(level)
            logger.handlers[:] = handlers
            logger.propagate, logger.disabled = propagate, disabled
        logs._known.clear()
        logs._known.update(saved_secrets)
    return subprocess.CompletedProcess(["jembatan", *args], code[0] if code else 1, out.getvalue(), err.getvalue())


@pytest.fixture
def empty_db(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"


def test_upgrade_demo_and_import_from_any_directory(tmp_path: Path, empty_db: str) -> None:
    # The real `python -m bot` here (other tests run the command line in the test process).
    assert jembatan("db", "upgrade", database_url=empty_db, cwd=tmp_path, process=True).returncode == 0
    demo = jembatan("demo", "--if-empty", "--json", database_url=empty_db, cwd=tmp_path, process=True)
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
