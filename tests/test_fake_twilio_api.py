"""The fake Twilio API speaks twilio-python's wire format: the real async client talks to it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.fakes.twilio_api import (
    DEFAULT_AUTH_TOKEN,
    MAX_BODY,
    SANDBOX_FROM,
    TINY_PDF,
    TINY_PNG,
    FakeTwilioAPI,
)
from tests.fakes.twilio_forms import inbound_form, new_message_sid, sign, status_form

GUARDIAN = "whatsapp:+6281200000001"
OTHER_GUARDIAN = "whatsapp:+6281200000002"
CONTENT_SID = "HX" + "ab" * 16

# twilio 9.13's AsyncTwilioHttpClient still passes aiohttp.BasicAuth / auth=, which aiohttp 3.14
# deprecates: not our code, so it must not fail a run with -W error.
pytestmark = [
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]


@pytest.fixture(autouse=True)
def _no_twilio_edge(monkeypatch: pytest.MonkeyPatch) -> None:
    # twilio-python rewrites the host from these variables; the fake's URL must stay as is.
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    monkeypatch.delenv("TWILIO_REGION", raising=False)


@pytest.fixture
async def api() -> AsyncIterator[FakeTwilioAPI]:
    async with FakeTwilioAPI() as fake:
        yield fake


def _client(api: FakeTwilioAPI, http: AsyncTwilioHttpClient, token: str | None = None) -> Client:
    client = Client(api.account_sid, token or api.auth_token, http_client=http)
    client.api.base_url = api.base_url  # Client has no base-URL argument
    return client


@pytest.fixture
async def client(api: FakeTwilioAPI) -> AsyncIterator[Client]:
    # The aiohttp session is created in the constructor: build it inside the running loop,
    # and close it (AsyncTwilioHttpClient.__aexit__ → session.close()).
    async with AsyncTwilioHttpClient() as http:
        yield _client(api, http)


async def test_body_send_is_recorded_and_answered_like_twilio(
    api: FakeTwilioAPI, client: Client
) -> None:
    message = await client.messages.create_async(
        to=GUARDIAN, from_=SANDBOX_FROM, body="Halo", status_callback="https://x.test/status"
    )

    assert message.sid is not None and message.sid.startswith("SM") and len(message.sid) == 34
    assert message.status == "queued"
    assert (message.to, message.from_, message.body) == (GUARDIAN, SANDBOX_FROM, "Halo")
    assert message.account_sid == api.account_sid
    assert message.api_version == "2010-04-01"
    assert message.direction == "outbound-api"
    assert message.num_segments == "1"
    assert message.price is None and message.error_code is None
    assert isinstance(message.date_created, datetime)  # RFC 2822 parsed by twilio-python
    assert message.date_created.tzinfo is not None

    [sent] = api.sent
    assert sent["To"] == GUARDIAN and sent["From"] == SANDBOX_FROM and sent["Body"] == "Halo"
    assert sent["StatusCallback"] == "https://x.test/status"
    assert sent["MediaUrl"] == [] and sent["ContentVariablesParsed"] is None
    assert (sent["sid"], sent["status"]) == (message.sid, "queued")
    assert api.messages_to(GUARDIAN) == [sent] and api.messages_to(OTHER_GUARDIAN) == []
    [request] = api.requests
    assert request["method"] == "POST" and request["auth_ok"] is True
    assert request["path"] == f"/2010-04-01/Accounts/{api.account_sid}/Messages.json"
    assert request["status"] == 201


async def test_content_template_variables_are_parsed(api: FakeTwilioAPI, client: Client) -> None:
    variables = {"1": "Budi Santoso", "2": "Sabtu, 19 Desember 2026 pukul 08.00 WIB"}
    message = await client.messages.create_async(
        to=GUARDIAN, from_=SANDBOX_FROM, content_sid=CONTENT_SID,
        content_variables=json.dumps(variables),
    )
    [sent] = api.sent
    assert sent["ContentSid"] == CONTENT_SID
    assert json.loads(sent["ContentVariables"]) == variables
    assert sent["ContentVariablesParsed"] == variables
    assert "Body" not in sent
    assert message.status == "queued"


async def test_media_urls_are_a_list_and_get_an_mm_sid(api: FakeTwilioAPI, client: Client) -> None:
    urls = ["https://x.test/a.png", "https://x.test/b.pdf"]
    message = await client.messages.create_async(
        to=GUARDIAN, from_=SANDBOX_FROM, body="Rapor", media_url=urls
    )
    assert api.sent[0]["MediaUrl"] == urls
    assert message.sid is not None and message.sid.startswith("MM")
    assert message.num_media == "2"


async def test_injected_63016_raises_rest_exception_once(
    api: FakeTwilioAPI, client: Client
) -> None:
    api.fail_next(status=400, code=63016)
    with pytest.raises(TwilioRestException) as caught:
        await client.messages.create_async(to=GUARDIAN, from_=SANDBOX_FROM, body="Halo")
    assert caught.value.code == 63016 and caught.value.status == 400
    assert "outside the allowed window" in caught.value.msg
    assert api.sent == [] and api.requests[0]["status"] == 400

    await client.messages.create_async(to=GUARDIAN, from_=SANDBOX_FROM, body="Halo lagi")
    assert [m["Body"] for m in api.sent] == ["Halo lagi"]


async def test_injected_failure_can_target_one_recipient(
    api: FakeTwilioAPI, client: Client
) -> None:
    api.fail_next(status=400, code=63003, to=OTHER_GUARDIAN)
    await client.messages.create_async(to=GUARDIAN, from_=SANDBOX_FROM, body="satu")
    with pytest.raises(TwilioRestException) as caught:
        await client.messages.create_async(to=OTHER_GUARDIAN, from_=SANDBOX_FROM, body="dua")
    assert caught.value.code == 63003
    assert [m["To"] for m in api.sent] == [GUARDIAN]


@pytest.mark.parametrize(
    ("status", "code", "want_code"), [(429, 20429, 20429), (500, None, 20500), (503, None, 20503)]
)
async def test_injected_429_and_5xx(
    api: FakeTwilioAPI, client: Client, status: int, code: int | None, want_code: int
) -> None:
    api.fail_next(status=status, code=code, times=2)
    for _ in range(2):
        with pytest.raises(TwilioRestException) as caught:
            await client.messages.create_async(to=GUARDIAN, from_=SANDBOX_FROM, body="Halo")
        assert (caught.value.status, caught.value.code) == (status, want_code)
    await client.messages.create_async(to=GUARDIAN, from_=SANDBOX_FROM, body="Halo")
    assert len(api.sent) == 1 and api.throttled == 0


async def test_wrong_auth_token_is_401_20003(api: FakeTwilioAPI) -> None:
    async with AsyncTwilioHttpClient() as http:
        client = _client(api, http, token="0" * 32)
        with pytest.raises(TwilioRestException) as caught:
            await client.messages.create_async(to=GUARDIAN, from_=SANDBOX_FROM, body="Halo")
    assert caught.value.status == 401 and caught.value.code == 20003
    assert api.sent == []
    assert api.requests[0]["auth_ok"] is False and api.requests[0]["status"] == 401


async def test_mps_throttles_a_concurrent_burst(api: FakeTwilioAPI, client: Client) -> None:
    api.mps = 2
    results = await asyncio.gather(
        *(client.messages.create_async(to=GUARDIAN, from_=SANDBOX_FROM, body=f"pesan {i}")
          for i in range(5)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, Exception)]
    assert all(isinstance(r, TwilioRestException) for r in refused)
    assert all((r.status, r.code) == (429, 20429) for r in refused)  # type: ignore[union-attr]
    assert len(refused) == 3 and api.throttled == 3 and len(api.sent) == 2
    assert len(api.requests) == 5

    # The budget is per sender: another From is not throttled by this burst.
    await client.messages.create_async(
        to=GUARDIAN, from_="whatsapp:+14155550100", body="pengirim lain"
    )
    assert len(api.sent) == 3


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"to": "+6281200000001", "body": "x"}, 21910),  # an SMS To with a WhatsApp From
        ({"to": "whatsapp:0812000", "body": "x"}, 21211),
        ({"to": GUARDIAN, "body": "x" * (MAX_BODY + 1)}, 21617),
        ({"to": GUARDIAN}, 21602),
        ({"to": GUARDIAN, "content_sid": "template-1"}, 21655),
        ({"to": GUARDIAN, "content_sid": CONTENT_SID, "content_variables": "{'1': 'x'}"}, 21656),
        ({"to": GUARDIAN, "content_sid": CONTENT_SID,
          "content_variables": json.dumps({"1": "baris\nbaru"})}, 21656),
        ({"to": GUARDIAN, "content_sid": CONTENT_SID, "content_variables": '{"1": ""}'}, 21656),
        ({"to": GUARDIAN, "body": "x", "content_sid": CONTENT_SID}, 21619),
        ({"to": GUARDIAN, "body": "x", "from_": "+14155238886"}, 21910),
    ],
)
async def test_validation_like_twilio(
    api: FakeTwilioAPI, client: Client, kwargs: dict[str, str], code: int
) -> None:
    kwargs = {"from_": SANDBOX_FROM, **kwargs}
    with pytest.raises(TwilioRestException) as caught:
        await client.messages.create_async(**kwargs)
    assert (caught.value.status, caught.value.code) == (400, code)
    assert api.sent == []


async def test_body_of_exactly_1600_chars_is_accepted(api: FakeTwilioAPI, client: Client) -> None:
    await client.messages.create_async(to=GUARDIAN, from_=SANDBOX_FROM, body="x" * MAX_BODY)
    assert len(api.sent) == 1


async def test_fetch_returns_status_set_by_the_test(api: FakeTwilioAPI, client: Client) -> None:
    message = await client.messages.create_async(to=GUARDIAN, from_=SANDBOX_FROM, body="Halo")
    assert message.sid is not None
    api.set_status(message.sid, "delivered")
    fetched = await client.messages(message.sid).fetch_async()
    assert fetched.status == "delivered" and fetched.date_sent is not None
    assert api.sent[0]["status"] == "delivered"

    api.set_status(message.sid, "undelivered", error_code=63024)
    fetched = await client.messages(message.sid).fetch_async()
    assert (fetched.status, fetched.error_code) == ("undelivered", 63024)

    with pytest.raises(TwilioRestException) as caught:
        await client.messages("SM" + "0" * 32).fetch_async()
    assert (caught.value.status, caught.value.code) == (404, 20404)


async def test_unknown_path_is_twilio_404(api: FakeTwilioAPI) -> None:
    async with httpx.AsyncClient(base_url=api.base_url) as http:
        response = await http.get("/2010-04-01/Accounts/Nope/Calls.json")
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == 20404 and body["status"] == 404
    assert body["more_info"] == "https://www.twilio.com/docs/errors/20404"


async def test_wait_for_sees_a_send_from_a_background_task(
    api: FakeTwilioAPI, client: Client
) -> None:
    task = asyncio.create_task(
        client.messages.create_async(to=GUARDIAN, from_=SANDBOX_FROM, body="nanti")
    )
    sent = await api.wait_for(lambda s: any(m.get("Body") == "nanti" for m in s), timeout=5)
    assert sent[0]["To"] == GUARDIAN
    await task
    with pytest.raises(AssertionError, match="timed out"):
        await api.wait_for(count=2, timeout=0.2)


async def test_media_files_are_served(api: FakeTwilioAPI) -> None:
    async with httpx.AsyncClient() as http:
        png = await http.get(api.media_url("foto.png"))
        pdf = await http.get(api.media_url("rapor.pdf"))
        missing = await http.get(f"{api.base_url}/media/none.png")
        api.media_auth = True
        refused = await http.get(api.media_url("foto.png"))
        allowed = await http.get(api.media_url("foto.png"), auth=(api.account_sid, api.auth_token))
    assert (png.status_code, png.headers["content-type"], png.content) == (200, "image/png",
                                                                          TINY_PNG)
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content == TINY_PDF
    assert png.content.startswith(b"\x89PNG") and pdf.content.startswith(b"%PDF-")
    assert missing.status_code == 404
    assert refused.status_code == 401 and allowed.status_code == 200


def test_signature_from_sign_validates_with_request_validator() -> None:
    url = "https://jembatan.example/webhooks/whatsapp"
    form = inbound_form(message_sid=new_message_sid(), from_phone="+6281200000001",
                        body="Halo Bu Guru")
    signature = sign(url, form, DEFAULT_AUTH_TOKEN)
    validator = RequestValidator(DEFAULT_AUTH_TOKEN)
    assert validator.validate(url, form, signature)
    assert not validator.validate(url, {**form, "Body": "diubah"}, signature)
    assert not validator.validate("http://jembatan.example/webhooks/whatsapp", form, signature)
    assert not RequestValidator("f" * 32).validate(url, form, signature)


def test_inbound_form_field_set() -> None:
    sid = new_message_sid(media=True)
    form = inbound_form(
        message_sid=sid, from_phone="+6281200000001",
        media=[("http://127.0.0.1:1/media/a.png", "image/png")],
        replied_to_sid="SM" + "1" * 32,
    )
    assert form["From"] == "whatsapp:+6281200000001" and form["WaId"] == "6281200000001"
    assert form["MessageSid"] == form["SmsMessageSid"] == form["SmsSid"] == sid
    assert (form["NumMedia"], form["MediaContentType0"], form["MessageType"]) == (
        "1", "image/png", "image")
    assert form["OriginalRepliedMessageSid"] == "SM" + "1" * 32
    assert form["OriginalRepliedMessageSender"] == SANDBOX_FROM
    assert form["SmsStatus"] == "received" and form["ApiVersion"] == "2010-04-01"
    assert "MessagingServiceSid" not in form
    assert all(isinstance(v, str) for v in form.values())

    button = inbound_form(message_sid=new_message_sid(), from_phone="+6281200000001",
                          button_payload="hadir:42", button_text="Hadir")
    assert (button["MessageType"], button["Body"], button["ButtonPayload"]) == (
        "button", "Hadir", "hadir:42")
    doc = inbound_form(message_sid=new_message_sid(), from_phone="+6281200000001",
                       media=[("http://x/r.pdf", "application/pdf")])
    assert doc["MessageType"] == "document"


def test_status_form_field_set() -> None:
    form = status_form(message_sid="SM" + "2" * 32, status="undelivered", error_code="63024")
    assert form["MessageStatus"] == form["SmsStatus"] == "undelivered"
    assert form["ErrorCode"] == "63024" and form["To"] == GUARDIAN
    assert "ErrorCode" not in status_form(message_sid="SM" + "2" * 32, status="read")
