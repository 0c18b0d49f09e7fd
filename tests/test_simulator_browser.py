"""The simulator page in headless Chromium against a real `jembatan serve`, as a newcomer uses it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness import until_healthy
from tests.test_cli import jembatan

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian chromium is not installed (make test installs it as root)")

YUSUF = "Yusuf Maulana"  # ayah of Bunga Maharani, VII-A, in the demo school
RINA = "Rina Marlina"  # Wali Kelas VII-A, Matematika


async def person(page, name: str) -> str:  # type: ignore[no-untyped-def]
    """The list's option for a person (an opaque id: the page holds no phone number)."""
    await page.wait_for_function(
        "name => [...document.querySelectorAll('#person option')].some(o => o.textContent.startsWith(name))",
        arg=name, timeout=15000)
    value = await page.eval_on_selector(
        "#person", "(select, name) => [...select.options].find(o => o.textContent.startsWith(name)).value", name)
    assert value.startswith(("guardian:", "staff:")), value
    return str(value)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[str]:
    """`make run` in miniature: migrate, seed the demo school, serve on a free port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_"))}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    for args in (["db", "upgrade"], ["demo", "--if-empty"]):  # in this process; serve is started below
        done = jembatan(*args, database_url=env["DATABASE_URL"], cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port)], env=env,
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        await until_healthy(base, server, lambda: server.stderr.read().decode() if server.stderr else "")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


async def test_guardian_concern_teacher_answer_in_the_browser(served: str, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = await browser.new_page(viewport={"width": 390, "height": 844})  # a phone screen
        await page.goto(served)
        chat = page.locator("#chat")

        await page.select_option("#person", await person(page, YUSUF))
        await page.fill("#text", "Bu, nilai ulangan matematika Bunga turun, mohon bimbingannya")
        await page.click("#send")
        await expect(chat).to_contain_text("Guru Matematika, Bapak/Ibu Rina Marlina", timeout=15000)

        await page.select_option("#person", await person(page, RINA))
        forwarded = chat.locator(".msg.bot", has_text="nilai ulangan matematika Bunga turun")
        await expect(forwarded).to_have_count(1, timeout=15000)
        await expect(forwarded).to_contain_text("Yusuf Maulana (Ayah dari Bunga Maharani, VII-A)")
        await forwarded.locator("button.reply").click()
        await page.fill("#text", "Baik Pak, Bunga ikut remedial hari Kamis.")
        await page.click("#send")
        await expect(chat).to_contain_text("Terkirim kepada Yusuf Maulana", timeout=15000)

        await page.select_option("#person", await person(page, YUSUF))
        await expect(chat).to_contain_text("Bunga ikut remedial hari Kamis", timeout=15000)
        await page.screenshot(path=str(tmp_path / "simulator.png"), full_page=True)
        await browser.close()
