"""The conversation as phones see it, through the simulator channel, the inbox and the outbox.

Each test reads like the chat: a guardian writes, the right teacher's phone receives it, the
teacher answers, the guardian's phone shows the answer.
"""

from __future__ import annotations

import re

import pytest

from tests.harness import AHMAD, BUDI, DEWI, HENDRA, JOKO, MAYA, RINA, SRI, YULIA, running_school

PHONE_DIGITS = re.compile(r"(\+?62|0)8\d{8,}")


def texts(messages: list[dict]) -> str:
    return "\n---\n".join(m["text"] for m in messages)


async def test_concern_reaches_subject_teacher_and_the_answer_comes_back(database_url: str) -> None:
    async with running_school(database_url) as school:
        welcome = await school.say(MAYA, "Bu, nilai ulangan matematika Ani kemarin turun, apa ada remedial?")
        # First contact: the two onboarding messages, then the acknowledgement.
        assert "Maya Wijaya" in welcome[0]["text"] and "Ani Wijaya (VII-A)" in welcome[0]["text"]
        assert "Guru BK" in welcome[1]["text"]
        ack = welcome[-1]["text"]
        assert "Guru Matematika, Bapak/Ibu Sri Wahyuni" in ack
        assert "Senin–Jumat 07.00–15.00" in ack

        forwarded = await school.inbox(SRI)
        assert len(forwarded) == 1
        body = forwarded[0]["text"]
        assert "nilai ulangan matematika Ani kemarin turun" in body
        assert "Maya Wijaya (Ibu dari Ani Wijaya, VII-A)" in body
        assert not PHONE_DIGITS.search(body)

        await school.say(SRI, "Iya Bu, remedial hari Kamis jam 13.00.", reply_to=forwarded[0]["id"])
        answer = await school.inbox(MAYA)
        assert len(answer) == 1
        assert "Guru Matematika, Bapak/Ibu Sri Wahyuni" in answer[0]["text"]
        assert "remedial hari Kamis jam 13.00" in answer[0]["text"]
        assert not PHONE_DIGITS.search(answer[0]["text"])

        # The guardian's next message continues the same concern with the same teacher.
        await school.say(MAYA, "Baik, terima kasih Bu. Perlu bawa apa?")
        follow = await school.inbox(SRI)
        assert len(follow) == 1 and "Perlu bawa apa?" in follow[0]["text"]
        assert await school.inbox(RINA) == [] and await school.inbox(BUDI) == []

        # The teacher closes it; the guardian is told.
        closed = await school.say(SRI, "selesai")
        assert "sudah ditutup" in closed[0]["text"]
        told = await school.inbox(MAYA)
        assert "selesai" in told[-1]["text"]


@pytest.mark.parametrize(("text", "who", "role_words"), [
    ("Anak saya Citra dibully teman sekelasnya, dia jadi tidak mau sekolah", "RINA", "Guidance Counselor"),
    ("Mohon izin, Citra hari ini sakit demam jadi tidak masuk sekolah", "SRI", "Homeroom Teacher, Sri"),
    ("Bu, uang komite bulan ini bayarnya ke mana ya?", "DEWI", "School Office, Dewi"),
    ("Citra has too much homework in English class, she cannot finish it", "JOKO", "Bahasa Inggris Teacher"),
])
async def test_routing_by_category(sqlite_url: str, text: str, who: str, role_words: str) -> None:
    phones = {"RINA": RINA, "SRI": SRI, "DEWI": DEWI, "JOKO": JOKO}
    async with running_school(sqlite_url) as school:
        replies = await school.say(YULIA, text)  # Yulia reads English
        assert role_words in replies[-1]["text"]
        forwarded = await school.inbox(phones[who])
        assert len(forwarded) == 1 and text in forwarded[0]["text"]
        assert "Yulia Lestari" in forwarded[0]["text"] and "Citra Lestari" in forwarded[0]["text"]
        others = [p for name, p in phones.items() if name != who]
        for phone in others:
            assert await school.inbox(phone) == []


async def test_guardian_of_two_children_is_asked_which_child(database_url: str) -> None:
    async with running_school(database_url) as school:
        replies = await school.say(HENDRA, "Mau tanya soal PR IPA yang kemarin, kurang jelas tugasnya")
        question = replies[-1]
        assert "tentang siapa" in question["text"]
        labels = [b["label"] for row in question["buttons"] for b in row]
        assert labels == ["Ani Wijaya (VII-A)", "Bima Wijaya (VII-B)"]
        bima = question["buttons"][1][0]["data"]
        ack = await school.say(HENDRA, press=bima)
        assert "Bima Wijaya (VII-B)" in ack[-1]["text"] and "Budi Santoso" in ack[-1]["text"]
        forwarded = await school.inbox(BUDI)
        assert "PR IPA" in forwarded[0]["text"] and "Ayah dari Bima Wijaya, VII-B" in forwarded[0]["text"]
        # The same button again is stale and changes nothing.
        stale = await school.say(HENDRA, press=bima)
        assert "tidak berlaku" in stale[-1]["text"]
        assert await school.inbox(BUDI) == []


async def test_a_child_named_in_the_message_is_not_asked_for(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        replies = await school.say(HENDRA, "Bima hari ini izin tidak masuk karena sakit")
        assert "Bima Wijaya (VII-B)" in replies[-1]["text"] and "Wali Kelas" in replies[-1]["text"]
        assert len(await school.inbox(BUDI)) == 1


async def test_unclear_category_is_asked_with_buttons_or_a_number(database_url: str) -> None:
    async with running_school(database_url) as school:
        replies = await school.say(MAYA, "Selamat pagi Bu, saya mau bicara tentang Ani")
        question = replies[-1]
        assert "termasuk yang mana" in question["text"]
        assert [b["data"] for row in question["buttons"] for b in row] == ["cg:academic", "cg:absence",
                                                                           "cg:counseling", "cg:admin",
                                                                           "cg:other"]  # Lainnya
        ack = await school.say(MAYA, "3")  # typed number works as well as the button
        assert "Guru BK, Bapak/Ibu Rina Marlina" in ack[-1]["text"]
        forwarded = await school.inbox(RINA)
        assert "saya mau bicara tentang Ani" in forwarded[0]["text"]


async def test_staff_cannot_close_or_answer_someone_elses_concern(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(MAYA, "Ani dibully di kelas, tolong dibantu")
        forwarded = await school.inbox(RINA)
        concern = re.search(r"#(\d+)", forwarded[0]["text"]).group(1)
        refused = await school.say(BUDI, f"selesai {concern}")
        assert "tidak ditemukan" in refused[-1]["text"]
        # Budi has no concern of his own: his free text relays nothing.
        nothing = await school.say(BUDI, "Halo, ada pesan untuk saya?")
        assert "tidak ada pesan orang tua" in nothing[-1]["text"].lower()
        assert all("Halo, ada pesan" not in m["text"] for m in await school.inbox(MAYA))


async def test_staff_text_without_reply_goes_to_their_only_open_concern_and_says_which(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(MAYA, "Ani sering murung setelah pulang sekolah")
        await school.inbox(RINA)
        sent = await school.say(RINA, "Baik Bu, besok saya ajak Ani berbicara.")
        assert "Terkirim kepada Maya Wijaya (Ibu dari Ani Wijaya, VII-A)" in sent[-1]["text"]
        assert "sebagai jawaban pesan #" in sent[-1]["text"]
        answer = await school.inbox(MAYA)
        assert "besok saya ajak Ani berbicara" in answer[-1]["text"]
        # A second open concern: the next text is kept and she is asked, not guessed for.
        await school.say(YULIA, "Citra is being bullied by her classmates")
        asked = await school.say(RINA, "Baik, saya catat.")
        assert [b["data"] for row in asked[-1]["buttons"] for b in row] == ["sa:2", "sa:1"]
        assert await school.inbox(MAYA) == [] and await school.inbox(YULIA) == []
        await school.say(RINA, press="sa:1")
        assert "Baik, saya catat." in (await school.inbox(MAYA))[-1]["text"]
        assert await school.inbox(YULIA) == []


async def test_guardian_with_two_open_concerns_is_asked_which_to_close(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(MAYA, "Nilai matematika Ani turun")
        await school.say(MAYA, "Ani dibully kakak kelasnya")
        await school.inbox(SRI)
        await school.inbox(RINA)
        asked = await school.say(MAYA, "selesai")
        assert "Pesan mana yang sudah tuntas" in asked[-1]["text"]
        assert [b["data"] for row in asked[-1]["buttons"] for b in row] == ["gd:2", "gd:1"]
        assert await school.inbox(SRI) == [] and await school.inbox(RINA) == []
        closed = await school.say(MAYA, press="gd:1")
        assert "sudah kami tutup" in closed[-1]["text"]
        assert "ditutup oleh orang tua" in (await school.inbox(SRI))[-1]["text"]
        assert await school.inbox(RINA) == []
        stale = await school.say(MAYA, press="gd:1")
        assert "tidak berlaku" in stale[-1]["text"]


async def test_cases_lists_open_concerns(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(MAYA, "Nilai matematika Ani turun")
        await school.say(YULIA, "Citra needs help with math homework")
        cases = await school.say(SRI, "/kasus")
        text = cases[-1]["text"]
        assert "(2)" in text and "Ani Wijaya (VII-A)" in text and "Citra Lestari (VII-A)" in text
        assert not PHONE_DIGITS.search(text)
        guardian_try = await school.say(MAYA, "kasus")
        assert "khusus untuk guru" in guardian_try[-1]["text"]


async def test_language_switch_and_english_guardian(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        first = await school.say(YULIA, "menu")
        assert "Welcome, Yulia Lestari" in first[0]["text"]
        switched = await school.say(YULIA, "BAHASA")
        assert "Bahasa Indonesia" in switched[-1]["text"]
        menu = await school.say(YULIA, "/menu")
        assert "Yang dapat Bapak/Ibu lakukan" in menu[-1]["text"]


async def test_counselor_explainer(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(HENDRA, "menu")
        explainer = await school.say(HENDRA, "bk")
        assert "Guru BK" in explainer[-1]["text"] and "bullying" in explainer[-1]["text"]


async def test_stop_and_start_announcements(database_url: str) -> None:
    async with running_school(database_url) as school:
        await school.say(HENDRA, "menu")
        stopped = await school.say(HENDRA, "BERHENTI")
        assert "tidak akan menerima pengumuman" in stopped[-1]["text"]
        told_sri = await school.inbox(SRI)
        told_budi = await school.inbox(BUDI)
        assert "Hendra Wijaya" in told_sri[-1]["text"] and "berhenti menerima pengumuman" in told_sri[-1]["text"]
        assert "Bima Wijaya" in told_budi[-1]["text"]
        resumed = await school.say(HENDRA, "mulai")
        assert "kembali menerima pengumuman" in resumed[-1]["text"]
        # "Stop" inside a sentence is a concern, not an opt-out.
        concern = await school.say(HENDRA, "Stop! Bima dipukul temannya tadi siang")
        assert "Guru BK" in concern[-1]["text"]


async def test_guardian_closes_own_concern(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(MAYA, "Nilai IPA Ani jelek sekali")
        await school.inbox(BUDI)
        closed = await school.say(MAYA, "selesai")
        assert "sudah kami tutup" in closed[-1]["text"]
        told = await school.inbox(BUDI)
        assert "ditutup oleh orang tua" in told[-1]["text"]


@pytest.mark.parametrize("text", ["", "   ", "😀🙏", "x" * 4000, "{{7*7}} <b>tebal</b> *miring*"])
async def test_odd_input_gets_a_polite_answer(sqlite_url: str, text: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(MAYA, "menu")
        replies = await school.say(MAYA, text)
        assert replies, "every message gets an answer"
        if text.startswith("{{"):
            assert "{{7*7}}" not in replies[-1]["text"] and "49" not in replies[-1]["text"]
            await school.say(MAYA, press="cg:academic")
            forwarded = await school.inbox(SRI) + await school.inbox(RINA) + await school.inbox(BUDI)
            assert any("{{7*7}} <b>tebal</b> *miring*" in m["text"] for m in forwarded)


async def test_unknown_button_data_is_refused(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(MAYA, "menu")
        replies = await school.say(MAYA, press="cc:999999")
        assert "tidak berlaku" in replies[-1]["text"]


async def test_simulator_rejects_malformed_requests(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        bad_json = await school.client.post("/simulator/api/send", content=b"{not json",
                                            headers={"content-type": "application/json"})
        assert bad_json.status_code == 400
        bad_phone = await school.client.post("/simulator/api/send", json={"phone": "12", "text": "hi"})
        assert bad_phone.status_code == 400
        huge = await school.client.post("/simulator/api/send", content=b"x" * (1024 * 1024 + 1),
                                        headers={"content-type": "application/json"})
        assert huge.status_code == 413


async def test_health(database_url: str) -> None:
    async with running_school(database_url) as school:
        response = await school.client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok"}


async def test_principal_and_unused_staff_see_nothing_of_others(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(MAYA, "Ani dibully")
        assert await school.inbox(AHMAD) == []


async def test_health_names_the_database_when_it_is_unreachable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import httpx
    from asgi_lifespan import LifespanManager

    from bot.app import create_app
    from tests.harness import settings_for

    app = create_app(settings_for("postgresql+asyncpg://nobody@127.0.0.1:1/none"), run_scheduler=False,
                     run_sender=False)
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://t") as client:
            response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


async def test_someone_elses_wrong_person_button_changes_nothing(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        ack = await school.say(MAYA, "Mohon izin, Ani hari ini sakit demam jadi tidak masuk sekolah")
        button = ack[-1]["buttons"][0][0]
        assert button["label"] == "Salah tujuan?"
        await school.inbox(SRI)
        # Ani's father presses data of her mother's concern; a teacher tries it too.
        refused = await school.say(HENDRA, press=button["data"])
        assert "sudah tidak berlaku" in refused[-1]["text"]
        teacher = await school.say(SRI, press=button["data"])
        assert "tidak berlaku" in teacher[-1]["text"]
        forged = await school.say(MAYA, press=button["data"].replace("wp:", "wg:") + ":counseling:x")
        assert "tidak berlaku" in forged[-1]["text"]
        assert await school.inbox(RINA) == [] and await school.inbox(SRI) == []
        # Her own press asks again.
        asked = await school.say(MAYA, press=button["data"])
        assert "termasuk yang mana" in asked[-1]["text"]
