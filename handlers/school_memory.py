"""A school's own corrections as its router remembers them: nearest neighbours over vectors.

Every hand-over, "wrong person" choice and category a guardian picked when asked is a labelled
example of that school (storage/routing_examples.py). The router turns them into n-gram vectors
(handlers/router_model.py) and keeps them per school in this process; a new message whose
vector lies close enough to one of them goes to that example's staff group, so the same kind of
message reaches the right person next time. Only the school's own examples are read, so other
schools are unaffected.

The cache is checked on each message with one indexed query (count and newest id of the school's
examples) and rebuilt only when that changes; comparing a message with a school's 2,000 newest
corrections takes a few milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.router_model import LearnedLayer
from storage.routing_examples import examples_for, examples_stamp


@dataclass(frozen=True)
class Neighbour:
    """The school's closest corrected message: its staff group, category and cosine similarity."""

    group: str
    category: str | None
    similarity: float


@dataclass
class _SchoolExamples:
    stamp: tuple[int, int]
    layer: LearnedLayer
    rows: Any  # the examples' n-gram vectors, newest example first, as (row, term, value) arrays
    terms: Any
    values: Any
    groups: list[str]
    categories: list[str | None]


# Keyed by database and school: one process may serve several databases (tests, tools).
_schools: dict[tuple[str, int], _SchoolExamples] = {}


def _key(session: AsyncSession, school_id: int) -> tuple[str, int]:
    bind = session.bind
    return (str(getattr(bind, "url", "")) if bind is not None else "", school_id)


async def _examples(session: AsyncSession, school_id: int,
                    layer: LearnedLayer) -> _SchoolExamples | None:
    import numpy as np

    key = _key(session, school_id)
    stamp = await examples_stamp(session, school_id)
    if stamp[0] == 0:
        _schools.pop(key, None)
        return None
    cached = _schools.get(key)
    if cached is not None and cached.stamp == stamp and cached.layer is layer:
        return cached
    examples = await examples_for(session, school_id)
    vectors = [layer.vector(example.text) for example in examples]
    entry = _SchoolExamples(
        stamp, layer,
        np.concatenate([np.full(len(terms), i) for i, (terms, _) in enumerate(vectors)]),
        np.concatenate([terms for terms, _ in vectors]),
        np.concatenate([values for _, values in vectors]),
        [example.group for example in examples], [example.category for example in examples])
    _schools[key] = entry
    return entry


async def nearest(session: AsyncSession, school_id: int, layer: LearnedLayer,
                  text: str) -> Neighbour | None:
    """This school's corrected message closest to ``text`` (the newest on a tie), if any."""
    import numpy as np

    entry = await _examples(session, school_id, layer)
    if entry is None:
        return None
    terms, values = layer.vector(text)
    query = np.zeros(len(layer.terms))  # a Vocabulary: its number of terms
    query[terms] = values
    similarities = np.bincount(entry.rows, weights=entry.values * query[entry.terms],
                               minlength=len(entry.groups))
    best = int(similarities.argmax())
    return Neighbour(entry.groups[best], entry.categories[best], float(similarities[best]))


def forget() -> None:
    """Drop every cached school (a benchmark measuring a cold start)."""
    _schools.clear()
