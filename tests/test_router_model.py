"""The router's learned layer as shipped numbers: what the service computes on numpy alone is
what scikit-learn trained (training messages only; held-out messages are in
tests/test_router_heldout.py)."""

from __future__ import annotations

import numpy as np

from handlers import router_model
from handlers.router_model import MAX_CHARS, LearnedLayer, neighbour_evidence, read_corpus
from handlers.router_training import (
    export_neighbours,
    export_ngrams,
    export_subjects,
    fit_ngrams,
    fit_subjects,
    neighbour_columns,
    subject_probabilities,
)

PROBES = ["anak ambo ndak pai sakolah", "Could I get an English translation of his report card?",
          "Bu,   Citra  dipukul kakak kelas!!", "NILAI MTK turun 😭😭", "café crème résumé naïve",
          "", "x" * 5000, "izin\t\nsakit  demam", "Ünïcödé ﬁ ligature ²"]


def test_the_service_computes_what_scikit_learn_trained() -> None:
    """The shipped numbers, run on numpy alone, give scikit-learn's own vectors, probabilities
    and cosines with the training messages; and training twice gives the same numbers."""
    rows = read_corpus()[::3]
    texts, groups = [r["text"] for r in rows], [r["group"] for r in rows]
    model = fit_ngrams(texts, groups)
    again, first = export_ngrams(fit_ngrams(texts, groups)), export_ngrams(model)
    assert again.keys() == first.keys()
    assert all(np.array_equal(again[k], first[k]) for k in first)
    head = router_model.read_head(router_model.HEAD_FILE)
    subject_head = fit_subjects(model, rows)
    layer = LearnedLayer({**head, "ngrams": export_ngrams(model),
                          "subjects": export_subjects(subject_head),
                          "neighbours": export_neighbours(model, texts, groups)})
    assert layer.neighbours is not None
    vectorizer = model.steps[0][1]
    width = len(first["terms"])
    # The training messages in group order (as the head keeps them), the columns the cosine reads.
    order = np.argsort([router_model.GROUP_ORDER.index(g) for g in groups], kind="stable")
    stored = vectorizer.transform([texts[i][:MAX_CHARS] for i in order]).tocsr()
    keep = neighbour_columns(stored, width)
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
        cosines = (vectorizer.transform([clipped])[:, keep] @ stored[:, keep].T).toarray()[0] / 2
        assert np.allclose(layer.neighbours.similarities((indices, values)), cosines,
                           atol=1e-5), text
        assert np.allclose(layer.neighbours.evidence((indices, values)),
                           neighbour_evidence(cosines, layer.neighbours.groups), atol=1e-5), text


def test_a_training_message_finds_its_own_group_nearest() -> None:
    """A message the training corpus holds word for word is its own nearest neighbour: the
    neighbours' evidence points to the group it was labelled with."""
    router_model.configure(router_model.BUILTIN)
    layer = router_model.learned_layer()
    assert layer is not None and layer.neighbours is not None
    for row in read_corpus()[::400]:
        vector = layer.model_vector(router_model.said_once(row["text"]))
        evidence = layer.neighbours.evidence(vector)
        best = evidence[len(router_model.GROUP_ORDER):]
        assert router_model.GROUP_ORDER[int(np.argmax(best))] == row["group"], row["text"]
