"""The router's learned layer: a character n-gram model and the combiner that weighs it.

- The n-gram model (scikit-learn): TF-IDF over the 2-5 letter pieces of words, then a linear
  classifier over the four staff groups. Pieces of words survive chat spelling ("gk msk"),
  regional forms ("sakola", "ndak") and inflection, so it reads wording nobody wrote into the
  lexicon. It is trained once per process, on first use, from the labelled corpus shipped in
  handlers/data/routing_training.jsonl: about half a second, deterministic, nothing downloaded.
- The combiner weighs the model's probabilities against the lexicon's evidence per group (and
  the lexicon's own decision, and whether a subject is named as one). It was fitted on fresh
  messages the model had not seen (handlers/router_training.py) and ships as weights in
  handlers/data/router_head.json, with ``ask_below``: the combined probability under which the
  router asks. A confident disagreement between lexicon and model comes out below it.
- The school's corrections are compared in the same n-gram space (handlers/school_memory.py).

The ``ROUTER_MODEL`` setting: ``builtin`` (default), ``off`` (the lexicon alone), or the path of
another head file (its ``corpus`` names the training file beside it). The layer is built once
per process and shared; if it cannot be (scikit-learn absent, a file missing or broken) ONE
warning is logged and the router carries on with the lexicon alone.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from handlers.classifier import Evidence

log = logging.getLogger(__name__)

BUILTIN = "builtin"
OFF = "off"
DATA = Path(__file__).with_name("data")
HEAD_FILE = DATA / "router_head.json"
TRAINING_FILE = DATA / "routing_training.jsonl"
GROUP_ORDER = ("absence", "academic", "admin", "counseling")
MAX_CHARS = 2000  # a pasted essay says what it is about early; bounds the model's work
# The n-gram model's regularisation and passes (chosen by cross-validation on the training
# part: 87% of fresh messages to the right group by the model alone).
NGRAM_ALPHA = 1e-5
NGRAM_EPOCHS = 30

_lock = threading.Lock()
_setting = BUILTIN
_layers: dict[str, LearnedLayer | None] = {}  # per setting: the built layer, None after failure


def configure(setting: str | None) -> None:
    """Choose the learned layer for this process (``ROUTER_MODEL``); built on first use."""
    global _setting
    _setting = (setting or BUILTIN).strip() or BUILTIN


def current_setting() -> str:
    return _setting


def fit_ngrams(texts: Sequence[str], groups: Sequence[str]) -> Any:
    """The n-gram model (a scikit-learn pipeline), trained deterministically."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                        strip_accents="unicode", dtype=np.float32),
        SGDClassifier(loss="log_loss", alpha=NGRAM_ALPHA, max_iter=NGRAM_EPOCHS, tol=None,
                      random_state=0))
    model.fit([text[:MAX_CHARS] for text in texts], [GROUP_ORDER.index(g) for g in groups])
    return model


def features(found: Evidence, model_probabilities: Sequence[float]) -> list[float]:
    """What the combiner weighs: the lexicon's evidence per group, its own decision, whether a
    subject is named as one, and the model's log-probability per group."""
    totals = found.group_scores()
    decided = found.decided_group()
    out = [math.log1p(max(totals[g], 0.0)) for g in GROUP_ORDER]
    out += [1.0 if decided == g else 0.0 for g in GROUP_ORDER]
    out.append(1.0 if found.names_subject else 0.0)
    out += [math.log(float(p) + 1e-3) for p in model_probabilities]
    return out


FEATURES = 3 * len(GROUP_ORDER) + 1  # the length of ``features``


def softmax(logits: Any) -> Any:
    import numpy as np

    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def read_corpus(path: Path = TRAINING_FILE) -> list[dict[str, Any]]:
    """The training corpus: one JSON object a line with ``text``, ``group`` and ``source``."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    for row in rows:
        if row["group"] not in GROUP_ORDER:
            raise ValueError(f"{path.name}: unknown group {row['group']!r}")
    return rows


class LearnedLayer:
    """The n-gram model and the combiner, built from a head file and its corpus."""

    def __init__(self, head: dict[str, Any], corpus: list[dict[str, Any]]) -> None:
        import numpy as np

        if tuple(head["groups"]) != GROUP_ORDER:
            raise ValueError("the head's groups differ from GROUP_ORDER")
        self.weights = np.asarray(head["combiner"]["weights"], dtype=np.float64)
        self.bias = np.asarray(head["combiner"]["bias"], dtype=np.float64)
        self.ask_below = float(head["ask_below"])
        self.model = fit_ngrams([r["text"] for r in corpus], [r["group"] for r in corpus])
        self._vectorizer = self.model.steps[0][1]
        self._lock = threading.Lock()
        if self.weights.shape != (len(GROUP_ORDER), FEATURES):
            raise ValueError(f"combiner weights of shape {self.weights.shape}")

    def model_probabilities(self, text: str) -> Any:
        with self._lock:
            return self.model.predict_proba([text[:MAX_CHARS]])[0]

    def probabilities(self, found: Evidence, text: str) -> dict[str, float]:
        """The combined probability of each staff group for one message."""
        import numpy as np

        x = np.asarray(features(found, self.model_probabilities(text)))
        p = softmax(self.weights @ x + self.bias)
        return {group: float(v) for group, v in zip(GROUP_ORDER, p, strict=True)}

    def vectors(self, texts: Sequence[str]) -> Any:
        """Unit-length sparse n-gram vectors (rows), to compare messages with each other."""
        with self._lock:
            return self._vectorizer.transform([text[:MAX_CHARS] for text in texts])


def learned_layer() -> LearnedLayer | None:
    """The configured layer, built on first call; None when off, absent or broken."""
    setting = _setting
    if setting.lower() == OFF:
        return None
    if setting not in _layers:
        with _lock:
            if setting not in _layers:
                _layers[setting] = _build(setting)
    return _layers[setting]


def _build(setting: str) -> LearnedLayer | None:
    head_file = HEAD_FILE if setting == BUILTIN else Path(setting)
    try:
        head = json.loads(head_file.read_text(encoding="utf-8"))
        layer = LearnedLayer(head, read_corpus(head_file.parent / head["corpus"]))
    except ImportError as exc:
        log.warning("router model unavailable (%s): routing with the lexicon alone", exc)
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("router model %r failed to load (%s: %s): routing with the lexicon alone",
                    setting, type(exc).__name__, exc)
        return None
    log.info("router model %r ready (%d training messages)", setting, head.get("examples", 0))
    return layer
