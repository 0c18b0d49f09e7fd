"""Where a parent's message should go: the one entry point the conversation asks.

Three layers, and the guardian is asked whenever they do not add up to a clear answer:

1. The school's own corrections (handlers/school_memory.py): when the school has already said
   where a message very like this one belongs (a hand-over, a "wrong person" choice, a category
   the guardian picked), that group answers.
2. The lexicon (handlers/classifier.py), precise on the words it knows, its evidence summed per
   staff group; a subject counts only where it is named as a subject.
3. The learned layer (handlers/router_model.py): a character n-gram model that reads wording
   nobody wrote into a list, and a combiner trained to weigh it against the lexicon. A group is
   chosen only when the combined probability reaches the trained threshold; lexicon and model
   disagreeing confidently come out below it, and the bot asks with buttons, which is cheaper
   than the wrong person. Messages under MIN_WORDS_FOR_MODEL words are the lexicon's alone.

Without the model (``ROUTER_MODEL=off``, or a head file missing or broken) the lexicon routes
alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import router_model, school_memory
from handlers.classifier import GROUPS, Classification, Evidence, evidence
from storage.people import school_subjects

# Cosine similarity of n-gram vectors above which a school's corrected message decides: the same
# message reworded (greeting, chat spelling, another name) stays above it, while different
# messages of parents seldom reach 0.5.
NEIGHBOUR_SIMILARITY = 0.6
# Shorter messages are the lexicon's alone: a few pieces of words are too little for the model
# ("Anak saya sakit" is mostly "anak saya"), and without a clear lexicon word such a message is a
# greeting, an introduction or a thanks before the point ("Halo pak, saya ibunya Rina kelas 7B").
# 9 words: of the fresh training messages, 376 of 384 have at least as many.
MIN_WORDS_FOR_MODEL = 9
SHORT_NEIGHBOUR_SIMILARITY = 0.9  # a short message follows a correction of (almost) itself only
# A report of bullying or violence that the lexicon reads unmistakably (a word of weight 4, clear
# of every other group) goes to the guru BK even when the model hesitates over the rest of the
# message (pasted text, markup): asking first only delays the one who must act.
SAFETY_SCORE = 4.0
# The category a group's concern takes when the lexicon saw nothing of that group.
DEFAULT_CATEGORY = {"counseling": "behaviour", "academic": "academic", "absence": "absence",
                    "admin": "fees"}


@dataclass(frozen=True)
class Reading:
    """What each layer said about one message (kept for the benchmark and the tests)."""

    lexicon: Evidence
    combined: Mapping[str, float] | None  # probability per group; None without the model
    ask_below: float  # the combined probability under which the router asks
    neighbour: school_memory.Neighbour | None


async def classify_message(session: AsyncSession, school_id: int, text: str) -> Classification:
    """Route one message of a guardian of this school: category, staff group, named subject."""
    return decide(await read_message(session, school_id, text))


async def read_message(session: AsyncSession, school_id: int, text: str) -> Reading:
    """Every layer's view of a message of this school."""
    subjects = await school_subjects(session, school_id)
    await asyncio.to_thread(router_model.learned_layer)  # loaded off the event loop, once
    reading = read_text(text, subjects)
    layer = router_model.learned_layer()
    if layer is None or reading.combined is None:
        return reading
    neighbour = await school_memory.nearest(session, school_id, layer, text)
    return Reading(reading.lexicon, reading.combined, reading.ask_below, neighbour)


def read_text(text: str, subjects: Sequence[str]) -> Reading:
    """The lexicon's and the model's view of a message, without any school's corrections."""
    found = evidence(text, subjects)
    layer = router_model.learned_layer()  # the first call loads the model
    if layer is None or not (text or "").strip():
        return Reading(found, None, 1.0, None)
    return Reading(found, layer.probabilities(found, text), layer.ask_below, None)


def decide(reading: Reading) -> Classification:
    """One decision from the layers' views (see the module docstring)."""
    found = reading.lexicon
    short = found.words < MIN_WORDS_FOR_MODEL
    near = reading.neighbour
    needed = SHORT_NEIGHBOUR_SIMILARITY if short else NEIGHBOUR_SIMILARITY
    if near is not None and near.similarity >= needed and near.group in GROUPS:
        category = near.category if near.category in GROUPS[near.group] else None
        return _route(found, near.group, category)
    if found.scores.get("bullying", 0.0) >= SAFETY_SCORE and found.decided_group() == "counseling":
        return _route(found, "counseling")
    combined = reading.combined
    if not combined or short:
        group = found.decided_group()
        return _route(found, group) if group else _ask(found)
    group = max(combined, key=lambda g: combined[g])
    return _route(found, group) if combined[group] >= reading.ask_below else _ask(found)


def _route(found: Evidence, group: str, category: str | None = None) -> Classification:
    category = category or found.best_category(group) or DEFAULT_CATEGORY[group]
    return Classification(category, group, found.subject, True)


def _ask(found: Evidence) -> Classification:
    return Classification(None, None, found.subject, False)
