"""WhatsApp end to end, and the same conversation across channels (guardian and staff on either).

Inbound forms are signed with Twilio's own RequestValidator; outbound goes through the real
twilio client to a local fake of the REST API.
"""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from storage.models import Guardian, OutboxMessage
from tests.fakes.twilio_forms import inbound_form, new_message_sid, sign
from tests.harness import BUDI, HENDRA, MAYA, RINA, SRI, YULIA
from tests.phones import PUBLIC, network

PHONE_DIGITS = re.compile(r"(\+?62|0)8\d{8,}")
CHANNEL_PAIRS = [("whatsapp", "telegram"), ("telegram", "whatsapp"), ("whatsapp", "whatsapp")]


@pytest.mark.parametrize(("guardian_on", "staff_on"), CHANNEL_PAIRS)
async def test_a_whole_concern_across_channels(database_url: str, guardian_on: str, staff_on: str) -> None:
    async with network(database_url) as net:
        rina = await net.phone(staff_on, RINA)
        if staff_on == "whatsapp":
            await rina.say("menu")  # staff open their own 24-hour window by writing once
            await rina.new()
        maya = await net.phone(guardian_on, MAYA)

        first = await maya.say("Bu, Ani dibully teman sekelasnya, sekarang dia tidak mau sekolah")
        assert "Guru BK, Bapak/Ibu Rina Marlina" in first[-1]["text"]
        forwarded = await rina.new()
        assert len(forwarded) == 1
        assert "Ani dibully teman sekelasnya" in forwarded[0]["text"]
        assert "Maya Wijaya (Ibu dari Ani Wijaya, VII-A)" in forwarded[0]["text"]
        assert not PHONE_DIGITS.search(forwarded[0]["text"])

        await rina.reply(forwarded[0], "Terima kasih Bu, besok saya panggil Ani dan temannya.")
        answer = await maya.new()
        assert len(answer) == 1 and "besok saya panggil Ani" in answer[0]["text"]
        assert "Guru BK, Bapak/Ibu Rina Marlina" in answer[0]["text"]
        assert not PHONE_DIGITS.search(answer[0]["text"])

        await maya.say("Baik Bu, terima kasih banyak.")
        follow = await rina.new()
        assert "terima kasih banyak" in follow[-1]["text"]

        cases = await rina.say("kasus")
        assert "Ani Wijaya (VII-A)" in cases[-1]["text"]
        closed = await rina.say("selesai")
        assert "sudah ditutup" in closed[-1]["text"]
        assert "selesai" in (await maya.new())[-1]["text"]


@pytest.mark.parametrize("channel", ["whatsapp", "telegram"])
async def test_child_question_by_number_or_button(sqlite_url: str, channel: str) -> None:
    async with network(sqlite_url) as net:
        budi = await net.phone("telegram", BUDI)
        hendra = await net.phone(channel, HENDRA)
        asked = await hendra.say("PR IPA kemarin tugasnya kurang jelas")
        question = asked[-1]
        assert question["choices"] == ["Ani Wijaya (VII-A)", "Bima Wijaya (VII-B)"]
        if channel == "whatsapp":
            assert "Balas dengan angka" in question["text"] and "2. Bima Wijaya (VII-B)" in question["text"]
        ack = await hendra.press(question, "Bima Wijaya (VII-B)")
        assert "Budi Santoso" in ack[-1]["text"]
        assert "PR IPA kemarin" in (await budi.new())[-1]["text"]


async def test_choice_by_word_on_whatsapp(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        await net.phone("telegram", RINA)
        maya = await net.phone("whatsapp", MAYA)
        asked = await maya.say("Selamat pagi, saya ingin bicara soal Ani")
        assert "Perilaku, perasaan & pergaulan (BK)" in asked[-1]["choices"]
        ack = await maya.say("perilaku, perasaan & pergaulan (bk)")
        assert "Rina Marlina" in ack[-1]["text"]


async def test_unknown_number_gets_only_a_polite_reply(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        stranger = await net.phone("whatsapp", "+6281399999999")
        replies = await stranger.say("Halo, saya mau tanya nilai anak saya")
        assert len(replies) == 1 and "belum terdaftar" in replies[0]["text"]
        assert "SMP Uji Coba" in replies[0]["text"]
        assert len(net.twilio.sent) == 1 and net.telegram.sent == []


async def test_signatures_are_checked_against_the_public_url(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        form = inbound_form(message_sid=new_message_sid(), from_phone=MAYA, body="halo")
        missing = await net.client.post("/webhooks/whatsapp", data=form)
        assert missing.status_code == 403
        forged = await net.post_twilio("/webhooks/whatsapp", form, signature="bm90IGEgc2lnbmF0dXJl")
        assert forged.status_code == 403
        # Signed for the URL the app sees behind the proxy, not the public one Twilio called.
        stale = await net.post_twilio("/webhooks/whatsapp", form, signed_url="http://internal:8000/webhooks/whatsapp")
        assert stale.status_code == 403
        tampered = dict(form, Body="kirim uang")
        wrong = await net.post_twilio("/webhooks/whatsapp", tampered,
                                      signature=sign(f"{PUBLIC}/webhooks/whatsapp", form, net.twilio.auth_token))
        assert wrong.status_code == 403
        ok = await net.post_twilio("/webhooks/whatsapp", form)
        assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/xml")
        status = await net.client.post("/webhooks/whatsapp/status", data={"MessageSid": "SMx", "MessageStatus": "read"})
        assert status.status_code == 403


async def test_repeated_message_sid_is_processed_once(database_url: str) -> None:
    async with network(database_url) as net:
        sri = await net.phone("telegram", SRI)
        maya = await net.phone("whatsapp", MAYA)
        sid = new_message_sid()
        for _ in range(3):  # Twilio retries when it did not hear back in time
            response = await maya.post(sid=sid, body="Nilai matematika Ani turun")
            assert response.status_code == 200
        await net.deliver()
        assert len(await sri.new()) == 1


async def test_media_is_forwarded_and_unsupported_media_explained(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        sri = await net.phone("whatsapp", SRI)
        await sri.say("menu")
        await sri.new()
        yulia = await net.phone("whatsapp", YULIA)
        note = net.twilio.media_url("surat-dokter.png")
        await yulia.post(body="Doctor's note: Citra is sick today and cannot come to school",
                         media=[(note, "image/png")])
        ack = await yulia.new()
        assert "with 1 attachment" in ack[-1]["text"]
        forwarded = await sri.new()
        assert forwarded[-1]["raw"]["MediaUrl"] == [note]
        assert "Citra is sick today" in forwarded[-1]["text"]

        voice = net.twilio.media_url("voice.png")
        await yulia.post(body="", media=[(voice, "audio/ogg")])
        explained = await yulia.new()
        assert "only pass on written messages" in explained[-1]["text"]


async def test_a_photo_alone_is_kept_until_the_words_come(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        sri = await net.phone("telegram", SRI)
        maya = await net.phone("whatsapp", MAYA)
        note = net.twilio.media_url("surat.pdf")
        await maya.post(body="", media=[(note, "application/pdf")])
        asked = await maya.new()
        assert "lampiran sudah kami terima" in asked[-1]["text"]
        await maya.say("Surat dokter, Ani sakit demam hari ini jadi izin tidak masuk")
        forwarded = await sri.new()
        assert note in forwarded[-1]["text"] and "Ani sakit demam" in forwarded[-1]["text"]


async def test_outside_the_window_without_template_is_held_and_staff_told(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        rina = await net.phone("telegram", RINA)
        maya = await net.phone("whatsapp", MAYA)
        await maya.say("Ani sering menangis sepulang sekolah")
        forwarded = await rina.new()
        net.clock.advance(hours=25)
        told = await rina.reply(forwarded[0], "Bu, bisa datang hari Sabtu?")
        assert await maya.new() == []
        assert any("belum dapat terkirim" in m["text"] and "24 jam" in m["text"] for m in told)
        async with net.services.sessions() as session:
            held = (await session.exec(select(OutboxMessage).where(OutboxMessage.status == "held"))).all()
        assert [row.template for row in held] == ["answer_to_guardian"]


async def test_outside_the_window_the_approved_template_is_used(sqlite_url: str) -> None:
    sid = "HX" + "ab" * 16
    async with network(sqlite_url, content_sids=f'{{"answer_to_guardian": "{sid}"}}') as net:
        rina = await net.phone("telegram", RINA)
        maya = await net.phone("whatsapp", MAYA)
        await maya.say("Ani sering menangis sepulang sekolah")
        forwarded = await rina.new()
        net.clock.advance(hours=30)
        await rina.reply(forwarded[0], "Bu, bisa datang hari Sabtu?")
        answer = await maya.new()
        assert answer[0]["raw"]["ContentSid"] == sid and "Body" not in answer[0]["raw"]
        assert "bisa datang hari Sabtu" in answer[0]["raw"]["ContentVariablesParsed"]["1"]


async def test_server_errors_and_throttling_are_retried(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        sri = await net.phone("telegram", SRI)
        maya = await net.phone("whatsapp", MAYA)
        await maya.say("menu")
        net.twilio.fail_next(status=503, to=f"whatsapp:{MAYA}")
        net.twilio.fail_next(status=429, to=f"whatsapp:{MAYA}")
        await maya.post(body="Nilai matematika Ani turun")

        def acks() -> int:
            return len([m for m in net.twilio.messages_to(f"whatsapp:{MAYA}") if "Sri Wahyuni" in m["Body"]])

        await net.deliver()  # 503: backs off
        assert acks() == 0
        net.clock.advance(seconds=30)
        await net.deliver()  # 429: soon again
        assert acks() == 0
        net.clock.advance(seconds=30)
        await net.deliver()
        assert acks() == 1, "retried until sent, and sent once"
        tries = [r for r in net.twilio.requests if r["method"] == "POST" and r["form"].get("To") == f"whatsapp:{MAYA}"]
        assert [r["status"] for r in tries][-3:] == [503, 429, 201]
        assert len(await sri.new()) == 1


async def test_statuses_stay_monotonic_and_staff_see_read(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        rina = await net.phone("telegram", RINA)
        maya = await net.phone("whatsapp", MAYA)
        await maya.say("Ani sering menangis sepulang sekolah")
        forwarded = await rina.new()
        await rina.reply(forwarded[0], "Baik Bu, saya temui Ani besok.")
        answer = (await maya.new())[-1]
        assert (await maya.status(answer, "read")).status_code == 200
        assert (await maya.status(answer, "delivered")).status_code == 200  # late, out of order
        async with net.services.sessions() as session:
            row = (await session.exec(select(OutboxMessage).where(
                OutboxMessage.external_message_id == answer["id"]))).one()
        assert row.delivery == "read"
        cases = await rina.say("kasus")
        assert "jawaban: dibaca" in cases[-1]["text"]


async def test_failed_delivery_reports_tell_the_staff_and_mark_the_person(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        rina = await net.phone("telegram", RINA)
        maya = await net.phone("whatsapp", MAYA)
        await maya.say("Ani sering menangis sepulang sekolah")
        forwarded = await rina.new()
        await rina.reply(forwarded[0], "Baik Bu.")
        answer = (await maya.new())[-1]
        await maya.status(answer, "failed", error_code="21610")
        told = await rina.new()
        assert "berhenti berlangganan" in told[-1]["text"]
        async with net.services.sessions() as session:
            guardian = (await session.exec(select(Guardian).where(Guardian.phone == MAYA))).one()
        assert guardian.opted_out is True


async def test_stop_and_start_on_whatsapp(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        await net.phone("telegram", SRI)
        maya = await net.phone("whatsapp", MAYA)
        await maya.say("menu")
        stopped = await maya.say("STOP")
        assert "tidak akan menerima pengumuman" in stopped[-1]["text"]
        started = await maya.say("MULAI")
        assert "kembali menerima pengumuman" in started[-1]["text"]


async def test_whatsapp_staff_answer_without_reply_context_is_told_which(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        rina = await net.phone("whatsapp", RINA)
        await rina.say("menu")
        await rina.new()
        maya = await net.phone("whatsapp", MAYA)
        await maya.say("Ani sering menangis sepulang sekolah")
        await rina.new()
        sent = await rina.say("Baik Bu, saya temui Ani besok pagi.")
        assert "sebagai jawaban pesan #" in sent[-1]["text"]
        assert "saya temui Ani besok pagi" in (await maya.new())[-1]["text"]


async def test_malformed_twilio_bodies_are_400_not_500(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        form = {"Body": "tanpa MessageSid"}
        response = await net.post_twilio("/webhooks/whatsapp", form)
        assert response.status_code == 400
        big = {"Body": "x" * (1024 * 1024 + 10), "MessageSid": new_message_sid(), "From": f"whatsapp:{MAYA}"}
        assert (await net.post_twilio("/webhooks/whatsapp", big)).status_code == 413



async def test_sms_for_a_number_without_whatsapp(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        rina = await net.phone("telegram", RINA)
        maya = await net.phone("whatsapp", MAYA)
        await maya.say("Ani sering menangis sepulang sekolah")
        forwarded = await rina.new()
        # Her number turns out not to be on WhatsApp: the answer falls back to SMS.
        net.twilio.fail_next(status=400, code=63003, to=f"whatsapp:{MAYA}")
        await rina.reply(forwarded[0], "Baik Bu, besok saya temui Ani di ruang BK jam 10.00.")
        sms = [m for m in net.twilio.messages_to(MAYA)]
        assert len(sms) == 1
        assert sms[0]["From"] == "+15005550006"
        assert "Rina Marlina" in sms[0]["Body"] and "ruang BK jam 10.00" in sms[0]["Body"]
        assert len(sms[0]["Body"]) <= 459


async def test_guardian_asks_for_sms_and_answers_with_numbers(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        budi = await net.phone("telegram", BUDI)
        hendra = await net.phone("whatsapp", HENDRA)
        await hendra.say("menu")
        switched = await hendra.say("sms")
        assert "lewat SMS" in switched[-1]["text"]
        sms_phone = await net.phone("sms", HENDRA)
        question = await sms_phone.say("Tugas IPA kemarin kurang jelas")
        assert question[-1]["choices"] == ["Ani Wijaya (VII-A)", "Bima Wijaya (VII-B)"]
        ack = await sms_phone.say("2")
        assert "Budi Santoso" in ack[-1]["text"] and len(ack[-1]["text"]) <= 459
        assert "Tugas IPA kemarin" in (await budi.new())[-1]["text"]
        # Later notices go by SMS too, even when they are caused on another channel.
        forwarded = budi.received()[-1]
        await budi.reply(forwarded, "Baik Pak, besok saya jelaskan lagi.")
        assert "besok saya jelaskan lagi" in (await sms_phone.new())[-1]["text"]
