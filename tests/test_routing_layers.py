"""The router's layers through real storage: a school's corrections teach its own router only,
and without the model the lexicon routes alone (one warning, nothing breaks)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from handlers import router_model, school_memory
from handlers.classifier import classify
from handlers.routing import NEIGHBOUR_SIMILARITY, classify_message, decide, read_message, read_text
from sqlmodel import select

from storage.models import School
from storage.people import school_subjects
from storage.routing_examples import examples_stamp, record_correction
from tests.harness import running_school

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
# School A's office issues the competition dispensation letters; the lexicon reads "dispensasi"
# as an absence note for the homeroom teacher (or asks), which is what school B keeps doing.
CORRECTED = "Pak, anak saya ikut lomba pramuka minggu depan, perlu surat dispensasi dari sekolah?"
SIMILAR = "Bu, anak saya mau ikut lomba pramuka tingkat kota, apa perlu surat dispensasi?"
UNRELATED = "Bu, anak saya sakit demam hari ini, mohon izin tidak masuk"


@pytest.fixture
def builtin_model():  # type: ignore[no-untyped-def]
    router_model.configure(router_model.BUILTIN)
    assert router_model.learned_layer() is not None, "scikit-learn is pinned: the model must load"
    yield
    router_model.configure(router_model.BUILTIN)


async def _school(sessions, code: str) -> int:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        school = School(code=code, name=f"Sekolah {code}")
        session.add(school)
        await session.commit()
        assert school.id is not None
        return school.id


async def _route(sessions, school_id: int, text: str):  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return await classify_message(session, school_id, text)


async def test_a_schools_corrections_change_its_own_routing_only(sessions, builtin_model) -> None:
    school_memory.forget()
    a, b = await _school(sessions, "A"), await _school(sessions, "B")
    before_a, before_b = await _route(sessions, a, SIMILAR), await _route(sessions, b, SIMILAR)
    assert before_a == before_b and before_a.group != "admin"

    async with sessions() as session:
        record_correction(session, school_id=a, text=CORRECTED, group="admin", category="documents",
                          source="handover", now=NOW)
        await session.commit()

    after_a = await _route(sessions, a, SIMILAR)
    assert (after_a.group, after_a.category, after_a.confident) == ("admin", "documents", True)
    assert await _route(sessions, b, SIMILAR) == before_b  # school B is unaffected
    assert (await _route(sessions, a, UNRELATED)).group == "absence"  # only similar messages move

    # The school changes its mind: the newest correction of the same kind wins, cache and all.
    async with sessions() as session:
        record_correction(session, school_id=a, text=SIMILAR, group="counseling",
                          category="study_career", source="wrong_person", now=NOW)
        await session.commit()
        assert (await examples_stamp(session, a))[0] == 2
    again = await _route(sessions, a, SIMILAR)
    assert (again.group, again.category) == ("counseling", "study_career")


async def test_the_nearest_correction_is_read_from_the_cache_until_a_new_one_arrives(
        sessions, builtin_model) -> None:
    school_memory.forget()
    a = await _school(sessions, "A")
    async with sessions() as session:
        record_correction(session, school_id=a, text=CORRECTED, group="admin", source="asked",
                          now=NOW)
        await session.commit()
        first = await read_message(session, a, SIMILAR)
        (key,) = school_memory._schools
        cached = school_memory._schools[key]
        second = await read_message(session, a, SIMILAR)
        assert school_memory._schools[key] is cached  # nothing re-read or re-computed
    assert first.neighbour is not None and first.neighbour.group == "admin"
    assert first.neighbour.similarity >= NEIGHBOUR_SIMILARITY
    assert second.neighbour == first.neighbour
    async with sessions() as session:
        record_correction(session, school_id=a, text=UNRELATED, group="absence", source="asked",
                          now=NOW)
        await session.commit()
        await read_message(session, a, SIMILAR)
        assert school_memory._schools[key] is not cached
        assert school_memory._schools[key].stamp[0] == 2


async def test_without_the_model_the_lexicon_routes_alone_after_one_warning(
        sqlite_url: str, tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    missing = str(tmp_path / "no-such-router-head.json")
    caplog.set_level(logging.WARNING, logger="handlers.router_model")
    try:
        async with running_school(sqlite_url, router_model=missing) as school:
            assert router_model.current_setting() == missing
            sessions = school.services.sessions
            async with sessions() as session:
                found = await session.exec(select(School.id).where(School.code == "UJI"))
                school_id = found.one()
                subjects = await school_subjects(session, school_id)
            assert "Matematika" in subjects
            for text in (SIMILAR, UNRELATED, "nilai matematika anak saya turun", "🙏"):
                async with sessions() as session:
                    reading = await read_message(session, school_id, text)
                    routed = await classify_message(session, school_id, text)
                assert reading.combined is None and reading.neighbour is None
                assert routed == classify(text, subjects)
        warnings = [r for r in caplog.records if r.name == "handlers.router_model"]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert "failed to load" in warnings[0].getMessage()
        assert "lexicon alone" in warnings[0].getMessage()
    finally:
        router_model.configure(router_model.BUILTIN)


@pytest.mark.parametrize("content", [
    b"", b"not a head file", b'{"groups": ["absence"], "ngrams": {}}',  # the old JSON format
    "truncated",
])
def test_a_broken_head_file_leaves_the_lexicon_routing_after_one_warning(
        tmp_path, caplog: pytest.LogCaptureFixture, content: bytes | str) -> None:
    broken = tmp_path / "head.npz"
    whole = router_model.HEAD_FILE.read_bytes()
    broken.write_bytes(whole[:len(whole) // 2] if content == "truncated" else content)
    caplog.set_level(logging.WARNING, logger="handlers.router_model")
    try:
        router_model.configure(str(broken))
        assert router_model.learned_layer() is None
        assert router_model.learned_layer() is None  # asked again: no second warning
        text = "nilai matematika anak saya turun terus bu"
        assert read_text(text, ["Matematika"]).combined is None
        assert decide(read_text(text, ["Matematika"])) == classify(text, ["Matematika"])
        warnings = [r for r in caplog.records if r.name == "handlers.router_model"]
        assert len(warnings) == 1 and "lexicon alone" in warnings[0].getMessage()
    finally:
        router_model.configure(router_model.BUILTIN)


def test_a_head_file_named_by_path_routes_as_the_builtin_one(tmp_path, builtin_model) -> None:
    copy = tmp_path / "my-head.npz"
    copy.write_bytes(router_model.HEAD_FILE.read_bytes())
    texts = [SIMILAR, UNRELATED, CORRECTED, "Bu, SPP bulan ini sudah bisa dibayar lewat transfer?"]
    builtin = [decide(read_text(text, ["Matematika"])) for text in texts]
    router_model.configure(str(copy))
    assert router_model.learned_layer() is not router_model._layers[router_model.BUILTIN]
    assert [decide(read_text(text, ["Matematika"])) for text in texts] == builtin
