"""When a guardian's next message leaves their open concern (CONTRACT section 8, "A concern over
days and weeks"): only when it is clearly another group's — a counseling matter at the ask
threshold, anything else at routing.CLEAR_TOPIC — so a close call stays with the open concern."""

from __future__ import annotations

from handlers.classifier import evidence
from handlers.concerns import same_topic
from handlers.routing import CLEAR_TOPIC, Reading, decide
from storage.models import Concern

SUBJECTS = ["Matematika", "IPA", "Bahasa Indonesia"]
ASK_BELOW = 0.83


def _decide(text: str, group: str, p: float):  # type: ignore[no-untyped-def]
    others = [g for g in ("counseling", "academic", "absence", "admin") if g != group]
    combined = {group: p, **{g: (1 - p) / 3 for g in others}}
    return decide(Reading(evidence(text, SUBJECTS), combined, ASK_BELOW, None, None))


def test_a_close_call_for_another_group_stays_with_the_open_concern() -> None:
    maths = Concern(id=1, category="academic", subject="Matematika")
    follow_up = _decide("Baik, terima kasih Bu. Perlu bawa uang berapa besok?", "admin", 0.86)
    assert follow_up.group == "admin" and follow_up.confident and not follow_up.clear
    assert same_topic([maths], follow_up) == [maths]


def test_a_clear_other_topic_starts_a_new_concern() -> None:
    maths = Concern(id=1, category="academic", subject="Matematika")
    fees = _decide("Bu, SPP bulan ini bisa dicicil dua kali?", "admin", CLEAR_TOPIC)
    assert fees.clear
    assert same_topic([maths], fees) == []


def test_a_thanks_the_lexicon_finds_nothing_in_is_asked_about_unless_the_model_is_clear() -> None:
    thanks = "Baik, terima kasih Bu. Perlu bawa apa besok?"
    assert not _decide(thanks, "admin", 0.90).confident
    assert _decide(thanks, "admin", CLEAR_TOPIC).confident


def test_a_counseling_matter_never_joins_another_groups_concern_even_on_a_close_call() -> None:
    sick = Concern(id=1, category="absence")
    hurt = _decide("Bu, Citra cerita dia dipukul kakak kelas waktu istirahat", "counseling", 0.86)
    assert hurt.group == "counseling" and hurt.clear
    assert same_topic([sick], hurt) == []


def test_a_close_call_naming_another_subject_is_still_a_new_question() -> None:
    maths = Concern(id=1, category="academic", subject="Matematika")
    science = _decide("Kalau PR IPA bab fotosintesis dikumpulkan kapan ya Bu?", "academic", 0.86)
    assert science.subject == "IPA"
    assert same_topic([maths], science) == []
