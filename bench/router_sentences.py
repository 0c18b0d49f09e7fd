"""Evaluation: does a per-sentence reading help two-topic messages? Training corpus only.

``python -m bench.router_sentences [--cache DIR]`` (needs scikit-learn). With the shipped
features, and with them and the nearest training messages (bench/router_knn.py's variant ``both<=0.035 k=5
weighted``, from its cache: run it first with ``--spaces both 'both<=0.01' 'both<=0.035'
'both<=0.07' --k 5 10``), adds per group the n-gram model's highest probability over the
message's sentences (each sentence read alone, by the model of the fold that never saw the
writer), as its logarithm, and the number of sentences. Prints right / asked / wrong at the
shipped rule (handlers/router_training.within_rule) with and without, and the resamples.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import pickle
from pathlib import Path

import numpy as np

from bench.router_embeddings import Verdicts, _print, bootstrap, combined_oof, rule
from bench.router_knn import fresh_view, knn_features

from handlers.router_model import _SENTENCE_END, GROUP_ORDER, MAX_CHARS, features, read_corpus, said_once
from handlers.router_training import (
    TRAINING_FILE,
    corpus_digest,
    fit_ngrams,
)

# bench/router_knn.py run with these spaces: its cache holds the neighbours of the variant kept
SPACES = ("both", "both<=0.01", "both<=0.035", "both<=0.07")


def sentences(text: str) -> list[str]:
    seen: set[str] = set()
    out = []
    for sentence in _SENTENCE_END.split(text):
        key = " ".join(sentence.split()).casefold()
        if key and key not in seen:
            seen.add(key)
            out.append(sentence.strip()[:MAX_CHARS])
    return out or [""]


def per_sentence(rows, texts) -> np.ndarray:  # type: ignore[no-untyped-def]
    fresh = np.array([i for i, row in enumerate(rows) if row.get("source") == "corpus"])
    writer_of = np.array([str(row.get("writer")) for row in rows])
    out = np.zeros((len(rows), len(GROUP_ORDER) + 1))
    for name in sorted(set(writer_of[fresh])):
        held = fresh[writer_of[fresh] == name]
        rest = np.setdiff1d(np.arange(len(rows)), held)
        model = fit_ngrams([texts[i] for i in rest], [rows[i]["group"] for i in rest])
        for i in held:
            parts = sentences(rows[i]["text"])
            p = model.predict_proba(parts)
            out[i, :len(GROUP_ORDER)] = np.log(p.max(axis=0) + 1e-3)
            out[i, -1] = math.log(len(parts))
        print(f"  {name}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/jembatan_knn"))
    args = parser.parse_args(argv)
    rows = read_corpus(TRAINING_FILE)
    texts = [said_once(row["text"]) for row in rows]
    digest = corpus_digest(TRAINING_FILE)[:16]
    key = hashlib.sha256(repr(SPACES).encode()).hexdigest()[:8]
    data = pickle.loads((args.cache / f"knn_{digest}_{key}.pickle").read_bytes())
    cached = args.cache / f"sentences_{digest}.npy"
    if cached.exists():
        extra = np.load(cached)
    else:
        extra = per_sentence(rows, texts)
        np.save(cached, extra)
    fresh, writers, fresh_rows, careful, y, found, subjects = fresh_view(rows, texts, data)
    near = knn_features(data["near"]["both<=0.035"], 5, "weighted")
    shipped = np.array([features(f, data["oof"][i]) for f, i in zip(found, fresh, strict=True)])
    base = np.hstack([shipped, near[fresh]])
    two = np.array([len(sentences(rows[i]["text"])) > 1 for i in fresh])
    print(f"messages of two sentences or more: {two.mean():.1%}")
    for label, start in (("shipped", shipped), ("shipped + neighbours", base)):
        variants = {label: start,
                    "+ per sentence, highest per group": np.hstack([start, extra[fresh, :4]]),
                    "+ the same and the number of sentences": np.hstack([start, extra[fresh]])}
        verdicts = {}
        for name, x in variants.items():
            verdicts[name] = Verdicts(fresh_rows, combined_oof(x, y), found, subjects)
            t, result = rule(verdicts[name].at, writers, careful)
            _print(name, t, result, None, None)
        for name in variants:
            if name != label:
                less = bootstrap(verdicts[label], verdicts[name], writers, careful)
                print(f"{name}: asked less than {label} at the rule over resamples: mean "
                      f"{less['mean']:.1%}, 5-95% [{less['p5']:.1%}, {less['p95']:.1%}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
