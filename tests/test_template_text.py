"""Chat texts as a reader sees them: every line break kept, one full stop after a title."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from templates.render import HERE, LANGUAGES, render

# A line a reader sees glued to the next: "...08.00 WIBTempat: Ruang VII-A", "...Ibu.Tempat:".
GLUED = re.compile(r"[A-Za-z0-9.)](Tempat|Waktu|Pukul|Ruang|Acara|Where|When|Kesepakatan|Pilih|Choose)\b")
TAG = re.compile(r"\{%.*?%\}|\{#.*?#\}")
TITLED = {"counselor": "Dewi Kartikasari, S.Psi.", "principal": "Drs. Suryadi Wirawan, M.Pd."}


def source_lines() -> list[tuple[Path, int, str, str]]:
    """(file, line number, line, next line) for every chat template."""
    found = []
    for path in sorted(HERE.glob("*/**/*.j2")):
        if path.relative_to(HERE).parts[0] not in LANGUAGES:
            continue
        lines = path.read_text(encoding="utf-8").split("\n")
        found += [(path, n + 1, line.rstrip(), lines[n + 1]) for n, line in enumerate(lines[:-1])]
    return found


def test_a_line_that_shows_text_never_loses_its_line_break_to_a_closing_tag() -> None:
    """trim_blocks eats the newline after a block tag; after text that glues two lines together.

    A line that shows text and ends in a plain ``%}`` must be followed by a blank line (which the
    tag's newline then stands in for), or say what it wants: ``+%}`` keeps the break, ``-%}`` joins.
    """
    glued = []
    for path, number, line, following in source_lines():
        if not line.endswith("%}") or line.endswith(("+%}", "-%}")) or line.lstrip().startswith("{% macro"):
            continue
        if TAG.sub("", line).strip() and following.strip():
            glued.append(f"{path.relative_to(HERE)}:{number}: {line[-60:]}")
    assert glued == []


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, 19, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("choose", [False, True])
def test_the_summons_and_invitation_summaries_put_the_place_on_its_own_line(lang: str, choose: bool) -> None:
    common = {"again": False, "choose": choose, "tz": "Asia/Jakarta", "start": at(1), "end": at(5),
              "minutes": 30, "days": 14, "free": "Sabtu pagi", "location": "Ruang BK"}
    summons = render(lang, "summons_confirm", {
        **common, "child_name": "Bunga Maulana", "class_name": "VII-A", "reason": "Sering terlambat", "level": 1,
        "organizer_name": TITLED["counselor"], "role": "counselor",
        "guardians": [{"name": "Yusuf Maulana", "relation": "ayah"}]})
    invitation = render(lang, "summons_confirm_invitation", {
        **common, "audience": [{"kind": "class", "values": ["VII-A"]}], "meeting_type": "rapat_komite",
        "title": "Rapat kelas", "bring": "", "families": 3, "guardians": 4, "students": 3})
    for text in (summons, invitation):
        assert not GLUED.search(text), text
        assert re.search(r"^(Tempat|Where): ", text, re.M), text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_parents_note_and_a_list_of_classes_start_their_own_line(lang: str) -> None:
    check_in = render(lang, "check_in_to_staff", {
        "child_name": "Bunga", "guardian_name": "Yusuf", "answer": "note", "note": "Sudah membaik",
        "agreement": "Belajar 1 jam sehari"})
    assert '\n"Sudah membaik"' in check_in
    unknown = render(lang, "broadcast_ask_audience", {
        "problem": "unknown", "unknown": ["X-Z"], "classes": ["VII-A", "VIII-B"], "refused": [], "text": ""})
    assert not GLUED.search(unknown), unknown
    assert unknown.split("\n")[1].startswith(("Pilih", "Choose")), unknown


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_name_with_an_academic_title_ends_a_sentence_with_one_full_stop(lang: str) -> None:
    invitation = render(lang, "invitation_rapat_komite", {
        "meeting_type": "rapat_komite", "title": "Rapat Komite", "school_name": "SMP Negeri Contoh",
        "tz": "Asia/Jakarta", "first_start": at(1), "last_end": at(5), "slot_count": 1, "same_day": True,
        "location": "Aula", "bring": "", "reason": None, "organizer_name": TITLED["principal"],
        "organizer_role": "principal", "guardian_name": "Yusuf Maulana", "relation": "ayah",
        "children": [{"name": "Bunga", "class_name": "VII-A"}], "proxy_for": None})
    explainer = render(lang, "bk_series_3", {"guardian_name": "Yusuf Maulana", "relation": "ayah",
                                             "counselor_name": TITLED["counselor"], "counselor_hours": ""})
    assert "M.Pd." in invitation and "M.Pd.." not in invitation
    assert "S.Psi." in explainer and "S.Psi.." not in explainer
    assert "\u2063" not in invitation + explainer


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_familys_own_words_keep_their_dots(lang: str) -> None:
    text = render(lang, "check_in_to_staff", {
        "child_name": "Bunga", "guardian_name": "Yusuf", "answer": "note", "note": "Sudah lebih baik..",
        "agreement": "Belajar tiap malam..."})
    assert '"Sudah lebih baik.."' in text and '"Belajar tiap malam..."' in text


def test_every_translated_reason_uses_only_the_parts_its_pattern_names() -> None:
    import re
    import string

    import yaml

    from templates.render import reason

    path = Path(__file__).resolve().parents[1] / "templates" / "id" / "reasons.yaml"
    for pattern, text in yaml.safe_load(path.read_text(encoding="utf-8")):
        names = set(re.compile(pattern).groupindex)
        used = {field for _, field, _, _ in string.Formatter().parse(text) if field}
        assert used <= names, (pattern, text)
    assert reason("id", "expected a whole number of families above 0, got 'nol'") == \
        "Isi bilangan bulat lebih dari 0 (jumlah keluarga), bukan 'nol'."
    assert reason("en", "missing name") == "missing name"
    assert reason("id", "something no check says") == "something no check says"
