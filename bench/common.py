"""What the service benchmarks share: a generated school, a real `jembatan serve` subprocess,
the fakes of Telegram and Twilio in this process, percentiles, the machine, and the report.

Everything talks over 127.0.0.1 only. The fakes come from ``tests/fakes`` (they speak the real
wire formats); run the benchmarks from the repository root (``python -m bench.broadcast``).
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_updates import contact_update
from tests.fakes.twilio_api import SANDBOX_FROM, FakeTwilioAPI
from tests.fakes.twilio_forms import inbound_form, new_message_sid, sign

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = "https://jembatan.bench.example"
TG_SECRET = "bench-webhook-secret"
SCHOOL_CODE = "BENCH"
PER_CLASS = 30
CLASSES_PER_COUNSELOR = 5
# Guardians' concerns, as parents write them: grades, homework (subject teacher), absence
# (homeroom teacher) and a friendship worry (guru BK).
CONCERNS = (
    "Nilai matematika anak saya turun semester ini, bagaimana cara membantunya di rumah?",
    "Selamat pagi Bu, anak saya sakit demam hari ini, mohon izin tidak masuk sekolah.",
    "Tugas IPA minggu ini apa saja ya Pak? Anak saya lupa mencatat.",
    "Anak saya sering diejek temannya di kelas, sekarang dia jadi malas berangkat sekolah.",
)
TELEGRAM_USER_BASE = 700_000_000
TEACHER_USER_BASE = 800_000_000


# ----------------------------------------------------------------------------------- the school


@dataclass
class School:
    """A generated roster: one child a family, classes of ``PER_CLASS``, a homeroom teacher
    (Matematika, IPA) per class and a counselor per ``CLASSES_PER_COUNSELOR`` classes."""

    folder: Path
    guardians: list[str]  # E.164 phones, family n at index n
    classes: list[str]
    staff: list[str] = field(default_factory=list)  # E.164 phones of all staff
    counselor_id: str = "C-01"

    def telegram_user(self, family: int) -> int:
        return TELEGRAM_USER_BASE + family


ROMAN = {7: "VII", 8: "VIII", 9: "IX"}


def class_name(grade: int, index: int) -> str:
    """``VII-01`` ...: grade 7 to 9 as the roster's roman numerals, classes numbered."""
    return f"{ROMAN[grade]}-{index + 1:02d}"


def write_school(folder: Path, families: int, *, grade: int = 7) -> School:
    """Write ``staff.csv``, ``students.csv`` and ``guardians.csv`` for ``families`` families."""
    folder.mkdir(parents=True, exist_ok=True)
    classes = [class_name(grade, k) for k in range((families + PER_CLASS - 1) // PER_CLASS)]
    guardians = [f"+62813{n + 1:08d}" for n in range(families)]
    staff_phones: list[str] = []
    with open(folder / "staff.csv", "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["staff_id", "name", "role", "phone", "language", "homeroom_class", "classes",
                      "subjects", "office_hours"])
        for c in range(0, len(classes), CLASSES_PER_COUNSELOR):
            phone = f"+62812{len(staff_phones) + 1:08d}"
            staff_phones.append(phone)
            out.writerow([f"C-{c // CLASSES_PER_COUNSELOR + 1:02d}", f"Guru BK {c // CLASSES_PER_COUNSELOR + 1}",
                          "counselor", phone, "id", "", ";".join(classes[c:c + CLASSES_PER_COUNSELOR]), "", ""])
        for k, name in enumerate(classes):
            phone = f"+62812{len(staff_phones) + 1:08d}"
            staff_phones.append(phone)
            out.writerow([f"T-{k + 1:03d}", f"Wali Kelas {name}", "teacher", phone, "id", name, name,
                          "Matematika;IPA", ""])
    with open(folder / "students.csv", "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["student_id", "name", "class"])
        for n in range(families):
            out.writerow([f"{grade:02d}{n:08d}", f"Siswa {n + 1}", classes[n // PER_CLASS]])
    with open(folder / "guardians.csv", "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["student_id", "name", "relation", "phone", "language", "proxy"])
        for n in range(families):
            out.writerow([f"{grade:02d}{n:08d}", f"Orang Tua {n + 1}", "ibu", guardians[n], "id", "no"])
    return School(folder, guardians, classes, staff_phones)


# ---------------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sqlite_url(folder: Path) -> str:
    return f"sqlite+aiosqlite:///{folder / 'jembatan.db'}"


def postgres_ready(url: str) -> bool:
    """True when the benchmark's own PostgreSQL database answers; creates it when the server
    answers but the database does not exist yet."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from storage.db import sync_url

    def answers(target: str) -> bool:
        engine = create_engine(sync_url(target))
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        finally:
            engine.dispose()

    try:
        return answers(url)
    except Exception:  # the database may not exist yet: try the server's maintenance database
        pass
    name = make_url(url).database
    admin = make_url(sync_url(url)).set(database="postgres")
    try:
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return answers(url)
    except Exception:  # no server, or no right to create it: the caller skips PostgreSQL
        return False


def reset_postgres(url: str) -> None:
    """Empty the benchmark's own PostgreSQL database (its public schema)."""
    from sqlalchemy import create_engine, text

    from storage.db import sync_url

    engine = create_engine(sync_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


BYTECODE_CACHE = Path(__file__).resolve().parents[1] / "var" / "bench-bytecode"


def service_env(database_url: str, *, telegram: FakeBotAPI | None = None,
                twilio: FakeTwilioAPI | None = None, **extra: str) -> dict[str, str]:
    """The environment of a `jembatan` process: the database, and channels pointed at fakes."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("TELEGRAM_", "TWILIO_", "DATABASE_", "PUBLIC_", "SIMULATOR"))}
    # A deployed server starts from compiled bytecode (Python writes it on the first run); a
    # shell with PYTHONDONTWRITEBYTECODE would make every start compile the project again
    # (about 0.27 s here), which no school's server does. The cache stays out of the sources.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str(BYTECODE_CACHE))
    env["DATABASE_URL"] = database_url
    env["PUBLIC_BASE_URL"] = PUBLIC
    if telegram is not None:
        env.update(TELEGRAM_BOT_TOKEN=telegram.token, TELEGRAM_MODE="webhook",
                   TELEGRAM_WEBHOOK_SECRET=TG_SECRET, TELEGRAM_API_BASE_URL=telegram.base_url)
    if twilio is not None:
        env.update(TWILIO_ACCOUNT_SID=twilio.account_sid, TWILIO_AUTH_TOKEN=twilio.auth_token,
                   TWILIO_WHATSAPP_FROM=SANDBOX_FROM, TWILIO_API_BASE_URL=twilio.base_url)
    env.update(extra)
    return env


async def jembatan(*args: str, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Run one `jembatan` command (``python -m bot``) without blocking the fakes' loop."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"jembatan {' '.join(args)} failed ({proc.returncode}): {err.decode()[-2000:]}")
    text = out.decode().strip()
    return json.loads(text) if text.startswith("{") else {"output": text}


async def prepare_database(database_url: str, school: School, *, cwd: Path,
                           env: dict[str, str] | None = None) -> dict[str, Any]:
    """Migrate and import the roster through the command line, as an operator would."""
    env = env or service_env(database_url)
    await jembatan("db", "upgrade", env=env, cwd=cwd)
    return await jembatan("roster", "import", str(school.folder), "--school", SCHOOL_CODE, "--json",
                          env=env, cwd=cwd)


class Server:
    """`jembatan serve` (or any uvicorn command) as a subprocess on a free port."""

    def __init__(self, command: Sequence[str], *, env: dict[str, str], cwd: Path, log: Path,
                 port: int) -> None:
        self.command, self.env, self.cwd, self.log, self.port = list(command), env, cwd, log, port
        self.proc: asyncio.subprocess.Process | None = None
        self.started_in: float | None = None  # seconds from spawn to a healthy answer

    @classmethod
    def jembatan(cls, env: dict[str, str], cwd: Path, log: Path, workers: int = 1,
                 extra: Sequence[str] = ()) -> Server:
        port = free_port()
        return cls([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port),
                    "--workers", str(workers), *extra], env=env, cwd=cwd, log=log, port=port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self, health_path: str = "/healthz", timeout: float = 30) -> float:
        """Spawn and wait for ``health_path`` to answer 200; returns the seconds it took."""
        handle = open(self.log, "ab")  # noqa: SIM115 - handed to the child, closed on stop
        began = time.perf_counter()
        self.proc = await asyncio.create_subprocess_exec(*self.command, env=self.env, cwd=self.cwd,
                                                         stdout=handle, stderr=subprocess.STDOUT)
        handle.close()
        async with httpx.AsyncClient(timeout=1.0) as client:
            while True:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"{self.command} exited {self.proc.returncode}; see {self.log}")
                try:
                    if (await client.get(self.url + health_path)).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.perf_counter() - began > timeout:
                    raise RuntimeError(f"{self.command} not healthy within {timeout}s; see {self.log}")
                await asyncio.sleep(0.005)
        self.started_in = time.perf_counter() - began
        return self.started_in

    async def stop(self) -> None:
        """SIGTERM (uvicorn shuts down gracefully), SIGKILL if it hangs."""
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout=15)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


# --------------------------------------------------------------------------------- payloads


def telegram_headers() -> dict[str, str]:
    return {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET, "Content-Type": "application/json"}


def twilio_request(path: str, form: dict[str, str], auth_token: str) -> tuple[bytes, dict[str, str]]:
    """A signed, form-encoded Twilio webhook body and its headers."""
    from urllib.parse import urlencode

    return urlencode(form).encode(), {
        "X-Twilio-Signature": sign(PUBLIC + path, form, auth_token),
        "Content-Type": "application/x-www-form-urlencoded",
    }


def whatsapp_form(phone: str, text: str) -> dict[str, str]:
    return inbound_form(message_sid=new_message_sid(), from_phone=phone, to=SANDBOX_FROM, body=text)


async def post_all(url: str, requests: Iterable[tuple[str, bytes, dict[str, str]]], *,
                   concurrency: int = 8) -> int:
    """POST every ``(path, body, headers)`` with ``concurrency`` workers; returns the failures."""
    queue: asyncio.Queue[tuple[str, bytes, dict[str, str]]] = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)
    failures = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal failures
        while not queue.empty():
            path, body, headers = queue.get_nowait()
            response = await client.post(path, content=body, headers=headers)
            failures += response.status_code != 200

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return failures


def link_telegram_requests(school: School, families: Iterable[int],
                           first_update_id: int) -> list[tuple[str, bytes, dict[str, str]]]:
    """Each family shares its own contact (``request_contact``), as parents link on Telegram."""
    return [("/webhooks/telegram",
             json.dumps(contact_update(first_update_id + i, school.telegram_user(n),
                                       school.guardians[n].lstrip("+"))).encode(),
             telegram_headers())
            for i, n in enumerate(families)]


def link_staff_requests(school: School, first_update_id: int) -> list[tuple[str, bytes, dict[str, str]]]:
    """Every staff member links a Telegram account too, so forwarded concerns are delivered."""
    return [("/webhooks/telegram",
             json.dumps(contact_update(first_update_id + i, TEACHER_USER_BASE + i, phone.lstrip("+"))).encode(),
             telegram_headers())
            for i, phone in enumerate(school.staff)]


def greet_whatsapp_requests(school: School, families: Iterable[int],
                            auth_token: str) -> list[tuple[str, bytes, dict[str, str]]]:
    """Each family writes "menu" on WhatsApp: linked by its number and inside the 24-hour window."""
    out = []
    for n in families:
        body, headers = twilio_request("/webhooks/whatsapp", whatsapp_form(school.guardians[n], "menu"),
                                       auth_token)
        out.append(("/webhooks/whatsapp", body, headers))
    return out


# ------------------------------------------------------------------------------ measurement


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of ``values``; 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max in milliseconds."""
    return {"count": len(seconds),
            "p50_ms": round(percentile(seconds, 50) * 1000, 2),
            "p90_ms": round(percentile(seconds, 90) * 1000, 2),
            "p99_ms": round(percentile(seconds, 99) * 1000, 2),
            "max_ms": round(max(seconds, default=0.0) * 1000, 2)}


def machine() -> dict[str, Any]:
    """CPU model, cores, memory and Python version, from /proc where there is one."""
    cpu = platform.processor() or platform.machine()
    memory_kb = 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(memory_kb / 1024 / 1024, 1),
            "python": platform.python_version(), "platform": platform.platform(),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def report(title: str, result: dict[str, Any], lines: Sequence[str], *, as_json: bool) -> None:
    """Print the benchmark's figures: one JSON document with ``--json``, else readable lines.
    With ``BENCH_RESULTS`` set (``make bench``), the JSON document is also appended to that file
    for ``bench.summary``."""
    if os.environ.get("BENCH_RESULTS"):
        with open(os.environ["BENCH_RESULTS"], "a", encoding="utf-8") as out:
            out.write(json.dumps({"benchmark": title, "machine": machine(), **result}, ensure_ascii=False) + "\n")
    if as_json:
        print(json.dumps({"benchmark": title, "machine": machine(), **result}, ensure_ascii=False))
        return
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"== {title} (load average {load} on {os.cpu_count()} cores)")
    for line in lines:
        print(f"   {line}")


async def loadgen(spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``bench.loadgen`` in its own process; returns its JSON report."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.loadgen", json.dumps(spec), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed: {err.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    return result
