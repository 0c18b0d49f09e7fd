"""Training the router's learned layer: ``python -m handlers.router_training``.

Reads the labelled training corpus (handlers/data/routing_training.jsonl: the training part of
the fresh corpus, ``source: corpus``, and the lexicon's tuning table, ``source: tuning``; never a
held-out message, see tests/routing_corpus.py) and writes handlers/data/router_head.json:

1. the combiner: a logistic regression over the lexicon's evidence and the n-gram model's
   probabilities (handlers/router_model.features). It is fitted on the fresh corpus only, with
   the model's probabilities taken out-of-fold (five folds), so it learns how far to trust each
   layer on messages neither was tuned or trained on;
2. ``ask_below``: the combined probability under which the router asks, read off the combiner's
   own out-of-fold predictions: the highest that asks at most ASK_BUDGET of the messages.

3. the n-gram model, trained on all examples, exported as numbers (terms, idf, coefficients)
   that handlers/router_model.py runs on numpy alone.

scikit-learn is needed here and in the tests, not by the service. Everything is deterministic
and takes a few seconds. The file records the corpus's SHA-256; a
test fails when the corpus changes and the head was not trained again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from handlers.classifier import Classification, evidence
from handlers.router_model import (
    GROUP_ORDER,
    HEAD_FILE,
    MAX_CHARS,
    NGRAM_MAX,
    NGRAM_MIN,
    TRAINING_FILE,
    features,
    read_corpus,
)

# The subject list the corpus's lexicon evidence is read with (a junior high school's).
TRAINING_SUBJECTS = ["Matematika", "IPA", "IPS", "Bahasa Indonesia", "Bahasa Inggris", "PJOK",
                     "Seni Budaya", "PAI"]
COMBINER_C = 1.0
FOLDS = 5
# The router may ask this share of messages (the old lexicon asked about 19% of fresh ones);
# within it, as few as possible go to the wrong person.
ASK_BUDGET = 0.18


# The n-gram model's regularisation and passes (chosen by cross-validation on the training
# part: 87% of its fresh messages to the right group by the model alone).
NGRAM_ALPHA = 1e-5
NGRAM_EPOCHS = 30


def fit_ngrams(texts: Sequence[str], groups: Sequence[str]) -> Any:
    """The n-gram model as a scikit-learn pipeline, trained deterministically (under a second).
    handlers/router_model.LearnedLayer computes the same from the exported numbers."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(NGRAM_MIN, NGRAM_MAX),
                        sublinear_tf=True, strip_accents="unicode", dtype=np.float64),
        SGDClassifier(loss="log_loss", alpha=NGRAM_ALPHA, max_iter=NGRAM_EPOCHS, tol=None,
                      random_state=0))
    model.fit([text[:MAX_CHARS] for text in texts], [GROUP_ORDER.index(g) for g in groups])
    return model


def export_ngrams(model: Any) -> dict[str, Any]:
    """The fitted pipeline as plain numbers: terms in column order, idf, coefficients."""
    vectorizer, classifier = model.steps[0][1], model.steps[1][1]
    terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
    return {"terms": terms, "idf": _rounded(vectorizer.idf_),
            "coef": _rounded(classifier.coef_), "intercept": _rounded(classifier.intercept_)}


def corpus_digest(path: Path = TRAINING_FILE) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _logreg(x: Any, y: Sequence[int], c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=5000).fit(x, list(y))


def judge(row: dict[str, Any], result: Classification) -> str:
    """"right", "asked" (not acceptable) or "wrong": the same rule as the held-out tests."""
    if result.group is None:
        return "right" if row.get("ask_ok") else "asked"
    if result.group != row["group"]:
        return "wrong"
    want = row.get("subject")
    if want and (result.subject or "").casefold() != str(want).casefold():
        return "wrong"
    return "right"


def choose_threshold(rows: list[dict[str, Any]], probabilities: Any,
                     found: list[Any]) -> tuple[float, list[str]]:
    """The highest ask threshold whose out-of-fold asked share stays within ASK_BUDGET."""
    curve: list[str] = []
    best: float | None = None
    for t in np.round(np.arange(0.30, 0.96, 0.025), 3):
        tally = {"right": 0, "asked": 0, "wrong": 0}
        for row, p, f in zip(rows, probabilities, found, strict=True):
            g = GROUP_ORDER[int(np.argmax(p))]
            result = (Classification(f.best_category(g) or "x", g, f.subject, True)
                      if p.max() >= t else Classification(None, None, f.subject, False))
            tally[judge(row, result)] += 1
        n = len(rows)
        asked = sum(1 for p in probabilities if p.max() < t)
        curve.append(f"t={t:.3f} right={tally['right'] / n:.1%} asked={asked / n:.1%} "
                     f"wrong={tally['wrong'] / n:.1%}")
        if best is None or asked / n <= ASK_BUDGET:
            best = float(t)
    assert best is not None
    return best, curve


def train(path: Path = TRAINING_FILE, *, verbose: bool = False) -> dict[str, Any]:
    """The head as written to HEAD_FILE: combiner weights and threshold for corpus ``path``."""
    rows = read_corpus(path)
    texts = [row["text"] for row in rows]
    y = np.array([GROUP_ORDER.index(row["group"]) for row in rows])
    fresh = np.array([i for i, row in enumerate(rows) if row.get("source") == "corpus"])
    # The model's probabilities for each fresh message, from a model trained without it.
    oof = np.zeros((len(rows), len(GROUP_ORDER)))
    for k in range(FOLDS):
        held = fresh[k::FOLDS]
        rest = np.setdiff1d(np.arange(len(rows)), held)
        model = fit_ngrams([texts[i] for i in rest], [rows[i]["group"] for i in rest])
        oof[held] = model.predict_proba([texts[i] for i in held])
    found = [evidence(texts[i], TRAINING_SUBJECTS) for i in fresh]
    x = np.array([features(f, oof[i]) for f, i in zip(found, fresh, strict=True)])
    combiner = _logreg(x, y[fresh], COMBINER_C)

    # The threshold is read off predictions the combiner made without the message itself.
    combined_oof = np.zeros((len(fresh), len(GROUP_ORDER)))
    positions = np.arange(len(fresh))
    for k in range(FOLDS):
        held = positions[k::FOLDS]
        rest = np.setdiff1d(positions, held)
        combined_oof[held] = _logreg(x[rest], y[fresh][rest], COMBINER_C).predict_proba(x[held])
    ask_below, curve = choose_threshold([rows[i] for i in fresh], combined_oof, found)
    if verbose:
        print("\n".join(curve))
        print(f"out-of-fold on the {len(fresh)} fresh training messages: n-gram model alone "
              f"{np.mean(oof[fresh].argmax(1) == y[fresh]):.1%} to the right group, combined "
              f"{np.mean(combined_oof.argmax(1) == y[fresh]):.1%}; ask below {ask_below}")
    final = fit_ngrams(texts, [row["group"] for row in rows])
    return {
        "corpus": path.name,
        "training_sha256": corpus_digest(path),
        "examples": len(rows),
        "fresh_examples": len(fresh),
        "groups": list(GROUP_ORDER),
        "ask_below": ask_below,
        "combiner": {"C": COMBINER_C, "weights": _rounded(combiner.coef_),
                     "bias": _rounded(combiner.intercept_)},
        "ngrams": {"alpha": NGRAM_ALPHA, "epochs": NGRAM_EPOCHS, **export_ngrams(final)},
    }


def _rounded(array: Any) -> Any:
    return np.round(np.asarray(array, dtype=np.float64), 6).tolist()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="train the router's head and combiner")
    parser.add_argument("--corpus", type=Path, default=TRAINING_FILE)
    parser.add_argument("--out", type=Path, default=HEAD_FILE)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    head = train(args.corpus, verbose=not args.quiet)
    args.out.write_text(json.dumps(head, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{args.out}: {head['examples']} examples, corpus {head['training_sha256'][:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
