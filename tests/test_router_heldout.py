"""The router on held-out messages it has never seen (tests/data/routing_corpus/*.heldout.jsonl).

The corpus was written fresh by helpers with different briefs (regional languages, chat
spelling, long and two-topic messages, indirect wording, English) and split 60/40 by the hash
of each text before any result was looked at; three more writers (O: regional languages and
chat spelling; P: long, two-topic, indirect, formal, English, code-mixed; Q: terse, voice notes,
SMS in capitals, relatives writing, emoji, misleading keywords) were held out whole, their
briefs fixed before their messages were read. Three more (R: big-city working parents, code-mixed,
English, office Indonesian; S: small-town and village families, grandparents and relatives, SMS,
voice-to-text, regional words; T: one school's inbox across a school year, sensitive matters
written with reticence) were written later the same way, to a brief asking for realistic rather
than adversarial messages. Nothing was tuned on the held-out part. Run
``pytest -s tests/test_router_heldout.py`` to see the figures and every miss.

Targets (issue 13): at least 85% to the right person (group, and subject when the label has
one; asking counts as right where the label says asking is fine), at most 2% confidently wrong,
at most 12% asked.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

from handlers import router_model
from handlers.classifier import Classification, classify
from handlers.router_model import MAX_CHARS, TRAINING_FILE, LearnedLayer, read_corpus
from handlers.router_training import (
    corpus_digest,
    export_ngrams,
    export_subjects,
    fit_ngrams,
    fit_subjects,
    subject_probabilities,
)
from handlers.routing import decide, read_text
from tests.routing_corpus import (
    SUBJECTS,
    Score,
    _digest,
    assembled_training,
    heldout_only,
    part,
    read,
    split,
    writers,
)

TARGET_RIGHT, MAX_WRONG, MAX_ASKED = 0.85, 0.02, 0.12


@pytest.fixture(scope="module")
def heldout() -> list[dict[str, Any]]:
    rows = part("heldout")
    assert len(rows) >= 1450, "writers A and B's held-out parts and writers O to T whole"
    return rows


@pytest.fixture(scope="module")
def routed(heldout: list[dict[str, Any]]) -> list[tuple[dict[str, Any], Classification]]:
    router_model.configure(router_model.BUILTIN)
    assert router_model.learned_layer() is not None
    return [(row, decide(read_text(row["text"], SUBJECTS))) for row in heldout]


def _report(name: str, results: list[tuple[dict[str, Any], Classification]]) -> Score:
    score = Score()
    misses: list[str] = []
    kinds: Counter[str] = Counter()
    for row, result in results:
        verdict = score.add(row, result)
        if verdict != "right":
            kinds[f"{row['group']}->{result.group or 'asked'}"] += 1
            misses.append(f"  {verdict.upper():5} want={row['group']}/{row.get('subject')} "
                          f"got={result.group}/{result.subject} [{row.get('brief')}] "
                          f"{row['text'][:90]!r}")
    print(f"\n{name}: {score.line()}")
    print("  misses by kind: " + ", ".join(f"{k} {v}" for k, v in kinds.most_common()))
    print("\n".join(misses))
    return score


def test_the_lexicon_alone_before_the_learned_layer(heldout: list[dict[str, Any]]) -> None:
    """For the record: the lexicon alone on the same messages (the router before issue 13)."""
    score = _report("lexicon alone", [(row, classify(row["text"], SUBJECTS)) for row in heldout])
    assert score.n == len(heldout)


def test_held_out_messages_reach_the_right_person(routed) -> None:  # type: ignore[no-untyped-def]
    first = {_digest(row["text"]) for path in writers() for row in read(path.with_suffix(".heldout.jsonl"))}
    _report("router, writers A and B (split 60/40)", [(r, c) for r, c in routed if _digest(r["text"]) in first])
    for names in ("opq", "rst"):
        whole = {_digest(row["text"]) for path in heldout_only() if path.name[7] in names
                 for row in read(path)}
        _report(f"router, writers {', '.join(names.upper())} (held out whole)",
                [(r, c) for r, c in routed if _digest(r["text"]) in whole])
    rates = _report("router", routed).rates()
    # What this router reaches (see README, "Routing"): a floor against regressions.
    assert rates["right"] >= RIGHT_FLOOR
    assert rates["wrong"] <= WRONG_CEILING
    assert rates["asked"] <= ASKED_CEILING


def test_the_issue_targets(routed) -> None:  # type: ignore[no-untyped-def]
    """Issue 13's three targets, on all 1,455 held-out messages and on the 600 of writers R, S
    and T alone (written after the threshold rule was fixed, and read once to measure it)."""
    latest = {_digest(row["text"]) for path in heldout_only() if path.name[7] in "rst"
              for row in read(path)}
    for part_of in (routed, [(r, c) for r, c in routed if _digest(r["text"]) in latest]):
        score = Score()
        for row, result in part_of:
            score.add(row, result)
        rates = score.rates()
        assert rates["right"] >= TARGET_RIGHT, score.line()
        assert rates["wrong"] <= MAX_WRONG, score.line()
        assert rates["asked"] <= MAX_ASKED, score.line()


# Measured on the held-out part, 1,455 messages: 92.4% right, 0.8% confidently wrong, 8.6% asked
# (writers R, S and T: 93.5%, 0.3%, 7.3%), with the threshold of handlers/router_training's rule
# (out of fold, the pooled and the counseling confidently wrong shares within 1.5%) and the
# lexicon-silent gate of handlers/routing. A few messages of slack: a change that makes the router
# worse fails here.
RIGHT_FLOOR, WRONG_CEILING, ASKED_CEILING = 0.91, 0.012, 0.10


def test_the_split_is_the_committed_one_and_held_out_never_trains() -> None:
    assert writers(), "the corpus files are in tests/data/routing_corpus"
    for path in writers():
        train, heldout = split(read(path))
        assert train == read(path.with_suffix(".train.jsonl"))
        assert heldout == read(path.with_suffix(".heldout.jsonl"))
        assert abs(len(train) / (len(train) + len(heldout)) - 0.6) < 0.01
    shipped = read_corpus()
    assert shipped == assembled_training()
    held = {_digest(row["text"]) for row in part("heldout")}
    assert not held & {_digest(row["text"]) for row in shipped}


def test_the_shipped_head_was_trained_on_the_shipped_corpus() -> None:
    head = router_model.read_head(router_model.HEAD_FILE)
    assert head["training_sha256"] == corpus_digest(TRAINING_FILE), \
        "corpus changed: run python -m handlers.router_training"
    assert head["examples"] == len(read_corpus())
    assert 0.3 <= head["ask_below"] < 1.0


PROBES = ["anak ambo ndak pai sakolah", "Could I get an English translation of his report card?",
          "Bu,   Citra  dipukul kakak kelas!!", "NILAI MTK turun 😭😭", "café crème résumé naïve",
          "", "x" * 5000, "izin\t\nsakit  demam", "Ünïcödé ﬁ ligature ²"]


def test_the_service_computes_what_scikit_learn_trained() -> None:
    """The shipped numbers, run on numpy alone, give scikit-learn's own vectors and
    probabilities; and training twice gives the same numbers."""
    rows = read_corpus()[::3]
    texts, groups = [r["text"] for r in rows], [r["group"] for r in rows]
    model = fit_ngrams(texts, groups)
    again, first = export_ngrams(fit_ngrams(texts, groups)), export_ngrams(model)
    assert again.keys() == first.keys()
    assert all(np.array_equal(again[k], first[k]) for k in first)
    head = router_model.read_head(router_model.HEAD_FILE)
    subject_head = fit_subjects(model, rows)
    layer = LearnedLayer({**head, "ngrams": export_ngrams(model),
                          "subjects": export_subjects(subject_head)})
    vectorizer = model.steps[0][1]
    for text in PROBES + texts[:40]:
        clipped = text[:MAX_CHARS]
        expected = vectorizer.transform([clipped]).toarray()[0]
        indices, values = layer.model_vector(text)
        got = np.zeros_like(expected)
        got[indices] = values
        assert np.allclose(got, expected, atol=1e-5), text
        assert np.allclose(layer.model_probabilities(text), model.predict_proba([clipped])[0],
                           atol=1e-4), text
        expected_subjects = subject_probabilities(model, subject_head, [text])[0]
        got_subjects = layer.subject_probabilities(text)
        assert got_subjects.keys() == expected_subjects.keys()
        assert all(abs(got_subjects[k] - v) < 1e-4 for k, v in expected_subjects.items()), text


def test_the_router_keeps_what_the_lexicon_table_knows() -> None:
    """The lexicon's tuning table through the whole router: still routed as the table says, and
    greetings, introductions and thanks without a point are asked about, not guessed."""
    from handlers.classifier import group_of
    from tests.test_classifier import CASES
    from tests.test_classifier import SUBJECTS as TABLE_SUBJECTS

    wrong = []
    for text, category, _ in CASES:
        result = decide(read_text(text, TABLE_SUBJECTS))
        if category is None:
            if result.confident:
                wrong.append((text, result))
        elif result.group not in (group_of(category), None):
            wrong.append((text, result))
    assert len(wrong) <= len(CASES) * 0.02, wrong


@pytest.mark.parametrize("text", [
    "", "   ", "🙏🙏🙏", "p", "ok bu", "Selamat pagi", "Terima kasih banyak bu 🙏", "{{7*7}}",
    "<script>alert(1)</script>", "Halo pak, saya ibunya Rina kelas 7B", "x" * 4000,
])
def test_messages_without_a_point_are_asked_about(text: str) -> None:
    router_model.configure(router_model.BUILTIN)
    result = decide(read_text(text, SUBJECTS))
    assert result == Classification(None, None, None, False)


def test_long_pasted_text_is_routed() -> None:
    """A 4,000-character paste is routed like its sentence (its cost is measured in bench/)."""
    router_model.configure(router_model.BUILTIN)
    text = ("Selamat pagi Bu, mohon izin anak saya tidak masuk karena demam. " * 80)[:4000]
    result = decide(read_text(text, SUBJECTS))
    assert result.group == "absence"
