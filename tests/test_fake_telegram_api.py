"""The fake Bot API speaks python-telegram-bot's wire format: PTB's own client talks to it."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyParameters,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import Application, CommandHandler, ContextTypes
from telegram.warnings import PTBDeprecationWarning

from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_updates import (
    callback_update,
    contact_update,
    photo_update,
    start_update,
    sticker_update,
    text_update,
)

USER = 6_281_200_001


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    async with Bot(api.token, base_url=api.base_url) as telegram_bot:  # initialize() → getMe
        yield telegram_bot


def _inline(data: str = "hadir") -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton("Hadir", callback_data=data)]])


async def test_get_me(api: FakeBotAPI, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (123456, True, "jembatan_test_bot")
    assert bot.username == "jembatan_test_bot"
    assert api.calls[0][0] == "getMe"


async def test_send_message_with_inline_keyboard_is_recorded_decoded(
    api: FakeBotAPI, bot: Bot
) -> None:
    message = await bot.send_message(USER, "Rapat orang tua Sabtu ini", reply_markup=_inline())
    second = await bot.send_message(USER, "Terima kasih")

    assert (message.message_id, second.message_id) == (1, 2)
    assert message.chat.id == USER and message.chat.type == "private"
    assert message.from_user is not None and message.from_user.is_bot
    assert message.reply_markup == _inline()  # PTB parsed our echoed inline keyboard
    record = api.sent[0]
    assert record["chat_id"] == USER and isinstance(record["chat_id"], int)
    assert record["message_id"] == 1
    assert record["text"] == "Rapat orang tua Sabtu ini"
    assert record["reply_markup"] == {
        "inline_keyboard": [[{"text": "Hadir", "callback_data": "hadir"}]]
    }
    texts = [m["text"] for m in api.messages_to(USER)]
    assert texts == ["Rapat orang tua Sabtu ini", "Terima kasih"]
    assert api.messages_to(USER + 1) == []


async def test_send_message_with_contact_keyboard(api: FakeBotAPI, bot: Bot) -> None:
    keyboard = ReplyKeyboardMarkup(
        [[KeyboardButton("Kirim nomor HP", request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )
    message = await bot.send_message(USER, "Silakan kirim nomor Anda", reply_markup=keyboard)

    assert message.reply_markup is None  # Telegram never echoes reply keyboards
    assert api.sent[0]["reply_markup"] == {
        "keyboard": [[{"text": "Kirim nomor HP", "request_contact": True}]],
        "resize_keyboard": True,
        "one_time_keyboard": True,
    }


async def test_reply_parameters_become_reply_to_message(api: FakeBotAPI, bot: Bot) -> None:
    api.push_update(text_update(1, USER, "Anak saya sakit", message_id=41))
    reply = await bot.send_message(
        USER, "Semoga lekas sembuh", reply_parameters=ReplyParameters(41)
    )

    assert reply.reply_to_message is not None
    assert reply.reply_to_message.text == "Anak saya sakit"
    assert reply.message_id == 42  # one id sequence per chat, shared with the user's messages
    assert api.sent[0]["reply_parameters"] == {"message_id": 41}


async def test_text_validation(api: FakeBotAPI, bot: Bot) -> None:
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(USER, "a" * 4097)
    with pytest.raises(BadRequest, match="(?i)message text is empty"):
        await bot.send_message(USER, "   ")
    with pytest.raises(BadRequest, match="(?i)unsupported start tag"):
        await bot.send_message(USER, "baris<br>baris", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match="(?i)reserved"):
        await bot.send_message(USER, "Pukul 08.00", parse_mode=ParseMode.MARKDOWN_V2)
    with pytest.raises(BadRequest, match="(?i)button_data_invalid"):
        await bot.send_message(USER, "x", reply_markup=_inline("x" * 65))
    ok = await bot.send_message(USER, "<b>Ani</b> &lt;VII-A&gt;", parse_mode=ParseMode.HTML)
    assert ok.text == "Ani <VII-A>"  # Telegram returns the text after entity parsing
    assert await bot.send_message(USER, "a" * 4096)
    assert len(api.sent) == 2  # failed sends are calls, not messages


async def test_retry_after(api: FakeBotAPI, bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    # Without PTB_TIMEDELTA, RetryAfter() itself emits a PTBDeprecationWarning (see TECH-NOTES).
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    api.fail_next("sendMessage", retry_after=7)

    with warnings.catch_warnings():
        warnings.simplefilter("error", PTBDeprecationWarning)
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(USER, "Halo")
        assert caught.value.retry_after == timedelta(seconds=7)
    assert "Retry in" in str(caught.value)

    await bot.send_message(USER, "Halo")  # only the next call failed
    assert [m["text"] for m in api.sent] == ["Halo"]
    assert [name for name, _ in api.calls].count("sendMessage") == 2


async def test_forbidden_and_other_errors(api: FakeBotAPI, bot: Bot) -> None:
    api.fail_next("sendMessage", status=403)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(USER, "Halo")

    api.fail_next("sendMessage", status=500, times=2)
    for _ in range(2):
        with pytest.raises(NetworkError):
            await bot.send_message(USER, "Halo")
    assert (await bot.send_message(USER, "Halo")).message_id == 1


async def test_wrong_token_and_unknown_method(api: FakeBotAPI, bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendCarrierPigeon", api_kwargs={"chat_id": USER})
    wrong = Bot("999:WRONG", base_url=api.base_url)
    try:
        with pytest.raises(InvalidToken, match="rejected"):
            await wrong.initialize()  # getMe → 401
    finally:
        await wrong.shutdown()


async def test_json_and_get_requests(api: FakeBotAPI) -> None:
    url = f"{api.base_url}{api.token}"
    async with httpx.AsyncClient() as client:
        markup = {"inline_keyboard": [[{"text": "Ya", "callback_data": "ya"}]]}
        sent = await client.post(
            f"{url}/sendMessage", json={"chat_id": USER, "text": "json", "reply_markup": markup}
        )
        got = await client.get(f"{url}/getMe")
        unauthorized = await client.get(f"{api.base_url}1:x/getMe")
        missing = await client.post(f"{url}/noSuchMethod")
    assert sent.json()["ok"] and sent.json()["result"]["reply_markup"] == markup
    assert api.sent[0]["reply_markup"] == markup
    assert got.json()["result"]["username"] == "jembatan_test_bot"
    assert unauthorized.status_code == 401
    assert unauthorized.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert missing.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_get_updates_parses_pushed_updates(api: FakeBotAPI, bot: Bot) -> None:
    menu = await bot.send_message(USER, "Pilih:", reply_markup=_inline("absen"))
    record = api.sent[0]
    api.push_update(text_update(10, USER, "halo", reply_to=record))
    api.push_update(contact_update(11, USER, "6281200000001"))
    api.push_update(callback_update(12, USER, "absen", message=record))
    api.push_update(start_update(13, USER, "undangan-42"))
    api.push_update(sticker_update(14, USER))
    api.push_update(photo_update(15, USER, caption="surat izin"))

    updates = await bot.get_updates(offset=0, timeout=1)
    assert [u.update_id for u in updates] == [10, 11, 12, 13, 14, 15]
    assert all(isinstance(u, Update) for u in updates)
    text, contact, callback, start, sticker, photo = updates

    assert text.message is not None and text.message.text == "halo"
    assert text.effective_chat is not None and text.effective_chat.id == USER
    replied = text.message.reply_to_message
    assert replied is not None and replied.from_user is not None and replied.from_user.is_bot
    assert replied.message_id == menu.message_id
    assert contact.message is not None and contact.message.contact is not None
    assert contact.message.contact.phone_number == "6281200000001"
    assert contact.message.contact.user_id == USER
    query = callback.callback_query
    assert query is not None and query.data == "absen" and query.from_user.id == USER
    assert query.message is not None and query.message.message_id == menu.message_id
    assert start.message is not None and start.message.text == "/start undangan-42"
    assert start.message.entities[0].type == "bot_command"
    assert start.message.entities[0].length == len("/start")
    assert sticker.message is not None and sticker.message.sticker is not None
    assert photo.message is not None and photo.message.caption == "surat izin"
    assert photo.message.photo[-1].width == 1280

    # The offset confirms everything before it, as on Telegram.
    assert await bot.get_updates(offset=16, timeout=0) == ()
    assert api.pending_updates == []


async def test_limit_and_other_contact(api: FakeBotAPI, bot: Bot) -> None:
    for update_id in (1, 2, 3):
        api.push_update(text_update(update_id, USER, f"pesan {update_id}"))
    first = await bot.get_updates(offset=0, limit=2, timeout=0)
    assert [u.update_id for u in first] == [1, 2]
    rest = await bot.get_updates(offset=3, timeout=0)
    assert [u.update_id for u in rest] == [3]

    api.push_update(contact_update(4, USER, "+6281300000002", contact_user_id=999))
    (update,) = await bot.get_updates(offset=4, timeout=0)
    assert update.message is not None and update.message.contact is not None
    assert update.message.contact.user_id == 999


async def test_long_poll_times_out_empty(api: FakeBotAPI, bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert 0.9 <= time.monotonic() - started < 3


async def test_long_poll_wakes_on_push(api: FakeBotAPI, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(offset=0, timeout=5))
    await api.wait_for_call("getUpdates")  # the poll is now pending on the server
    started = time.monotonic()
    api.push_update(text_update(1, USER, "bangun"))
    (update,) = await poll
    assert time.monotonic() - started < 2
    assert update.message is not None and update.message.text == "bangun"


async def test_get_updates_conflicts_with_webhook(api: FakeBotAPI, bot: Bot) -> None:
    assert await bot.set_webhook("https://jembatan.example/telegram", secret_token="s3cret")
    info = await bot.get_webhook_info()
    assert info.url == "https://jembatan.example/telegram"
    with pytest.raises(Conflict):
        await bot.get_updates(timeout=0)
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert (await bot.get_webhook_info()).url == ""
    assert await bot.get_updates(timeout=0) == ()


async def test_callback_answer_and_edits(api: FakeBotAPI, bot: Bot) -> None:
    menu = await bot.send_message(USER, "Hadir?", reply_markup=_inline())
    update = Update.de_json(callback_update(1, USER, "hadir", message=api.sent[0]), bot)
    assert update.callback_query is not None
    assert await update.callback_query.answer("Tercatat")
    assert api.calls_of("answerCallbackQuery")[0]["text"] == "Tercatat"

    edited = await bot.edit_message_text("Hadir ✔", chat_id=USER, message_id=menu.message_id)
    assert not isinstance(edited, bool)
    assert edited.text == "Hadir ✔" and edited.reply_markup is None  # keyboard removed
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await bot.edit_message_text("Hadir ✔", chat_id=USER, message_id=menu.message_id)
    await bot.edit_message_reply_markup(USER, menu.message_id, reply_markup=_inline("batal"))
    current = api.message(USER, menu.message_id)
    assert current is not None
    assert current["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "batal"


async def test_set_my_commands(api: FakeBotAPI, bot: Bot) -> None:
    assert await bot.set_my_commands([("start", "Mulai"), ("bantuan", "Bantuan")])
    commands = await bot.get_my_commands()
    assert [c.command for c in commands] == ["start", "bantuan"]


async def test_wait_for(api: FakeBotAPI, bot: Bot) -> None:
    async def send_later() -> None:
        await asyncio.sleep(0)
        await bot.send_message(USER, "satu")
        await bot.send_message(USER, "dua")

    task = asyncio.create_task(send_later())
    sent = await api.wait_for(lambda s: any(m["text"] == "dua" for m in s))
    assert [m["text"] for m in sent] == ["satu", "dua"]
    await task
    assert len(await api.wait_for(count=2)) == 2

    with pytest.raises(AssertionError, match="satu"):  # the report lists what was sent
        await api.wait_for(count=3, timeout=0.05)


async def test_polling_application_end_to_end(api: FakeBotAPI) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text(f"Selamat datang! ({' '.join(context.args or [])})")

    app = Application.builder().token(api.token).base_url(api.base_url).build()
    app.add_handler(CommandHandler("start", start))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        api.push_update(start_update(1, USER, "kode-7"))
        (reply,) = await api.wait_for(count=1)
        await app.updater.stop()
        await app.stop()
    assert reply["text"] == "Selamat datang! (kode-7)"
    assert reply["chat_id"] == USER
    assert api.pending_updates == []  # PTB confirmed the update on shutdown
