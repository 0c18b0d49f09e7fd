"""Evaluation: do the k nearest training messages in the n-gram model's own TF-IDF space help
the combiner ask less at the shipped rule? Training corpus only, by the shipped protocol.

``python -m bench.router_knn [--cache DIR]`` (needs scikit-learn, as the trainer). Reads
handlers/data/routing_training.jsonl only (never a held-out message) and replays
handlers/router_training.train's cross-validation:

- the n-gram model and subject head are judged one writer at a time (a fold per writer), and the
  neighbours of a writer's message are looked for among the other writers' messages and the
  tuning table, in the TF-IDF space of the fold's own vectorizer (the idf never saw the writer);
- the combiner's out-of-fold probabilities come from five random folds, as shipped;
- the threshold is the shipped rule (handlers/router_training.within_rule).

Spaces: ``chars`` (the letter pieces' unit vector, the one the school's corrections are compared
in), ``words`` (words and word pairs) and ``both`` (the model's vector: the two side by side,
cosine = half their dot product). Evidence per group, as the e5 kNN of bench/router_embeddings:
the share of the k nearest, and the highest cosine; ``weighted``: the cosine-weighted share.

Prints right / asked / wrong at the rule, the counseling messages' wrong share, the worst
writer, and how much less each variant asks than the shipped router over resamples of each
writer's messages (bench/router_embeddings.bootstrap).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.router_embeddings import compare
from handlers.classifier import evidence
from handlers.router_model import GROUP_ORDER, MAX_CHARS, features, read_corpus, said_once
from handlers.router_training import (
    CAREFUL_GROUP,
    TRAINING_FILE,
    TRAINING_SUBJECTS,
    corpus_digest,
    out_of_fold_by_writer,
)

SPACES = ("chars", "words", "both")
TOP = 50  # neighbours kept per message and space (k up to this)


def _similarities(space: str, a: Any, b: Any, width: int) -> np.ndarray:
    """Cosines of the held-out messages ``a`` with the others ``b`` (model vectors, letter
    pieces in the first ``width`` columns). ``both <= s``: the letter pieces found in at most a
    share s of the other messages only (the common ones are most of the work of a sparse
    product and say least), beside the words."""
    chars = (a[:, :width], b[:, :width])
    words = (a[:, width:], b[:, width:])
    if space == "chars":
        return (chars[0] @ chars[1].T).toarray()
    if space == "words":
        return (words[0] @ words[1].T).toarray()
    if space != "both":
        share = float(space.split("<=")[1])
        df = np.asarray((chars[1] > 0).sum(axis=0)).ravel()
        keep = np.flatnonzero(df <= share * chars[1].shape[0])
        chars = (chars[0][:, keep], chars[1][:, keep])
    return ((chars[0] @ chars[1].T).toarray() + (words[0] @ words[1].T).toarray()) / 2.0


def knn_pass(rows: list[dict[str, Any]], texts: list[str],
             spaces: tuple[str, ...] = SPACES) -> dict[str, Any]:
    """A fold per writer: the n-gram model's and subject head's probabilities (as
    router_training.out_of_fold_by_writer) and, per space, each fresh message's TOP nearest
    messages of other writers (cosine, group) and its highest cosine per group."""
    fresh = np.array([i for i, row in enumerate(rows) if row.get("source") == "corpus"])
    y = np.array([GROUP_ORDER.index(row["group"]) for row in rows])
    near = {s: {"sim": np.zeros((len(rows), TOP)), "group": np.zeros((len(rows), TOP), int),
                "max": np.zeros((len(rows), len(GROUP_ORDER)))} for s in spaces}
    clipped = [t[:MAX_CHARS] for t in texts]

    def neighbours(name: str, model: Any, held: np.ndarray, rest: np.ndarray) -> None:
        union = model.steps[0][1]
        width = len(union.transformer_list[0][1].vocabulary_)
        a = union.transform([clipped[i] for i in held]).tocsr()
        b = union.transform([clipped[i] for i in rest]).tocsr()
        for space in spaces:
            sims = _similarities(space, a, b, width)
            order = np.argsort(-sims, axis=1, kind="stable")[:, :TOP]
            near[space]["sim"][held] = np.take_along_axis(sims, order, axis=1)
            near[space]["group"][held] = y[rest][order]
            for g in range(len(GROUP_ORDER)):
                near[space]["max"][held, g] = np.where(y[rest] == g, sims, 0.0).max(axis=1)
        print(f"  {name}: {len(held)} messages", flush=True)

    oof, subjects = out_of_fold_by_writer(rows, texts, fresh, each_fold=neighbours)
    return {"oof": oof, "subjects": subjects, "near": near}


def knn_features(near: dict[str, np.ndarray], k: int, kind: str) -> np.ndarray:
    """Per group: the share of the k nearest (or their cosine-weighted share), then the highest
    cosine."""
    sim, group = near["sim"][:, :k], near["group"][:, :k]
    out = []
    for g in range(len(GROUP_ORDER)):
        if kind == "weighted":
            total = np.maximum(sim.sum(axis=1), 1e-9)
            out.append(np.where(group == g, sim, 0.0).sum(axis=1) / total)
        else:
            out.append((group == g).mean(axis=1))
    return np.hstack([np.array(out).T, near["max"]])


def fresh_view(rows: list[dict[str, Any]], texts: list[str], data: dict[str, Any]) -> tuple[Any, ...]:
    """The fresh training messages as the variants are judged on them: their indices, writers,
    rows, which are counseling, group numbers, lexicon evidence and out-of-fold subjects."""
    fresh = np.array([i for i, row in enumerate(rows) if row.get("source") == "corpus"])
    writers = np.array([str(rows[i].get("writer")) for i in fresh])
    fresh_rows = [rows[i] for i in fresh]
    careful = np.array([row["group"] == CAREFUL_GROUP for row in fresh_rows])
    y = np.array([GROUP_ORDER.index(row["group"]) for row in fresh_rows])
    found = [evidence(texts[i], TRAINING_SUBJECTS) for i in fresh]
    subjects = [data["subjects"][int(i)] for i in fresh]
    return fresh, writers, fresh_rows, careful, y, found, subjects


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/jembatan_knn"))
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--spaces", nargs="+", default=list(SPACES),
                        help=f"of {', '.join(SPACES)}, or 'both<=0.035' (letter pieces in at most "
                        "3.5%% of the messages)")
    parser.add_argument("--k", type=int, nargs="+", default=[5, 10, 20])
    args = parser.parse_args(argv)
    spaces = tuple(args.spaces)
    args.cache.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows = read_corpus(TRAINING_FILE)
    texts = [said_once(row["text"]) for row in rows]
    key = hashlib.sha256(repr(spaces).encode()).hexdigest()[:8]
    cached = args.cache / f"knn_{corpus_digest(TRAINING_FILE)[:16]}_{key}.pickle"
    if cached.exists():
        data = pickle.loads(cached.read_bytes())
    else:
        data = knn_pass(rows, texts, spaces)
        cached.write_bytes(pickle.dumps(data))
    fresh, writers, fresh_rows, careful, y, found, subjects = fresh_view(rows, texts, data)
    base = np.array([features(f, data["oof"][i]) for f, i in zip(found, fresh, strict=True)])
    print(f"alone, right group out of fold: n-gram model "
          f"{np.mean(data['oof'][fresh].argmax(1) == y):.1%}; " + ", ".join(
              f"{s} {k}-NN vote {np.mean(knn_features(data['near'][s], k, 'share')[fresh, :4].argmax(1) == y):.1%}"  # noqa: E501
              for s in spaces for k in args.k))

    variants: dict[str, np.ndarray] = {"shipped": base}
    for space in spaces:
        for k in args.k:
            for kind in ("share", "weighted"):
                extra = knn_features(data["near"][space], k, kind)[fresh]
                variants[f"{space} k={k} {kind}"] = np.hstack([base, extra])
    report, _ = compare(variants, y, fresh_rows, found, subjects, writers, careful, near_asked=0.108)
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
