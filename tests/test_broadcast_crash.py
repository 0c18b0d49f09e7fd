"""A 1,000-family announcement survives SIGKILL: restarted, it finishes the frozen list, with no
family missed and none receiving it twice beyond the one message in flight at the kill."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.fakes.telegram_api import FakeBotAPI
from tests.test_cli import jembatan
from tests.harness import until_healthy

FAMILIES = 1000
CLASSES = [f"VII-{letter}" for letter in "ABCDEFGHIJ"]


def _roster(folder: Path) -> None:
    folder.mkdir()
    (folder / "staff.csv").write_text(
        "staff_id,name,role,phone,language,homeroom_class,classes,subjects,office_hours\n"
        "C-001,Dewi Kartika,counselor,081200000103,id,,7,,\n")
    students = ["student_id,name,class"]
    guardians = ["student_id,name,relation,phone,language,proxy"]
    for n in range(FAMILIES):
        nisn = f"00900{n:05d}"
        students.append(f"{nisn},Siswa {n},{CLASSES[n % len(CLASSES)]}")
        guardians.append(f"{nisn},Wali {n},ibu,0813{10000000 + n},id,no")
    (folder / "students.csv").write_text("\n".join(students) + "\n")
    (folder / "guardians.csv").write_text("\n".join(guardians) + "\n")


def _link_everyone(db_path: Path) -> None:
    """Each guardian has used the bot on Telegram (chat id 100000 + n)."""
    engine = create_engine(f"sqlite:///{db_path}")
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        phones = [row[0] for row in conn.execute(text("SELECT phone FROM guardian ORDER BY id"))]
        conn.execute(text(
            "INSERT INTO channel_account (channel, external_id, chat_id, display_name, phone, linked_at, "
            "last_seen_at, blocked, preferred) VALUES ('telegram', :ext, :ext, '', :phone, :now, :now, 0, 0)"),
            [{"ext": str(100000 + n), "phone": phone, "now": now} for n, phone in enumerate(phones)])
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _serve(env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port)], env=env, cwd=cwd,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    await until_healthy(f"http://127.0.0.1:{port}", process)
    return process


async def test_sigkill_mid_broadcast_then_restart_finishes_it_once(tmp_path: Path) -> None:
    _roster(tmp_path / "roster")
    db = tmp_path / "crash.db"
    async with FakeBotAPI() as api:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_"))}
        env.update({"DATABASE_URL": f"sqlite+aiosqlite:///{db}", "TELEGRAM_BOT_TOKEN": api.token,
                    "TELEGRAM_API_BASE_URL": api.base_url, "TELEGRAM_MODE": "webhook",
                    "TELEGRAM_WEBHOOK_SECRET": "crash-test", "TELEGRAM_RATE_PER_SECOND": "400",
                    "SIMULATOR": "off", "LOG_LEVEL": "WARNING"})

        def cli(*args: str) -> subprocess.CompletedProcess[str]:  # in this process: only serve is killed
            return jembatan(*args, database_url=env["DATABASE_URL"], cwd=tmp_path, extra_env=env)

        assert cli("db", "upgrade").returncode == 0
        imported = cli("roster", "import", str(tmp_path / "roster"), "--school", "CRASH")
        assert imported.returncode == 0, imported.stderr
        _link_everyone(db)
        sent = cli("broadcast", "--audience", "grade:7", "--text", "Besok sekolah libur.", "--author", "C-001",
                   "--urgent", "--json")
        assert sent.returncode == 0, sent.stderr
        assert json.loads(sent.stdout)["recipients"] == FAMILIES

        first = await _serve(env, tmp_path)
        try:
            await api.wait_for(count=300, timeout=60)
        finally:
            os.kill(first.pid, signal.SIGKILL)  # no shutdown, no cleanup: a crash
            first.wait(timeout=10)
        at_kill = len(api.sent)
        assert at_kill < FAMILIES, "the kill came too late to test anything"

        second = await _serve(env, tmp_path)
        try:
            await api.wait_for(lambda sent: len({m["chat_id"] for m in sent if "libur" in m["text"]}) >= FAMILIES,
                               timeout=90)
        finally:
            second.terminate()
            second.wait(timeout=10)

    per_chat = Counter(m["chat_id"] for m in api.sent if "libur" in m["text"])
    assert set(per_chat) == {100000 + n for n in range(FAMILIES)}, "no family missed"
    assert sum(count - 1 for count in per_chat.values()) <= 1, "at most the one message in flight repeats"
