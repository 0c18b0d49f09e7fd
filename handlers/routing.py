"""Where a parent's message should go: the one entry point the conversation asks.

The lexicon classifier (handlers/classifier.py) is the precise first layer; this module is where
further layers (a learned model, the school's own corrections) join it, so callers never change.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.classifier import Classification, classify
from storage.people import school_subjects


async def classify_message(session: AsyncSession, school_id: int, text: str) -> Classification:
    """Route one message of a guardian of this school: category, staff group, named subject."""
    subjects = await school_subjects(session, school_id)
    return classify(text, subjects)
