"""A bare greeting ("Hi", "halo", "assalamualaikum", "selamat pagi bu"): answered in kind, not a concern."""

from __future__ import annotations

import re

# Words a greeting is made of, and the words.yaml ``greetings`` key each one is answered with.
_OPENERS = {
    "hi": "hello", "hai": "hello", "hay": "hello", "halo": "hello", "hallo": "hello", "hello": "hello",
    "helo": "hello", "hey": "hello", "permisi": "hello", "morning": "morning",
    "assalamualaikum": "salam", "assalamu'alaikum": "salam", "assalamualaikom": "salam",
    "asalamualaikum": "salam", "assalamu": "salam", "salam": "salam", "aslm": "salam",
    "pagi": "morning", "siang": "midday", "sore": "afternoon", "malam": "evening", "met": None,
    "selamat": None, "good": None, "afternoon": "afternoon", "evening": "evening",
}
# Words that may come along without making it more than a greeting.
_ALONG = {
    "bu", "ibu", "pak", "bapak", "bpk", "kak", "mas", "mbak", "admin", "min", "guru", "sir", "madam",
    "miss", "mr", "mrs", "ms", "wr", "wb", "warahmatullahi", "warahmatullah", "wabarakatuh", "alaikum",
    "alaikumsalam", "semua", "all", "there", "everyone", "yth", "teacher", "school", "sekolah", "jembatan",
}
_WORD = re.compile(r"[a-z']+")


def greeting_in(text: str | None) -> str | None:
    """The greeting a message consists of (its words.yaml key), or None if it says anything more."""
    if not text or len(text) > 80:
        return None
    words = _WORD.findall(text.casefold().replace("’", "'"))
    if not words or any(word not in _OPENERS and word not in _ALONG for word in words):
        return None
    if re.search(r"\d", text):
        return None
    kinds = [_OPENERS[word] for word in words if _OPENERS.get(word)]
    return kinds[0] if kinds else None
