"""Bad input, tried by machine: Telegram updates, Twilio forms and simulator bodies from Hypothesis,
posted through the real app to its webhooks, and every chat flow fed hostile text and buttons.

Valid-shaped input is answered (200); malformed input is refused (400); bodies over 1 MiB get 413;
unsigned Twilio forms 403. Never a 5xx, never an ERROR logged by our code, and the database
keeps its invariants (``tests/hostile.py``). The app starts once per test; examples share it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from functools import reduce
from operator import getitem
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlmodel import select

from handlers.meetings import invite_meeting
from handlers.router import CALLBACKS, COMMANDS
from storage.meetings import create_meeting
from storage.models import InboxMessage, OutboxMessage
from tests.fakes.telegram_updates import contact_update
from tests.fakes.twilio_forms import inbound_form, new_message_sid, sign, status_form
from tests.harness import (
    AHMAD,
    BUDI,
    DEWI,
    HENDRA,
    JOKO,
    MAYA,
    RAHMAT,
    RINA,
    SRI,
    YULIA,
    School,
    running_school,
)
from tests.hostile import (
    LoopHost,
    OurErrors,
    consistency_problems,
    fuzz_settings,
    hostile_text,
    leaked_phones,
)
from tests.phones import PUBLIC, TG_SECRET, Network, network

ROSTER = [SRI, BUDI, RINA, AHMAD, DEWI, JOKO, HENDRA, MAYA, YULIA, RAHMAT]
GUARDIANS = [HENDRA, MAYA, YULIA, RAHMAT]
STAFF = [SRI, BUDI, RINA, AHMAD, DEWI, JOKO]
TG_USERS = {8101: MAYA, 8102: SRI, 8103: HENDRA, 8104: RINA}  # linked before the fuzzing starts
MIB = 1024 * 1024
MEETINGS = Path(__file__).parent / "data" / "meetings"


@pytest.fixture
def host() -> Iterator[LoopHost]:
    loop = LoopHost()
    yield loop
    loop.close()


# ---------------------------------------------------------------- strategies: Telegram


junk = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**80, max_value=2**80) | st.floats()
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8)
names = st.text(min_size=1, max_size=40) | st.sampled_from(["Budi", "<b>Maya</b>", "{{ 7*7 }}", "🙂"])
user_ids = st.sampled_from(list(TG_USERS)) | st.integers(min_value=1, max_value=2**40) \
    | st.integers(min_value=-2**70, max_value=2**70)
callback_data = st.one_of(
    st.builds(lambda prefix, rest: f"{prefix}:{rest}", st.sampled_from([*CALLBACKS, "cmd", "zz", ""]),
              st.text(max_size=30) | st.integers(-5, 10**12).map(str)
              | st.lists(st.integers(-1, 99).map(str), max_size=4).map(":".join)),
    st.text(max_size=64), st.sampled_from([f"cmd:{word}" for word in COMMANDS]))


def _user(uid: int, name: str, last: str | None) -> dict[str, Any]:
    user: dict[str, Any] = {"id": uid, "is_bot": False, "first_name": name, "language_code": "id"}
    if last is not None:
        user["last_name"] = last
    return user


@st.composite
def telegram_updates(draw: st.DrawFn) -> dict[str, Any]:
    """Updates shaped as Telegram sends them: every kind we read, and some we do not."""
    uid, name = draw(user_ids), draw(names)
    user = _user(uid, name, draw(st.none() | names))
    chat_type = draw(st.sampled_from(["private"] * 6 + ["group", "supergroup", "channel"]))
    message: dict[str, Any] = {"message_id": draw(st.integers(1, 2**31)), "from": user,
                               "chat": {"id": uid, "type": chat_type, "first_name": name},
                               "date": draw(st.integers(0, 2**32))}
    kind = draw(st.sampled_from(["text", "text", "reply", "edited", "callback", "contact", "sticker", "photo",
                                 "voice", "location", "channel_post", "poll"]))
    bot = {"id": 42, "is_bot": True, "first_name": "Jembatan", "username": "JembatanBot"}
    if kind in ("text", "edited", "reply", "channel_post"):
        message["text"] = draw(hostile_text(10_000))
    if kind == "reply":
        message["reply_to_message"] = {"message_id": draw(st.integers(1, 10_000)), "from": bot,
                                       "chat": message["chat"], "date": 0, "text": draw(st.text(max_size=30))}
    if kind == "contact":
        owner = draw(st.sampled_from([uid, None, uid + 1]))
        contact = {"phone_number": draw(st.sampled_from([p.lstrip("+") for p in ROSTER]) | st.text(max_size=20)),
                   "first_name": name}
        if owner is not None:
            contact["user_id"] = owner
        message["contact"] = contact
    if kind == "sticker":
        message["sticker"] = {"file_id": "s", "file_unique_id": "u", "type": "regular", "width": 512,
                              "height": 512, "is_animated": False, "is_video": False, "emoji": "👍"}
    if kind == "photo":
        message["photo"] = [{"file_id": "p", "file_unique_id": "q", "width": 90, "height": 90}]
        if draw(st.booleans()):
            message["caption"] = draw(hostile_text(1024))
    if kind == "voice":
        message["voice"] = {"file_id": "v", "file_unique_id": "w", "duration": 3}
    if kind == "location":
        message["location"] = {"latitude": -6.2, "longitude": 106.8}
    update: dict[str, Any] = {"update_id": draw(st.integers(1, 2**40))}
    if kind == "callback":
        update["callback_query"] = {"id": str(draw(st.integers(1, 2**62))), "from": user,
                                    "chat_instance": "-1", "data": draw(callback_data),
                                    "message": {"message_id": draw(st.integers(1, 10_000)), "from": bot,
                                                "chat": message["chat"], "date": 0, "text": "?"}}
    elif kind == "edited":
        update["edited_message"] = message
    elif kind == "channel_post":
        update["channel_post"] = {**message, "chat": {"id": -100, "type": "channel", "title": "x"}}
    elif kind == "poll":
        update["poll"] = {"id": "1", "question": draw(st.text(max_size=20)), "options": [],
                          "total_voter_count": 0, "is_closed": False, "is_anonymous": True,
                          "type": "regular", "allows_multiple_answers": False}
    else:
        update["message"] = message
    return update


def _paths(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [here]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*here, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*here, index))
    return found


@st.composite
def mangled(draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """A valid-shaped update with fields dropped, replaced by junk of the wrong type, or added."""
    update = copy.deepcopy(draw(base))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from([p for p in _paths(update) if p]))
        parent = reduce(getitem, path[:-1], update)
        operation = draw(st.sampled_from(["drop", "junk", "add"]))
        if operation == "drop":
            del parent[path[-1]]
        elif operation == "add" and isinstance(parent[path[-1]], dict):
            parent[path[-1]][draw(st.text(max_size=8))] = draw(junk)
        else:
            parent[path[-1]] = draw(junk)
    return update


# ---------------------------------------------------------------- strategies: Twilio


def _e164(digits: str) -> str:
    return "+628" + digits


phones = st.sampled_from(ROSTER) | st.text("0123456789", min_size=8, max_size=11).map(_e164) \
    | st.text(max_size=20)
sids = st.builds(lambda: new_message_sid()) | st.text(min_size=1, max_size=40)
media_types = st.sampled_from(["image/jpeg", "image/png", "application/pdf", "audio/ogg", "video/mp4",
                               "text/vcard", "", "image/jpeg; charset=x"])


@st.composite
def twilio_inbound(draw: st.DrawFn) -> dict[str, str]:
    """Inbound WhatsApp forms as Twilio posts them, with odd values and extra or missing keys."""
    media = draw(st.lists(st.tuples(st.sampled_from(["https://api.twilio.com/media/ME1", ""])
                                    | st.text(max_size=30), media_types), max_size=3))
    button = draw(st.none() | callback_data)
    form = inbound_form(message_sid=draw(sids), from_phone=draw(phones), body=draw(hostile_text(1600)),
                        profile_name=draw(names), num_media=draw(st.integers(0, 12)), media=media,
                        replied_to_sid=draw(st.none() | sids), button_payload=button,
                        button_text=draw(st.none() | st.text(max_size=20)) if button else None)
    if draw(st.booleans()):
        form["NumMedia"] = draw(st.text(max_size=5) | st.integers(-3, 10**30).map(str))
    for key in draw(st.lists(st.sampled_from(sorted(form)), max_size=2)):
        form.pop(key, None)
    form.update(draw(st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=30), max_size=3)))
    return form


# ---------------------------------------------------------------- helpers


@asynccontextmanager
async def _linked_network(database_url: str) -> AsyncIterator[Network]:
    async with network(database_url) as net:
        for uid, phone in TG_USERS.items():
            response = await net.client.post("/webhooks/telegram", json=contact_update(uid, uid, phone.lstrip("+")),
                                              headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
            assert response.status_code == 200
        for phone in (MAYA, SRI, RINA):  # WhatsApp: the sender's number vouches for them
            form = inbound_form(message_sid=new_message_sid(), from_phone=phone, body="menu")
            assert (await net.post_twilio("/webhooks/whatsapp", form)).status_code == 200
        await net.deliver()
        yield net


async def _post_json_bytes(net: Network, body: bytes) -> httpx.Response:
    return await net.client.post("/webhooks/telegram", content=body, headers={
        "X-Telegram-Bot-Api-Secret-Token": TG_SECRET, "content-type": "application/json"})


async def _after(net: Network) -> None:
    """Deliver what was written; then time moves on, so no one floods."""
    await net.deliver()
    net.clock.advance(seconds=7)


def _no_leak_and_consistent(host: LoopHost, sessions: Any) -> None:
    assert host.run(consistency_problems(sessions)) == []

    async def texts() -> list[tuple[str | None, str]]:
        async with sessions() as session:
            return [(m.chat_id, m.text) for m in (await session.exec(select(OutboxMessage))).all()]

    for _, text in host.run(texts()):
        assert not leaked_phones(text, ROSTER), text


# ---------------------------------------------------------------- Telegram webhook


_SHAPE = {"message_id": 1, "date": 0, "chat": {"id": 8101, "type": "private"},
          "from": {"id": 8101, "is_bot": False, "first_name": "Maya"}}


def test_telegram_updates_valid_shaped_are_answered_mangled_refused(sqlite_url: str, host: LoopHost) -> None:
    net = host.enter(_linked_network(sqlite_url))
    counts = {200: 0, 400: 0}

    @fuzz_settings(150)
    @example(case=(True, {"update_id": 11, "message": "junk"}), ascii_only=True)
    @example(case=(True, {"update_id": 12, "message": {**_SHAPE, "text": 5}}), ascii_only=True)
    @example(case=(True, {"update_id": 13, "message": {**_SHAPE, "date": 2**70, "text": "x"}}), ascii_only=True)
    @example(case=(True, {"update_id": 14, "callback_query": {"id": "x"}}), ascii_only=True)
    @given(case=st.tuples(st.just(False), telegram_updates()) | st.tuples(st.just(True), mangled(telegram_updates())),
           ascii_only=st.booleans())
    def check(case: tuple[bool, dict[str, Any]], ascii_only: bool) -> None:
        is_mangled, update = case
        body = json.dumps(update, ensure_ascii=ascii_only).encode()

        async def post() -> httpx.Response:
            response = await _post_json_bytes(net, body)
            await _after(net)
            return response

        response = host.run(post())
        assert response.status_code in (200, 400), response.text
        counts[response.status_code] += 1
        if not is_mangled:
            assert response.status_code == 200, (response.text, update)
        update_id = update.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            assert response.status_code == 400

    with OurErrors() as errors:
        check()
    errors.check()
    assert counts[200] > 50 and counts[400] > 20, counts  # both kinds were really tried
    _no_leak_and_consistent(host, net.services.sessions)


def test_telegram_bodies_that_are_not_updates_are_400(sqlite_url: str, host: LoopHost) -> None:
    net = host.enter(_linked_network(sqlite_url))
    fixed = [b"", b"{", b"null", b"[]", b"42", b'"update"', b"\xff\xfe{}", b'{"update_id": NaN}',
             b'{"update_id": 1e400}', b'{"update_id": "7"}', b'{"update_id": true}', b'{"update_id": 1.5}',
             b'{"update_id": ' + b"9" * 5000 + b"}", b"[" * 100_000 + b"]" * 100_000,
             b'{"update_id": 7, "message": {"text": "\\ud800"}}', b'{"update_id": Infinity}']

    @fuzz_settings(120)
    @given(body=st.sampled_from(fixed) | st.binary(max_size=200)
           | st.builds(lambda value: json.dumps(value).encode(), junk))
    def check(body: bytes) -> None:
        response = host.run(_post_json_bytes(net, body))
        assert response.status_code == 400 or (response.status_code == 200 and body.lstrip().startswith(b"{")), \
            (response.status_code, body[:200])

    with OurErrors() as errors:
        check()
    errors.check()

    async def stored() -> int:
        async with net.services.sessions() as session:
            return len((await session.exec(select(InboxMessage).where(InboxMessage.channel == "telegram"))).all())

    assert host.run(stored()) == len(TG_USERS), "nothing malformed was stored"


# ---------------------------------------------------------------- Twilio webhooks


def test_twilio_inbound_forms_signed_reach_the_handler(sqlite_url: str, host: LoopHost) -> None:
    net = host.enter(_linked_network(sqlite_url))
    counts = {200: 0, 400: 0}

    @fuzz_settings(100)
    @example(form={**inbound_form(message_sid="SM" + "1" * 32, from_phone=MAYA, body="Ani dibully"), "NumMedia": "²"},
             path="/webhooks/whatsapp")
    @given(form=twilio_inbound(), path=st.sampled_from(["/webhooks/whatsapp", "/webhooks/sms"]))
    def check(form: dict[str, str], path: str) -> None:
        async def post() -> httpx.Response:
            response = await net.post_twilio(path, form)
            await _after(net)
            return response

        response = host.run(post())
        malformed = not form.get("MessageSid") or not form.get("From") \
            or any("\x00" in part for pair in form.items() for part in pair)
        assert response.status_code == (400 if malformed else 200), (response.text, form)
        counts[response.status_code] += 1
        if response.status_code == 200:
            assert response.text.endswith("<Response/>")

    with OurErrors() as errors:
        check()
    errors.check()
    assert counts[200] > 50, counts
    _no_leak_and_consistent(host, net.services.sessions)


def test_twilio_status_callbacks_signed_never_fail(sqlite_url: str, host: LoopHost) -> None:
    net = host.enter(_linked_network(sqlite_url))
    sent = [m["sid"] for m in net.twilio.sent]
    assert sent, "the set-up sent WhatsApp messages whose statuses we can report"
    statuses = st.sampled_from(["queued", "sent", "delivered", "read", "failed", "undelivered", "READ",
                                "accepted", "receiving"]) | st.text(max_size=12)
    codes = st.none() | st.sampled_from(["63016", "21610", "63003", "30008"]) | st.text(max_size=8)

    @fuzz_settings(100)
    @given(sid=st.sampled_from(sent) | sids, status=statuses, code=codes,
           extra=st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=20), max_size=2))
    def check(sid: str, status: str, code: str | None, extra: dict[str, str]) -> None:
        form = {**status_form(message_sid=sid, status=status, error_code=code, to=f"whatsapp:{MAYA}"), **extra}

        async def post() -> httpx.Response:
            response = await net.post_twilio("/webhooks/whatsapp/status", form)
            await _after(net)
            return response

        response = host.run(post())
        malformed = not form.get("MessageSid") or not form.get("MessageStatus") \
            or any("\x00" in part for pair in form.items() for part in pair)
        assert response.status_code == (400 if malformed else 200), (response.text, form)

    with OurErrors() as errors:
        check()
    errors.check()
    _no_leak_and_consistent(host, net.services.sessions)


def test_twilio_forms_unsigned_or_forged_are_403_and_change_nothing(sqlite_url: str, host: LoopHost) -> None:
    net = host.enter(_linked_network(sqlite_url))

    async def counts() -> tuple[int, int]:
        async with net.services.sessions() as session:
            return (len((await session.exec(select(InboxMessage))).all()),
                    len((await session.exec(select(OutboxMessage))).all()))

    before = host.run(counts())

    @fuzz_settings(100)
    @given(form=twilio_inbound().filter(lambda f: f.get("MessageSid") and f.get("From")),
           path=st.sampled_from(["/webhooks/whatsapp", "/webhooks/sms", "/webhooks/whatsapp/status"]),
           how=st.sampled_from(["none", "garbage", "other_url", "other_token", "tampered"]))
    def check(form: dict[str, str], path: str, how: str) -> None:
        form = {k: v for k, v in form.items() if "\x00" not in k + v}
        form.setdefault("MessageStatus", "delivered")
        signature = {"none": "", "garbage": "bm90IGEgc2lnbmF0dXJl",
                     "other_url": sign(f"http://internal:8000{path}", form, net.twilio.auth_token),
                     "other_token": sign(f"{PUBLIC}{path}", form, "0" * 32),
                     "tampered": sign(f"{PUBLIC}{path}", {**form, "Body": "lain"}, net.twilio.auth_token)}[how]
        if how == "tampered" and form.get("Body") == "lain":
            return
        response = host.run(net.client.post(path, data=form, headers={"X-Twilio-Signature": signature}))
        assert response.status_code == 403, (how, response.text)

    with OurErrors() as errors:
        check()
    errors.check()
    assert host.run(counts()) == before


def test_twilio_bodies_that_are_not_forms_are_400(sqlite_url: str, host: LoopHost) -> None:
    net = host.enter(_linked_network(sqlite_url))

    @fuzz_settings(100)
    @given(body=st.binary(max_size=200) | st.sampled_from([b"\xff\xfe", b"a", b"a=1&&b", b"=", b"%zz=1", b"a=%ff"]),
           path=st.sampled_from(["/webhooks/whatsapp", "/webhooks/sms", "/webhooks/whatsapp/status"]))
    def check(body: bytes, path: str) -> None:
        response = host.run(net.client.post(path, content=body, headers={
            "content-type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"}))
        assert response.status_code in (400, 403), (response.status_code, body)

    with OurErrors() as errors:
        check()
    errors.check()


# ---------------------------------------------------------------- size limits


@pytest.mark.parametrize("path", ["/webhooks/telegram", "/webhooks/whatsapp", "/webhooks/sms",
                                  "/webhooks/whatsapp/status"])
async def test_bodies_over_one_mib_are_413_with_or_without_a_length(sqlite_url: str, path: str) -> None:
    async with network(sqlite_url) as net:
        headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
        if path == "/webhooks/telegram":
            huge = json.dumps({"update_id": 1, "message": {"text": "x" * MIB}}).encode()
        else:
            huge = urlencode({"MessageSid": "SM1", "From": f"whatsapp:{MAYA}", "Body": "x" * MIB}).encode()
            headers["content-type"] = "application/x-www-form-urlencoded"
            headers["X-Twilio-Signature"] = "unchecked: the size is refused first"
        assert (await net.client.post(path, content=huge, headers=headers)).status_code == 413

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the stream is counted
            for start in range(0, len(huge), 64 * 1024):
                yield huge[start:start + 64 * 1024]

        assert (await net.client.post(path, content=chunks(), headers=headers)).status_code == 413
        lying = {**headers, "content-length": "10"}
        response = await net.client.post(path, content=chunks(), headers=lying)
        assert response.status_code in (400, 413)
        exactly = b"x" * MIB  # exactly 1 MiB is allowed through to the parser: malformed, not too large
        assert (await net.client.post(path, content=exactly, headers=headers)).status_code in (400, 403)
        assert net.telegram.sent == [] and net.twilio.sent == []


async def test_simulator_body_over_one_mib_is_413(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        huge = json.dumps({"phone": MAYA, "text": "x" * MIB}).encode()
        response = await school.client.post("/simulator/api/send", content=huge,
                                            headers={"content-type": "application/json"})
        assert response.status_code == 413


# ---------------------------------------------------------------- the simulator API


def test_simulator_api_bodies_never_fail(sqlite_url: str, host: LoopHost) -> None:
    school = host.enter(running_school(sqlite_url))

    @fuzz_settings(100)
    @given(body=st.dictionaries(st.sampled_from(["phone", "text", "callback", "label", "reply_to", "name"]),
                                junk | hostile_text(5000) | st.sampled_from(ROSTER), max_size=5))
    def check(body: dict[str, Any]) -> None:
        async def post() -> httpx.Response:
            response = await school.client.post("/simulator/api/send", content=json.dumps(body).encode(),
                                                headers={"content-type": "application/json"})
            await school.deliver()
            school.clock.advance(seconds=7)
            return response

        response = host.run(post())
        assert response.status_code in (200, 400), response.text
        if isinstance(body.get("phone"), str) and body["phone"] in ROSTER and response.status_code == 200:
            listing = host.run(school.client.get("/simulator/api/messages", params={"phone": body["phone"]}))
            assert listing.status_code == 200

    with OurErrors() as errors:
        check()
    errors.check()
    assert host.run(consistency_problems(school.services.sessions)) == []


# ---------------------------------------------------------------- every chat flow, fuzzed


_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"  # 1,296 different two-letter words: 3,888 characters
ENTRIES = ["panggil", "panggil 0071000002", "panggil wijaya", "undang", "undang class:VII-A", "siaran",
           "broadcast", "jadwal", "kesepakatan", "hadir", "hadir 0071000001", "kasus", "selesai", "selesai 1",
           "rapat", "rapat 1", "laporan", "laporan 1", "bahasa", "menu", "/start", "/start XYZ123", "bk",
           "berhenti", "mulai", "sms", "whatsapp", "ringkasan", "dasbor", "batal", "Ani dibully temannya",
           "Nilai matematika Bima turun", "Mohon izin Citra sakit", "uang komite berapa?"]


PLAUSIBLE = ["Bima", "Ani", "0071000002", "wijaya", "1", "2", "3", "ya", "kirim", "ubah", "batal", "14/12 13.00",
             "besok jam 10", "Ruang BK", "Aula", "-", "class:VII-A", "kelas 7", "rapat komite", "Rapat Komite",
             "Sabtu pagi, malam hari kerja setelah jam 7", "Minggu siang", "Kami sepakat Bima datang tepat waktu.",
             "21/12", "Membawa rapor", "Besok sekolah pulang lebih awal pukul 11.00."]


@st.composite
def chat_steps(draw: st.DrawFn) -> list[tuple[str, str, Any]]:
    """A few turns of one person: a flow's entry, then sensible and hostile text, the buttons of the
    last question, anyone's old buttons, invented ones, and replies to any message."""
    who = draw(st.sampled_from(ROSTER))
    steps: list[tuple[str, str, Any]] = [(who, "say", draw(st.sampled_from(ENTRIES)))]
    for _ in range(draw(st.integers(0, 5))):
        action = draw(st.sampled_from(["say", "plausible", "plausible", "press_last", "press_last", "press_last",
                                       "press_any", "press_invented", "reply", "later", "other_person"]))
        if action == "other_person":
            who = draw(st.sampled_from(ROSTER))
            steps.append((who, "say", draw(st.sampled_from(ENTRIES))))
        elif action == "say":
            steps.append((who, "say", draw(hostile_text(4096))))
        elif action == "plausible":
            steps.append((who, "say", draw(st.sampled_from(PLAUSIBLE))))
        elif action == "press_invented":
            steps.append((who, "press", draw(callback_data)))
        elif action == "later":
            steps.append((who, "later", draw(st.sampled_from([1, 3, 25, 24 * 8]))))
        else:
            steps.append((who, action, draw(st.integers(0, 10_000))))
    return steps


async def _buttons(school: School, phone: str | None, *, last_only: bool = False) -> list[str]:
    async with school.services.sessions() as session:
        query = select(OutboxMessage).where(OutboxMessage.channel == "simulator").order_by(OutboxMessage.id)
        if phone is not None:
            query = query.where(OutboxMessage.chat_id == phone)
        rows = [row for row in (await session.exec(query)).all() if row.buttons]
    if last_only:
        rows = rows[-1:]
    return [b["data"] for row in rows for line in row.buttons for b in line if b.get("data")]


async def _outbox_ids(school: School) -> list[int]:
    async with school.services.sessions() as session:
        return list((await session.exec(select(OutboxMessage.id).order_by(OutboxMessage.id))).all())  # type: ignore[arg-type]


async def _answers_since(school: School, phone: str, after: int) -> int:
    async with school.services.sessions() as session:
        return len((await session.exec(select(OutboxMessage.id).where(
            OutboxMessage.chat_id == phone, OutboxMessage.id > after))).all())  # type: ignore[operator]


async def _play(school: School, who: str, action: str, value: Any) -> int | None:
    """One step; how many messages the bot wrote to ``who`` in answer (None for a pause)."""
    if action == "later":
        school.clock.advance(hours=value)
        return None
    body: dict[str, Any] = {"phone": who}
    ids = await _outbox_ids(school)
    if action == "say":
        body["text"] = value
    elif action in ("press_last", "press_any"):
        pool = await _buttons(school, who if action == "press_last" else None, last_only=action == "press_last")
        body["callback"] = pool[value % len(pool)] if pool else "zz:nothing"
    elif action == "press":
        body["callback"] = value
    else:  # reply to some message, someone else's or one's own
        body["reply_to"] = str(ids[value % len(ids)]) if ids else "1"
        body["text"] = "Baik, terima kasih. <b>{{ 7*7 }}</b>"
    response = await school.client.post("/simulator/api/send", json=body)
    assert response.status_code == 200, response.text
    school.clock.advance(seconds=7)
    return await _answers_since(school, who, ids[-1] if ids else 0)


def test_every_chat_flow_answers_hostile_text_and_buttons(sqlite_url: str, host: LoopHost) -> None:
    school = host.enter(running_school(sqlite_url))

    async def meetings() -> None:  # invitations and slot offers, so `rv:`/`sl:` buttons are real
        for name in ("pembagian_rapor.yaml", "surat_panggilan.yaml"):
            created = await create_meeting(school.services.sessions, MEETINGS / name, default_timezone="Asia/Jakarta")
            async with school.services.sessions() as session, session.begin():
                await invite_meeting(session, created.id, now=school.clock.now(), simulator_enabled=True)

    host.run(meetings())
    for phone in ROSTER:
        host.run(school.say(phone, "menu"))
    silent: list[tuple[str, str, Any]] = []

    @fuzz_settings(100)
    @example(steps=[(RINA, "say", "panggil"), (RINA, "say", " ".join(a + b for a in _ALNUM for b in _ALNUM))])
    @given(steps=chat_steps())
    def check(steps: list[tuple[str, str, Any]]) -> None:
        for who, action, value in steps:
            received = host.run(_play(school, who, action, value))
            if received == 0:
                silent.append((who, action, value))
        host.run(school.deliver())

    with OurErrors() as errors:
        check()
    errors.check()
    assert silent == [], f"messages that got no answer: {silent[:5]}"
    assert host.run(consistency_problems(school.services.sessions)) == []

    async def outbox() -> list[OutboxMessage]:
        async with school.services.sessions() as session:
            return list((await session.exec(select(OutboxMessage))).all())

    sent = host.run(outbox())
    for message in sent:
        assert not leaked_phones(message.text, ROSTER), message.text
    reached = {m.template for m in sent}
    print(f"{len(sent)} messages, {len(reached)} kinds: {sorted(reached)}")
    assert len(reached) >= 40, f"the flows were really entered: {sorted(reached)}"


async def test_nul_and_control_characters_are_answered_and_passed_on(database_url: str) -> None:
    """PostgreSQL text holds no NUL: a message with one is still answered, without it."""
    async with running_school(database_url) as school:
        with OurErrors() as errors:
            ack = await school.say(MAYA, "Ani\x00 dibully\x01 di kelas\x7f")
            await school.say(YULIA, press="cg:\x00counseling")
        errors.check()
        assert "Rina Marlina" in ack[-1]["text"]
        forwarded = await school.inbox(RINA)
        assert "Ani dibully\x01 di kelas\x7f" in forwarded[-1]["text"]
        assert await consistency_problems(school.services.sessions) == []


async def test_an_unreadable_stored_update_does_not_stop_the_app(sqlite_url: str) -> None:
    """Rows an older version stored without reading them are recovered at start-up, not crashed on."""
    from datetime import UTC, datetime

    from storage.db import make_engine, make_sessionmaker

    engine = make_engine(sqlite_url)
    async with make_sessionmaker(engine)() as session, session.begin():
        session.add(InboxMessage(channel="telegram", external_id="9", payload={"update_id": 9, "message": "junk"},
                                 received_at=datetime.now(UTC)))
        session.add(InboxMessage(channel="telegram", external_id="10", received_at=datetime.now(UTC),
                                 payload={"update_id": 10, "message": {**_SHAPE, "text": 5}}))
    await engine.dispose()
    with OurErrors() as errors:
        async with network(sqlite_url) as net:
            assert (await net.client.get("/healthz")).status_code == 200
            async with net.services.sessions() as session:
                rows = (await session.exec(select(InboxMessage).where(InboxMessage.channel == "telegram"))).all()
            assert all(row.processed_at is not None and row.error for row in rows)
            maya = await net.phone("telegram", MAYA)
            assert "Ani Wijaya" in (await maya.say("menu"))[-1]["text"], "and the bot goes on answering"
    errors.check()
