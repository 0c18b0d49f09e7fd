"""Training the router's learned layer: ``python -m handlers.router_training``.

Reads the labelled training corpus (handlers/data/routing_training.jsonl: the training part of
the fresh corpus, ``source: corpus``, and the lexicon's tuning table, ``source: tuning``; never a
held-out message, see tests/routing_corpus.py) and writes handlers/data/router_head.npz:

1. the combiner: a logistic regression over the lexicon's evidence and the n-gram model's
   probabilities (handlers/router_model.features). It is fitted on the fresh corpus only, with
   the model's probabilities taken out-of-fold (five folds), so it learns how far to trust each
   layer on messages neither was tuned or trained on;
2. ``ask_below``: the combined probability under which the router asks, read off the whole
   router's out-of-fold decisions on the fresh messages (short-message rule and subject head
   included; the model never saw the writer it judges): the lowest at which the confidently
   wrong share over all fresh messages, and over the counseling messages alone, stays within
   1.5% (issue 13's 2% less a margin), so that as few messages as possible are asked
   about while almost none go to the wrong person (the per-writer figures are printed);
3. the n-gram model (letter pieces, words and word pairs), trained on all examples, and the
   subject head on the same vector (trained on the fresh learning messages), exported as
   numbers (terms, idf, coefficients) that handlers/router_model.py runs on numpy alone.

scikit-learn is needed here and in the tests, not by the service. Everything is deterministic
and takes under a minute. The file records the corpus's SHA-256; a
test fails when the corpus changes and the head was not trained again.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections import Counter
from collections.abc import Callable, Sequence
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
    SUBJECT_SURE,
    SUBJECT_UNSURE,
    TRAINING_FILE,
    WORD_NGRAM_MAX,
    features,
    read_corpus,
    write_head,
    said_once,
)

# The subject list the corpus's lexicon evidence is read with (a junior high school's).
TRAINING_SUBJECTS = ["Matematika", "IPA", "IPS", "Bahasa Indonesia", "Bahasa Inggris", "PJOK",
                     "Seni Budaya", "PAI"]
# By cross-validation (2,634 fresh messages): 0.3, 1 and 3 tried with and without the lexicon's
# per-category evidence; 1 with it is right most often at <= 2% wrong.
COMBINER_C = 1.0
FOLDS = 5
# The contract puts safety first: the threshold is the lowest whose out-of-fold share of
# confidently wrong messages stays within MAX_WRONG, so the router asks no more than that needs.
# Issue 13's target is 2%; MAX_WRONG keeps half a point under it for the difference between one
# school's families and the corpus's writers. It holds for the pooled share over every writer's
# messages, not for each writer: with fourteen writers (192-450 messages, one message 0.2-0.5
# points) the worst writer's share is a few messages, and it held the threshold at 0.95
# (17.8% asked) where the pooled share was 0.8%. Instead, the messages most harmful to misroute,
# the counseling ones (harm, bullying, violence, emotions), must stay within the same share on
# their own.
MAX_WRONG = 0.015
CAREFUL_GROUP = "counseling"
MAX_WRONG_CAREFUL = 0.015  # the CAREFUL_GROUP's messages' confidently wrong share, on its own


def within_rule(wrong: float, careful_wrong: float) -> bool:
    """Whether a threshold's out-of-fold confidently wrong shares (over all fresh messages, and
    over those labelled CAREFUL_GROUP) meet the rule."""
    return wrong <= MAX_WRONG and careful_wrong <= MAX_WRONG_CAREFUL


# The n-gram model's regularisation and passes (chosen by cross-validation on the training
# part: 92.8% of its 1284 fresh messages to the right group by the model alone, letter pieces
# and words together; 91.4% with letter pieces alone, 91.6% with balanced class weights).
NGRAM_ALPHA = 1e-5
NGRAM_EPOCHS = 30
# Pieces of words and words seen in fewer training messages than this are left out. 2 was tried
# by cross-validation on the 2,634 fresh messages: a head half the size (4.5 MB, +16 MB resident
# instead of +34 MB) but out of fold 86.9% right, 12.3% asked, 1.9% wrong at its threshold,
# against 87.7%, 11.5%, 1.9% with every piece kept.
NGRAM_MIN_DF = 1


def fit_ngrams(texts: Sequence[str], groups: Sequence[str]) -> Any:
    """The n-gram model as a scikit-learn pipeline, trained deterministically (under a second).
    handlers/router_model.LearnedLayer computes the same from the exported numbers."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline, make_union

    model = make_pipeline(
        make_union(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(NGRAM_MIN, NGRAM_MAX),
                            sublinear_tf=True, strip_accents="unicode", dtype=np.float64,
                            min_df=NGRAM_MIN_DF),
            TfidfVectorizer(analyzer="word", ngram_range=(1, WORD_NGRAM_MAX),
                            sublinear_tf=True, strip_accents="unicode", dtype=np.float64,
                            min_df=NGRAM_MIN_DF)),
        _sgd())
    model.fit([text[:MAX_CHARS] for text in texts], [GROUP_ORDER.index(g) for g in groups])
    return model


def _sgd() -> Any:
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(loss="log_loss", alpha=NGRAM_ALPHA, max_iter=NGRAM_EPOCHS, tol=None,
                         random_state=0)


NO_SUBJECT = "-"


def fit_subjects(model: Any, rows: Sequence[dict[str, Any]]) -> Any:
    """The subject head on the n-gram model's vector: "no subject" or which, trained on the
    fresh learning messages (the only ones labelled with their subject)."""
    learning = [row for row in rows if row["group"] == "academic"]
    x = model.steps[0][1].transform([said_once(row["text"])[:MAX_CHARS] for row in learning])
    return _sgd().fit(x, [row.get("subject") or NO_SUBJECT for row in learning])


def subject_probabilities(model: Any, head: Any, texts: Sequence[str]) -> list[dict[Any, float]]:
    x = model.steps[0][1].transform([text[:MAX_CHARS] for text in texts])
    names = [None if c == NO_SUBJECT else str(c) for c in head.classes_]
    return [dict(zip(names, map(float, p), strict=True)) for p in head.predict_proba(x)]


def export_ngrams(model: Any) -> dict[str, Any]:
    """The fitted pipeline as plain numbers: terms in column order, idf, coefficients."""
    union, classifier = model.steps[0][1], model.steps[1][1]
    (_, chars), (_, words) = union.transformer_list
    terms = sorted(chars.vocabulary_, key=chars.vocabulary_.__getitem__)
    word_terms = sorted(words.vocabulary_, key=words.vocabulary_.__getitem__)
    return {"terms": terms, "idf": _rounded(chars.idf_),
            "word_terms": word_terms, "word_idf": _rounded(words.idf_),
            "coef": _rounded(classifier.coef_, np.float32),
            "intercept": _rounded(classifier.intercept_)}


def export_subjects(head: Any) -> dict[str, Any]:
    return {"names": [None if c == NO_SUBJECT else str(c) for c in head.classes_],
            "coef": _rounded(head.coef_, np.float32), "intercept": _rounded(head.intercept_)}


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


def choose_threshold(rows: list[dict[str, Any]], probabilities: Any, found: list[Any],
                     subjects: list[dict[Any, float]]) -> tuple[float, list[str]]:
    """The lowest ask threshold at which the out-of-fold confidently wrong share stays within
    MAX_WRONG over all fresh messages and MAX_WRONG_CAREFUL over the CAREFUL_GROUP's (the
    highest tried when none does), deciding as handlers/routing.decide does. The curve gives,
    for each threshold, the shares and the worst writer's wrong share, and each writer's
    figures at the chosen one."""
    from handlers.routing import Reading, decide

    curve: list[str] = []
    best: float | None = None
    writers = sorted({str(row.get("writer")) for row in rows})
    careful = sum(row["group"] == CAREFUL_GROUP for row in rows)
    for t in np.round(np.arange(0.30, 0.99, 0.01), 3):
        tally = {"right": 0, "asked": 0, "wrong": 0}
        asked = careful_wrong = 0
        by_writer = {w: Counter() for w in writers}
        for row, p, f, s in zip(rows, probabilities, found, subjects, strict=True):
            combined = dict(zip(GROUP_ORDER, map(float, p), strict=True))
            result = decide(Reading(f, combined, float(t), None, s))
            verdict = judge(row, result)
            tally[verdict] += 1
            asked += result.group is None
            careful_wrong += verdict == "wrong" and row["group"] == CAREFUL_GROUP
            by_writer[str(row.get("writer"))].update(
                {"n": 1, verdict: 1, "asked ": result.group is None})
        n = len(rows)
        wrong = tally["wrong"] / n
        careful_share = careful_wrong / max(careful, 1)
        worst = max(by_writer[w]["wrong"] / by_writer[w]["n"] for w in writers)
        curve.append(f"t={t:.3f} right={tally['right'] / n:.1%} asked={asked / n:.1%} "
                     f"wrong={wrong:.2%} {CAREFUL_GROUP} wrong={careful_share:.2%} "
                     f"({careful_wrong} of {careful}) worst writer wrong={worst:.1%}")
        if best is None and within_rule(wrong, careful_share):
            best = float(t)
            curve += [f"  {w}: right {c['right'] / c['n']:.1%}, asked {c['asked '] / c['n']:.1%}, "
                      f"wrong {c['wrong'] / c['n']:.1%} (n={c['n']})"
                      for w, c in by_writer.items()]
    return (best if best is not None else float(t)), curve


def out_of_fold_by_writer(rows: list[dict[str, Any]], texts: list[str], fresh: np.ndarray, *,
                          each_fold: Callable[[str, Any, np.ndarray, np.ndarray], None] | None = None,
                          ) -> tuple[np.ndarray, dict[int, dict[Any, float]]]:
    """The n-gram model's group probabilities and the subject head's, for each fresh message
    (index in ``fresh``), from models trained without that message's writer. ``each_fold(writer,
    model, held, rest)`` is called with each fold's model (a benchmark's own evidence)."""
    oof = np.zeros((len(rows), len(GROUP_ORDER)))
    subjects: dict[int, dict[Any, float]] = {}
    # One fold per writer: the model is judged on a writer whose style it never saw, as it
    # will be on a new school's families (random folds share a writer's habits across folds).
    writer_of = np.array([str(row.get("writer")) for row in rows])
    for name in sorted(set(writer_of[fresh])):
        held = fresh[writer_of[fresh] == name]
        rest = np.setdiff1d(np.arange(len(rows)), held)
        model = fit_ngrams([texts[i] for i in rest], [rows[i]["group"] for i in rest])
        oof[held] = model.predict_proba([texts[i] for i in held])
        head = fit_subjects(model, [rows[i] for i in np.intersect1d(rest, fresh)])
        subjects.update(zip(held.tolist(), subject_probabilities(
            model, head, [texts[i] for i in held]), strict=True))
        if each_fold is not None:
            each_fold(name, model, held, rest)
    return oof, subjects


def train(path: Path = TRAINING_FILE, *, verbose: bool = False) -> dict[str, Any]:
    """The head as written to HEAD_FILE: combiner weights and threshold for corpus ``path``."""
    rows = read_corpus(path)
    texts = [said_once(row["text"]) for row in rows]  # as handlers/routing.read_text gives them
    y = np.array([GROUP_ORDER.index(row["group"]) for row in rows])
    fresh = np.array([i for i, row in enumerate(rows) if row.get("source") == "corpus"])
    oof, subjects_oof = out_of_fold_by_writer(rows, texts, fresh)
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
    ask_below, curve = choose_threshold([rows[i] for i in fresh], combined_oof, found,
                                        [subjects_oof[int(i)] for i in fresh])
    if verbose:
        print("\n".join(curve))
        print(f"out-of-fold on the {len(fresh)} fresh training messages: n-gram model alone "
              f"{np.mean(oof[fresh].argmax(1) == y[fresh]):.1%} to the right group, combined "
              f"{np.mean(combined_oof.argmax(1) == y[fresh]):.1%}; ask below {ask_below}")
    final = fit_ngrams(texts, [row["group"] for row in rows])
    subject_head = fit_subjects(final, [rows[i] for i in fresh])
    return {
        "corpus": path.name,
        "training_sha256": corpus_digest(path),
        "examples": len(rows),
        "fresh_examples": len(fresh),
        "groups": list(GROUP_ORDER),
        "ask_below": ask_below,
        "combiner": {"C": COMBINER_C, "weights": _rounded(combiner.coef_),
                     "bias": _rounded(combiner.intercept_)},
        "ngrams": {"alpha": NGRAM_ALPHA, "epochs": NGRAM_EPOCHS, "min_df": NGRAM_MIN_DF,
                   **export_ngrams(final)},
        "subjects": {"sure": SUBJECT_SURE, "unsure": SUBJECT_UNSURE,
                     **export_subjects(subject_head)},
    }


def _rounded(array: Any, dtype: Any = np.float64) -> Any:
    """The numbers as shipped: float64 (float32 for the two heads' coefficients, as
    handlers/router_model.write_head stores them: no decision on the training set changes)."""
    return np.asarray(array, dtype=np.float64).astype(dtype)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="train the router's head and combiner")
    parser.add_argument("--corpus", type=Path, default=TRAINING_FILE)
    parser.add_argument("--out", type=Path, default=HEAD_FILE)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    head = train(args.corpus, verbose=not args.quiet)
    write_head(args.out, head)
    print(f"{args.out}: {head['examples']} examples, corpus {head['training_sha256'][:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
