"""A school's own corrections as its router remembers them: nearest neighbours over vectors.

Every hand-over, "wrong person" choice and category a guardian picked when asked is a labelled
example of that school (storage/routing_examples.py). The router embeds them with its model and
keeps them per school in this process; a new message whose vector lies close enough to one of
them goes to that example's staff group, so the same kind of message reaches the right person
next time. Only the school's own examples are read, so other schools are unaffected.

The cache is checked on each message with one indexed query (count and newest id of the school's
examples) and rebuilt only when that changes; vectors of texts already seen are kept, so a new
correction costs one embedding.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.router_model import Encoder
from storage.routing_examples import examples_for, examples_stamp

MAX_CACHED_VECTORS = 50_000  # about 75 MB of float32 at 384 numbers each, across all schools


@dataclass(frozen=True)
class Neighbour:
    """The school's closest corrected message: its staff group, category and cosine similarity."""

    group: str
    category: str | None
    similarity: float


@dataclass
class _SchoolExamples:
    stamp: tuple[int, int]
    encoder: str
    matrix: Any  # numpy (n, dim), newest example first
    groups: list[str]
    categories: list[str | None]


_schools: dict[int, _SchoolExamples] = {}
_vectors: OrderedDict[tuple[str, str], Any] = OrderedDict()


def _key(encoder: Encoder, text: str) -> tuple[str, str]:
    return encoder.name, hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


async def _vectors_for(encoder: Encoder, texts: list[str]) -> list[Any]:
    missing = list(dict.fromkeys(t for t in texts if _key(encoder, t) not in _vectors))
    if missing:
        fresh = await asyncio.to_thread(encoder.encode, missing)
        for text, vector in zip(missing, fresh, strict=True):
            _vectors[_key(encoder, text)] = vector
    out = []
    for text in texts:
        key = _key(encoder, text)
        _vectors.move_to_end(key)
        out.append(_vectors[key])
    while len(_vectors) > MAX_CACHED_VECTORS:
        _vectors.popitem(last=False)
    return out


async def _examples(session: AsyncSession, school_id: int,
                    encoder: Encoder) -> _SchoolExamples | None:
    import numpy as np

    stamp = await examples_stamp(session, school_id)
    if stamp[0] == 0:
        _schools.pop(school_id, None)
        return None
    cached = _schools.get(school_id)
    if cached is not None and cached.stamp == stamp and cached.encoder == encoder.name:
        return cached
    rows = await examples_for(session, school_id)
    vectors = await _vectors_for(encoder, [row.text for row in rows])
    entry = _SchoolExamples(stamp, encoder.name, np.vstack(vectors),
                            [row.group for row in rows], [row.category for row in rows])
    _schools[school_id] = entry
    return entry


async def nearest(session: AsyncSession, school_id: int, encoder: Encoder,
                  vector: Any) -> Neighbour | None:
    """This school's corrected message closest to ``vector`` (the newest on a tie), if any."""
    entry = await _examples(session, school_id, encoder)
    if entry is None:
        return None
    similarities = entry.matrix @ vector
    best = int(similarities.argmax())
    return Neighbour(entry.groups[best], entry.categories[best], float(similarities[best]))


def forget() -> None:
    """Drop every cached school and vector (a benchmark measuring a cold start)."""
    _schools.clear()
    _vectors.clear()
