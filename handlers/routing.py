"""Where a parent's message should go: the one entry point the conversation asks.

Three layers, and the guardian is asked whenever they do not add up to a clear answer:

1. The school's own corrections (handlers/school_memory.py): when the school has already said
   where a message very like this one belongs (a hand-over, a "wrong person" choice, a category
   the guardian picked), that group answers.
2. The lexicon (handlers/classifier.py), precise on the words it knows, its evidence summed per
   staff group; a subject counts only where it is named as a subject.
3. The learned layer (handlers/router_model.py): an n-gram model that reads wording
   nobody wrote into a list, and a combiner trained to weigh it against the lexicon. A group is
   chosen only when the combined probability reaches the trained threshold; lexicon and model
   disagreeing confidently come out below it, and the bot asks with buttons, which is cheaper
   than the wrong person. For messages under MIN_WORDS_FOR_MODEL words the lexicon alone
   chooses the group. A learning message (a short one too) in which the lexicon found no
   subject takes the model's subject head's answer when it is sure; when the head is sure
   neither of a subject nor that there is none, the bot asks (the wali kelas is the wrong
   person for a question about a subject). Bullying the lexicon finds plainly goes to the
   counselor even where the model is unsure.

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
# greeting or a thanks before the point ("Terima kasih banyak bu"). 5 words: by cross-validation
# on the 2,634 fresh training messages (3, 5, 7, 9 and 12 tried), the model reads one-liners of
# five words or more ("Kapan jadwal ujian praktik angklung?") better than the lexicon alone.
MIN_WORDS_FOR_MODEL = 5
SHORT_NEIGHBOUR_SIMILARITY = 0.9  # a short message follows a correction of (almost) itself only
# What the lexicon says plainly of a child being hurt goes to the counselor even where the model
# is unsure (markup, a pasted text around "Ani dibully"): by cross-validation on the training
# messages it adds right answers and no wrong ones.
SAFETY = ("bullying",)
# A guardian's next message leaves their open concern for another group's only when the combined
# probability reaches this (or it is a counseling matter, which never joins another group's
# concern): continuing costs little (the same staff member answers, or hands it on), a new concern
# on a close call takes a family's follow-up to a stranger ("Baik, terima kasih Bu. Perlu bawa
# apa?" after a maths question read as the office's at 0.83). 0.95 is the threshold at which every
# training writer stayed within 2% confidently wrong out of fold (the ask threshold's rule before
# the fifth session).
CLEAR_TOPIC = 0.95
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
    # The subject head's probability of each of the school's subjects, and of none (key None);
    # None without the model.
    subjects: Mapping[str | None, float] | None = None


async def classify_message(session: AsyncSession, school_id: int, text: str) -> Classification:
    """Route one message of a guardian of this school: category, staff group, named subject."""
    return decide(await read_message(session, school_id, text))


async def read_message(session: AsyncSession, school_id: int, text: str) -> Reading:
    """Every layer's view of a message of this school."""
    subjects = await school_subjects(session, school_id)
    if not router_model.is_ready():  # loaded off the event loop, once (no thread hop after)
        await asyncio.to_thread(router_model.learned_layer)
    reading = read_text(text, subjects)
    layer = router_model.learned_layer()
    if layer is None or reading.combined is None:
        return reading
    neighbour = await school_memory.nearest(session, school_id, layer, text)
    return Reading(reading.lexicon, reading.combined, reading.ask_below, neighbour,
                   reading.subjects)


def read_text(text: str, subjects: Sequence[str]) -> Reading:
    """The lexicon's and the model's view of a message, without any school's corrections."""
    found = evidence(text, subjects)
    layer = router_model.learned_layer()  # the first call loads the model
    if layer is None or not (text or "").strip():
        return Reading(found, None, 1.0, None)
    once = router_model.said_once(text)
    taught = {subject.casefold(): subject for subject in subjects}
    vector = layer.model_vector(once)  # read once, by both heads
    said = layer.subject_probabilities(once, vector)
    heard: dict[str | None, float] = {None: said[None]} if None in said else {}
    for name, p in said.items():  # the head's subject names, as this school writes them
        if name is not None and name.casefold() in taught:
            heard[taught[name.casefold()]] = p
    return Reading(found, layer.probabilities(found, once, vector), layer.ask_below, None,
                   heard or None)


def decide(reading: Reading) -> Classification:
    """One decision from the layers' views (see the module docstring)."""
    found = reading.lexicon
    short = found.words < MIN_WORDS_FOR_MODEL
    near = reading.neighbour
    needed = SHORT_NEIGHBOUR_SIMILARITY if short else NEIGHBOUR_SIMILARITY
    if near is not None and near.similarity >= needed and near.group in GROUPS:
        category = near.category if near.category in GROUPS[near.group] else None
        return _route(found, near.group, category)
    combined = reading.combined
    if not combined or short:
        group = found.decided_group()
        if group is None:
            return _ask(found)
    else:
        group = max(combined, key=lambda g: combined[g])
        # Where the lexicon found nothing of any group, the model alone decides only when clear:
        # a greeting, an introduction or a thanks of five words or more has no point to route
        # ("Bu wali, ini nomor baru saya"), and the training messages, all with a point, cannot
        # teach the model that (out of fold: 1.1 points more asked, no more wrong).
        silent = not any(found.group_scores().values())
        if combined[group] < reading.ask_below or (silent and combined[group] < CLEAR_TOPIC):
            if found.decided_group() == "counseling" and \
                    found.best_category("counseling") in SAFETY:
                return _route(found, "counseling")  # a child hurt goes to the counselor at once
            return _ask(found)
    clear = short or not combined or group == "counseling" or combined[group] >= CLEAR_TOPIC
    heard = reading.subjects  # a short one-liner too: "Tugas pantun berapa bait?"
    if group != "academic" or found.subject or not heard:
        return _route(found, group, clear=clear)
    subject = max((name for name in heard if name is not None), key=lambda n: heard[n],
                  default=None)
    if subject is not None and heard[subject] >= router_model.SUBJECT_SURE:
        return _route(found, group, subject=subject, clear=clear)
    if heard.get(None, 1.0) < router_model.SUBJECT_UNSURE:
        return _ask(found)  # about a subject, but which one the router cannot tell
    return _route(found, group, clear=clear)


def _route(found: Evidence, group: str, category: str | None = None,
           subject: str | None = None, *, clear: bool = True) -> Classification:
    category = category or found.best_category(group) or DEFAULT_CATEGORY[group]
    return Classification(category, group, subject or found.subject, True, clear)


def _ask(found: Evidence) -> Classification:
    return Classification(None, None, found.subject, False)
