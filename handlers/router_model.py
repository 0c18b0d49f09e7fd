"""The router's learned layer: a character n-gram model and the combiner that weighs it.

- The n-gram model: TF-IDF over the 2-5 letter pieces of words and, beside them, over words and
  word pairs, and a linear classifier over the four staff groups. Pieces of words survive chat
  spelling ("gk msk"), regional forms ("sakola", "ndak") and inflection, so it reads wording
  nobody wrote into the lexicon; words and pairs ("tidak masuk", "uang gedung") add the order.
- The subject head: a second linear classifier on the same vector, over "no subject" and the
  subjects, for the learning messages that name no subject but are about one ("rumus
  pythagoras", "praktikum", "renang").
- The combiner weighs the model's probabilities against the lexicon's evidence per group (and
  the lexicon's own decision, and whether a subject is named as one), with ``ask_below``: the
  combined probability under which the router asks. A confident disagreement between lexicon
  and model comes out below it.
- The school's corrections are compared in the same n-gram space (handlers/school_memory.py).

Both are trained by handlers/router_training.py (scikit-learn, at build time) on the labelled
corpus in handlers/data/routing_training.jsonl and shipped as numbers in one compressed numpy
file, handlers/data/router_head.npz (the terms as sorted UTF-8 byte strings, looked up with
``searchsorted``; the coefficients as float32; the rest, JSON, under ``meta``); here they run on
numpy alone, so the service imports no machine learning library (scikit-learn with scipy and
pandas would cost some 130 MB of memory) and nothing is downloaded. A test checks this module
computes what scikit-learn computes.

The ``ROUTER_MODEL`` setting: ``builtin`` (default), ``off`` (the lexicon alone), or the path of
another head file. The layer is loaded once per process, on first use, and shared; if it cannot
be (a file missing or broken) ONE warning is logged and the router carries on with the lexicon
alone.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from handlers.classifier import CATEGORIES, Evidence

log = logging.getLogger(__name__)

BUILTIN = "builtin"
OFF = "off"
DATA = Path(__file__).with_name("data")
HEAD_FILE = DATA / "router_head.npz"
HEAD_FORMAT = 2  # 1 was one JSON document (9.2 MB, +33 MB resident, 0.5-0.8 s to load)
TRAINING_FILE = DATA / "routing_training.jsonl"
GROUP_ORDER = ("absence", "academic", "admin", "counseling")
MAX_CHARS = 2000  # a pasted essay says what it is about early; bounds the model's work
NGRAM_MIN, NGRAM_MAX = 2, 5
WORD_NGRAM_MAX = 2  # words and word pairs
_WORD = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's token pattern
# The subject head's operating points (chosen by cross-validation on the training corpus): a
# learning message in which the lexicon found no subject takes the head's subject when it is at
# least SUBJECT_SURE; when the head is not sure of one and not sure either (SUBJECT_UNSURE) that
# it names no subject, the message is about some subject the router cannot tell, and it asks:
# the wali kelas is the wrong person for a question about poems or the Al-Mulk recitation.
SUBJECT_SURE = 0.6
SUBJECT_UNSURE = 0.9

_lock = threading.Lock()
_setting = BUILTIN
_layers: dict[str, LearnedLayer | None] = {}  # per setting: the built layer, None after failure


def configure(setting: str | None) -> None:
    """Choose the learned layer for this process (``ROUTER_MODEL``); built on first use."""
    global _setting
    _setting = (setting or BUILTIN).strip() or BUILTIN


def current_setting() -> str:
    return _setting


def features(found: Evidence, model_probabilities: Sequence[float]) -> list[float]:
    """What the combiner weighs: the lexicon's evidence per group, its own decision, whether a
    subject is named as one, the model's log-probability per group, and the lexicon's evidence
    per category (so that, say, bullying beside a fee question can outweigh the fee)."""
    totals = found.group_scores()
    decided = found.decided_group()
    out = [math.log1p(max(totals[g], 0.0)) for g in GROUP_ORDER]
    out += [1.0 if decided == g else 0.0 for g in GROUP_ORDER]
    out.append(1.0 if found.names_subject else 0.0)
    out += [math.log(float(p) + 1e-3) for p in model_probabilities]
    out += [math.log1p(max(found.scores[c], 0.0)) for c in CATEGORIES]
    return out


FEATURES = 3 * len(GROUP_ORDER) + 1 + len(CATEGORIES)  # the length of ``features``


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


_WHITE_SPACES = re.compile(r"\s\s+")


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")


def said_once(text: str) -> str:
    """The message with each sentence once: a thanks pasted fifteen times around one line about
    grades is still a message about grades (the model reads proportions, the lexicon words)."""
    seen: set[str] = set()
    kept: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        key = " ".join(sentence.split()).casefold()
        if key and key not in seen:
            seen.add(key)
            kept.append(sentence.strip())
    return " ".join(kept)


def _normalised(text: str) -> str:
    """Clipped, lower case, accents stripped (scikit-learn's ``strip_accents="unicode"``)."""
    text = text[:MAX_CHARS].lower()
    try:
        text.encode("ascii")
    except UnicodeEncodeError:
        text = "".join(c for c in unicodedata.normalize("NFKD", text)
                       if not unicodedata.combining(c))
    return text


def word_ngrams(text: str) -> list[str]:
    """Words of two letters or more and pairs of them (scikit-learn's ``word`` analyser)."""
    words = _WORD.findall(_normalised(text))
    out = list(words)
    for n in range(2, WORD_NGRAM_MAX + 1):
        out += [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
    return out


def ngrams(text: str) -> list[str]:
    """The 2-5 letter pieces of each word, padded with a space at both ends of the word
    (scikit-learn's ``char_wb`` analyser after lower case and accents stripped)."""
    text = _normalised(text)
    out: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text).split():
        word = f" {word} "
        length = len(word)
        for n in range(NGRAM_MIN, NGRAM_MAX + 1):
            if n >= length:  # a short word counts once, whole
                out.append(word)
                break
            out.extend([word[i:i + n] for i in range(length - n + 1)])
    return out


class Vocabulary:
    """Terms as a sorted array of UTF-8 byte strings: a few bytes a term, where a dict of str
    costs some 120 (the JSON head's 98,000 terms: +12 MB resident). ``columns`` maps a
    term's rank in the sorted array to its column in the model."""

    def __init__(self, terms: Any) -> None:
        import numpy as np

        if isinstance(terms, list):
            if any("\0" in t for t in terms):  # numpy's byte strings would drop it
                raise ValueError("a term holds a NUL character")
            terms = [t.encode("utf-8") for t in terms]
        encoded = np.asarray(terms)
        if encoded.dtype.kind != "S" or encoded.ndim != 1:
            raise ValueError("terms must be byte strings")
        order = np.argsort(encoded, kind="stable")
        self.sorted = encoded[order]
        if len(self.sorted) > 1 and not (self.sorted[1:] > self.sorted[:-1]).all():
            raise ValueError("terms repeat")
        self.columns = order.astype(np.int64)
        self.width = encoded.dtype.itemsize

    def __len__(self) -> int:
        return len(self.sorted)

    def lookup(self, grams: Sequence[str]) -> Any:
        """Each gram's column, -1 where the gram is not a term."""
        import numpy as np

        encoded = [g.encode("utf-8") for g in grams]
        # Longer than any term, or with a NUL (which numpy's byte strings would drop): unknown.
        known = np.fromiter((len(e) <= self.width and b"\0" not in e for e in encoded),
                            dtype=bool, count=len(encoded))
        query = np.array([e if k else b"" for e, k in zip(encoded, known, strict=True)],
                         dtype=f"S{self.width}")
        if not len(self.sorted):
            return np.full(len(encoded), -1, dtype=np.int64)
        rank = np.minimum(np.searchsorted(self.sorted, query), len(self.sorted) - 1)
        found = known & (self.sorted[rank] == query)
        return np.where(found, self.columns[rank], -1)


def read_head(path: Path) -> dict[str, Any]:
    """A head file as the nested mapping ``LearnedLayer`` takes (what router_training.train
    returns): ``meta`` and its arrays."""
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    head = json.loads(str(arrays.pop("meta")))
    if not isinstance(head, dict) or head.get("format") != HEAD_FORMAT:
        raise ValueError(f"not a head of format {HEAD_FORMAT}")
    for name, array in arrays.items():
        part, _, key = name.partition(".")
        head[part][key] = array
    return head


def write_head(path: Path, head: dict[str, Any]) -> None:
    """One compressed numpy file: every array under ``part.key``, everything else as JSON."""
    import numpy as np

    meta: dict[str, Any] = {"format": HEAD_FORMAT}
    arrays: dict[str, Any] = {}
    for name, value in head.items():
        if isinstance(value, dict):
            meta[name] = {}
            for key, item in value.items():
                if key in ("terms", "word_terms"):
                    arrays[f"{name}.{key}"] = np.asarray([t.encode("utf-8") for t in item])
                elif isinstance(item, (list, np.ndarray)) and key != "names":
                    array = np.asarray(item, dtype=np.float64)
                    arrays[f"{name}.{key}"] = array.astype(np.float32) if key == "coef" else array
                else:
                    meta[name][key] = item
        else:
            meta[name] = value
    with path.open("wb") as out:
        np.savez_compressed(out, meta=np.array(json.dumps(meta)), **arrays)


class LearnedLayer:
    """The n-gram model and the combiner, as numbers from a head file."""

    def __init__(self, head: dict[str, Any]) -> None:
        import numpy as np

        if tuple(head["groups"]) != GROUP_ORDER:
            raise ValueError("the head's groups differ from GROUP_ORDER")
        model = head["ngrams"]
        self.terms = Vocabulary(model["terms"])
        self.idf = np.asarray(model["idf"], dtype=np.float64)
        self.word_terms = Vocabulary(model["word_terms"])
        self.word_idf = np.asarray(model["word_idf"], dtype=np.float64)
        width = len(self.terms) + len(self.word_terms)
        # float32: a logit moves by some 1e-6, no decision on the training messages changes.
        self.coef = np.asarray(model["coef"], dtype=np.float32)  # (groups, terms + word terms)
        self.intercept = np.asarray(model["intercept"], dtype=np.float64)
        self.weights = np.asarray(head["combiner"]["weights"], dtype=np.float64)
        self.bias = np.asarray(head["combiner"]["bias"], dtype=np.float64)
        self.ask_below = float(head["ask_below"])
        if self.coef.shape != (len(GROUP_ORDER), width) or \
                self.idf.shape != (len(self.terms),) or \
                self.word_idf.shape != (len(self.word_terms),):
            raise ValueError(f"n-gram model of shape {self.coef.shape}")
        subjects = head.get("subjects")  # absent: no subject head, the lexicon's subjects alone
        self.subject_names: list[str | None] = list(subjects["names"]) if subjects else []
        self.subject_coef = np.asarray(subjects["coef"] if subjects else np.zeros((0, width)),
                                       dtype=np.float32)
        self.subject_intercept = np.asarray(subjects["intercept"] if subjects else [],
                                            dtype=np.float64)
        if self.subject_coef.shape != (len(self.subject_names), width):
            raise ValueError(f"subject head of shape {self.subject_coef.shape}")
        if self.weights.shape != (len(GROUP_ORDER), FEATURES):
            raise ValueError(f"combiner weights of shape {self.weights.shape}")

    def vector(self, text: str) -> tuple[Any, Any]:
        """The message's unit-length TF-IDF vector of letter pieces, sparse: (term indices,
        values). The school's corrections are compared in this space."""
        return _tfidf(ngrams(text), self.terms, self.idf)

    def model_vector(self, text: str) -> tuple[Any, Any]:
        """What the classifiers read: the letter pieces' vector, then the words' (each of unit
        length), sparse over terms + word terms."""
        import numpy as np

        indices, values = self.vector(text)
        word_indices, word_values = _tfidf(word_ngrams(text), self.word_terms, self.word_idf)
        return (np.concatenate([indices, word_indices + len(self.terms)]),
                np.concatenate([values, word_values]))

    def model_probabilities(self, text: str, vector: tuple[Any, Any] | None = None) -> Any:
        """The n-gram model's probability per group (one-vs-rest, normalised); ``vector`` is
        the text's ``model_vector`` when the caller has it already (it is the costly part)."""
        return _one_vs_rest(self.coef, self.intercept, vector or self.model_vector(text))

    def subject_probabilities(self, text: str,
                              vector: tuple[Any, Any] | None = None) -> dict[str | None, float]:
        """The subject head's probability of each subject, and of none (key None)."""
        if not self.subject_names:
            return {}
        p = _one_vs_rest(self.subject_coef, self.subject_intercept,
                         vector or self.model_vector(text))
        return {name: float(v) for name, v in zip(self.subject_names, p, strict=True)}

    def probabilities(self, found: Evidence, text: str,
                      vector: tuple[Any, Any] | None = None) -> dict[str, float]:
        """The combined probability of each staff group for one message."""
        import numpy as np

        x = np.asarray(features(found, self.model_probabilities(text, vector)))
        p = softmax(self.weights @ x + self.bias)
        return {group: float(v) for group, v in zip(GROUP_ORDER, p, strict=True)}


def _tfidf(grams: list[str], terms: Vocabulary, idf: Any) -> tuple[Any, Any]:
    """Sublinear TF-IDF of the known grams, unit length, sparse: (term indices, values)."""
    import numpy as np

    counted = Counter(grams)  # counted in C, then looked up once each
    columns = terms.lookup(list(counted))
    known = columns >= 0
    indices = columns[known]
    counts = np.fromiter(counted.values(), dtype=np.float64, count=len(counted))[known]
    values = (1.0 + np.log(counts)) * idf[indices]
    norm = float(np.sqrt(values @ values))
    return indices, (values / norm if norm else values)


def _one_vs_rest(coef: Any, intercept: Any, vector: tuple[Any, Any]) -> Any:
    """scikit-learn's SGDClassifier.predict_proba: sigmoids of the scores, normalised."""
    import numpy as np

    indices, values = vector
    p = 1.0 / (1.0 + np.exp(-(coef[:, indices].astype(np.float64) @ values + intercept)))
    total = p.sum()
    return p / total if total else np.full(len(p), 1.0 / len(p))


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


def is_ready() -> bool:
    """Whether :func:`learned_layer` answers at once (built, failed, or off)."""
    return _setting.lower() == OFF or _setting in _layers


def _build(setting: str) -> LearnedLayer | None:
    head_file = HEAD_FILE if setting == BUILTIN else Path(setting)
    try:
        head = read_head(head_file)
        layer = LearnedLayer(head)
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("router model %r failed to load (%s: %s): routing with the lexicon alone",
                    setting, type(exc).__name__, exc)
        return None
    log.info("router model %r ready (%d training messages)", setting, head.get("examples", 0))
    return layer
