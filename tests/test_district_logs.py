"""Structured logs in a district: each line about a message names its school, channel and bot or
sender; a recipient's number appears only masked; tokens never. Through the real adapters
against the fake Bot API and the fake Twilio, with the handler the configuration installs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.logs import make_handler
from tests.harness import HENDRA, MAYA
from tests.test_district import DUA_TOKEN, MAYA_TG, UJI_TOKEN, district, whatsapp_says


@contextmanager
def captured(fmt: str) -> Iterator[io.StringIO]:
    """What the configured handler (context, redaction, ``fmt``) writes, from every logger."""
    stream = io.StringIO()
    handler = make_handler(stream, fmt)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


RAW_NUMBERS = (HENDRA, HENDRA.lstrip("+"), "0" + HENDRA[3:], MAYA, MAYA.lstrip("+"))


async def test_a_sent_message_is_logged_with_its_school_and_no_number(
        database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with district(database_url, tmp_path) as net:
        with captured("json") as out:
            await whatsapp_says(net, HENDRA, "menu")
            await net.link("DUA", MAYA_TG, MAYA)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    sent = [entry for entry in lines if entry["message"] == "sent"]
    by_channel = {(entry["school"], entry["channel"]): entry for entry in sent}
    whatsapp = by_channel[("UJI", "whatsapp")]
    assert whatsapp["bot"] == "UJI" and whatsapp["category"] == "service"
    assert whatsapp["to"].startswith("+62813") and "*" in whatsapp["to"]
    assert by_channel[("DUA", "telegram")]["bot"] == "DUA"
    answered = [entry for entry in lines if "answered with" in entry["message"]]
    assert {entry["school"] for entry in answered} == {"UJI", "DUA"}
    text = out.getvalue()
    for secret in (*RAW_NUMBERS, UJI_TOKEN, DUA_TOKEN):
        assert secret not in text


async def test_the_text_format_carries_the_same_fields(sqlite_url: str, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with district(sqlite_url, tmp_path) as net:
        with captured("text") as out:
            await whatsapp_says(net, HENDRA, "menu")
    sent = [line for line in out.getvalue().splitlines() if ": sent " in line]
    assert sent and all("school=UJI channel=whatsapp bot=UJI to=+62813" in line for line in sent)
    assert not any(number in out.getvalue() for number in RAW_NUMBERS)


async def test_a_slow_webhook_says_where_its_time_went(database_url: str, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with district(database_url, tmp_path) as net:
        net.services.inbox.slow_seconds = 0.0  # every webhook counts as slow here
        with captured("json") as out:
            await whatsapp_says(net, HENDRA, "menu")
    slow = [entry for entry in map(json.loads, out.getvalue().splitlines()) if " took " in entry["message"]]
    assert slow and slow[0]["level"] == "WARNING" and slow[0]["school"] == "UJI"
    assert "waiting for a database connection (" in slow[0]["message"] and "in its transaction" in slow[0]["message"]
    assert not any(number in out.getvalue() for number in RAW_NUMBERS)
