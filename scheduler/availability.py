"""When parents say they can meet ("Sabtu pagi", "weekday evenings after 6") as weekly windows.

Parents answer "kapan bisa bertemu?" in their own words, in Bahasa Indonesia, English or both,
with WhatsApp spelling ("sbtu", "mlm", "sore2", "stlh jm 7"). ``parse_availability`` turns that
into weekly windows (``AvailabilityWindow``: a weekday, 0 = Monday, and a start and end time in
the school's local time; a window ends at 23:59 at the latest). Everything here is pure: no
clock, no database, no network.

Parts of the day (one table, ``DAY_PARTS``; English words map onto the same rows)::

    pagi   (morning)               07:00-11:00   before and early in the school day
    siang  (midday, lunchtime)     11:00-15:00   the rest of the school day
    sore   (afternoon)             15:00-18:00   after school, before maghrib
    malam  (evening, night)        18:00-21:00   after maghrib, a sensible end for a visit

"kapan saja" / "bebas" / "terserah" / "anytime" is the whole meeting day, 07:00-21:00, every
day. "hari kerja" / "weekdays" is Monday-Friday; "akhir pekan" / "weekend" / "libur" is
Saturday-Sunday. "malam Minggu" is Saturday evening, as Indonesians say it (the evening before
the named day); "Minggu malam" is Sunday evening.

How a text is read:

- Parts are joined by ``,`` ``;`` ``/`` "dan" "atau" "sama" "and" "or": their windows add up.
  A list of days takes the time written after the last of them ("Senin dan Rabu malam" is two
  evenings); a part with a time and no day keeps the days before it ("Sabtu pagi atau sore").
- "kecuali" "selain" "tidak bisa" "except" "not" "but" subtract what follows, up to the next
  ``;``, full stop, new line, "tapi" or a part opening with "bisa"; written after a part
  ("Rabu tidak bisa") they subtract that part only, with bare days listed just before it
  ("Jumat sama Sabtu tidak bisa"). A text of exclusions only ("kecuali Jumat") subtracts from
  "kapan saja". An excluded day
  part reaches the edge of the day ("kecuali malam" also excludes 21:00-24:00), and a list of
  excluded days does not borrow a later time ("kecuali Jumat dan Sabtu pagi" excludes all of
  Friday): when in doubt, offer fewer times, never one the parent ruled out.
- Clock times: "19.00", "19:00", "jam 7", "pukul 7.30", "7pm", "setengah 8" (07:30). An hour
  of 1-12 without am/pm is read against the day part around it ("jam 7 malam", "malam setelah
  jam 7": 19:00), else inside the meeting day ("jam 4": 16:00, "jam 9": 09:00). A two-digit
  hour with minutes ("10.00", "07.00") is the 24-hour clock unless a day part is written.
- "setelah X" / "after X" runs to the end of the day part (else 21:00), "sebelum X" / "before
  X" from its start (else 07:00); "X-Y" / "X sampai Y" is exactly that; a bare "jam X" is one
  hour. "setelah maghrib" is 18:30, "setelah isya" 19:30, "setelah ashar" 15:30, "setelah
  dzuhur" 12:30, "pulang kerja" / "after work" 17:00 (prayer times vary by place and season;
  these are typical for Indonesia, and a parent who needs precision writes the clock time).
- Nothing is guessed: a word that is neither a day, a time, a day part nor one of the small
  words people add ("saya bisa", "insya Allah", "pak") makes the whole text an
  ``AvailabilityError`` naming the part, so the bot can say so and offer buttons instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from domain.availability import DAY_END as _DAY_END
from domain.availability import (
    AvailabilityError,
    AvailabilityWindow,
    _clock,
    _merge_spans,
    _merge_windows,
    _minutes,
)
from domain.office_hours import DAYS
from templates.render import language_or_default, words


DAY_PARTS: dict[str, tuple[time, time]] = {
    "pagi": (time(7), time(11)),
    "siang": (time(11), time(15)),
    "sore": (time(15), time(18)),
    "malam": (time(18), time(21)),
}
MEETING_DAY = (time(7), time(21))  # "kapan saja": the hours a school meeting can sensibly take
EVENING = time(18)  # parents in the field studies asked for evenings and weekends

_ALL_DAYS = frozenset(range(7))
_HOUR = 60


_PART_MINUTES = {name: (_minutes(a), _minutes(b)) for name, (a, b) in DAY_PARTS.items()}
_MEETING_MINUTES = (_minutes(MEETING_DAY[0]), _minutes(MEETING_DAY[1]))

# ---------------------------------------------------------------------------------------------
# Vocabulary. Token kinds:
_DAY, _DAYS, _EVERY, _PART, _ANY = "day", "days", "every", "part", "any"
_CLOCK, _HALF, _ANCHOR = "clock", "half", "anchor"
_AFTER, _BEFORE, _RANGE, _UPWARD, _BETWEEN = "after", "before", "range", "upward", "between"
_SOFT, _HARD, _NEG, _POS, _BUT = "soft", "hard", "neg", "pos", "but"
_FILLER, _UNKNOWN, _DATE = "filler", "unknown", "date"


@dataclass(frozen=True)
class _Clock:
    """A clock time as written; which half of the day it means is decided in context."""

    hour: int
    minute: int
    text: str
    fixed: bool = False  # "19.00", "07.00", "10.30": the 24-hour clock
    exact: bool = False  # noon, maghrib: never the other half of the day
    meridiem: str | None = None  # "am" / "pm"
    valid: bool = True


_VOCAB: dict[tuple[str, ...], tuple[tuple[str, Any], ...]] = {}


def _learn(kind: str, value: Any, spellings: str) -> None:
    for spelling in spellings.split("|"):
        _VOCAB[tuple(spelling.split())] = ((kind, value),)


_DAY_SPELLINGS = [  # chat spellings and typos beyond office_hours.DAYS
    "snin|snn|senen|mondays|mondy",
    "slsa|sls|slasa|tuesdays|tuesdy",
    "rbu|rebo|weds|wednesdays|wensday|wednsday",
    "kms|kmis|kemis|thursdays",
    "jmt|jmat|jumaat|jum at|fridays",
    "sbtu|sbt|setu|saptu|saturdays|saterday|satruday",
    "mggu|mgg|mingu|mnggu|mingg|akhad|sundays",
]
for _name, _index in DAYS.items():
    _learn(_DAY, _index, _name)
for _index, _spellings in enumerate(_DAY_SPELLINGS):
    _learn(_DAY, _index, _spellings)

_learn(_DAYS, frozenset(range(5)),
       "hari kerja|hr kerja|hari krja|hr krj|hr krja|harikerja|hari biasa|hr biasa|weekday|"
       "weekdays|week day|week days|workday|workdays|work day|work days|working day|"
       "working days|business days")
_learn(_DAYS, frozenset({5, 6}),
       "akhir pekan|akhir pkn|ahir pekan|akhir minggu|ahir minggu|weekend|weekends|week end|"
       "week ends|wiken|wikend|wekend|wkend|wknd|libur|hari libur|hr libur")
_learn(_EVERY, None,
       "setiap hari|tiap hari|tiap hr|stiap hari|setiap hr|sehari hari|every day|everyday|daily|"
       "any day|all week|semua hari|hari apa saja|hari apa aja|hari apapun|hari apa pun")
_learn(_ANY, None,
       "kapan saja|kapan aja|kapan sj|kpn saja|kpn aja|kpn sj|kapanpun|kapan pun|kpnpun|bebas|"
       "terserah|trserah|any time|anytime|whenever|flexible|fleksibel|flexibel|jam berapa saja|"
       "jam berapa aja|jam brp aja|jam berapapun|jam berapa pun|all day|sepanjang hari|"
       "seharian|full day|sewaktu waktu")
_learn(_PART, "pagi", "pagi|pgi|pg|morning|mornings")
_learn(_PART, "siang",
       "siang|siank|midday|lunch|lunchtime|lunch time|makan siang|istirahat siang|tengah hari")
_learn(_PART, "sore", "sore|sre|sorean|petang|afternoon|afternoons")
_learn(_PART, "malam",
       "malam|mlm|malem|mlem|mlam|malm|evening|evenings|night|nights|tonight|nite")
_VOCAB[("weeknight",)] = _VOCAB[("weeknights",)] = ((_DAYS, frozenset(range(5))),
                                                     (_PART, "malam"))
_VOCAB[("malming",)] = ((_PART, "malam"), (_DAY, 6))  # "malam Minggu": Saturday evening
# Indonesian "malam <day>" is the evening before that day; English "evening Saturday" is not.
_EVE_WORDS = frozenset({"malam", "mlm", "malem", "mlem", "mlam", "malm", "malming"})

_learn(_AFTER, None,
       "setelah|stlh|stelah|setlah|sesudah|ssdh|sesudh|sehabis|habis|abis|hbs|after|from|dari|"
       "dr|mulai|mulai dari|lewat|lwt|diatas|di atas|ba'da|bada|bakda|selepas|lepas|selesai|"
       "slesai|since|starting|starting at|starting from")
_learn(_UPWARD, None, "ke atas|keatas|ke atasnya|onwards|onward|or later|and later|dst")
_learn(_BEFORE, None, "sebelum|sblm|sebelom|sblum|sbelum|before|paling lambat")
_learn(_RANGE, None,
       "sampai|sampe|smp|smpe|ampe|sampai dengan|hingga|until|till|til|to|through|thru|upto|up to")
_learn(_BETWEEN, None, "antara|between")
_learn(_HALF, None, "setengah|stengah|stgh")
_learn(_CLOCK, _Clock(12, 0, "noon", exact=True), "noon")
# Fixed points people plan around: (start, end) in minutes. "after" means the end.
_learn(_ANCHOR, (18 * 60, 18 * 60 + 30),
       "maghrib|magrib|mahrib|maghrip|magrip|mgrb|maghreb|sunset")
_learn(_ANCHOR, (19 * 60, 19 * 60 + 30), "isya|isyak|isha")
_learn(_ANCHOR, (15 * 60, 15 * 60 + 30), "ashar|asar")
_learn(_ANCHOR, (12 * 60, 12 * 60 + 30), "dzuhur|zuhur|duhur|dhuhur|zhuhur|lohor|zuhr|dhuhr")
_learn(_ANCHOR, (12 * 60, 13 * 60), "jumatan|jum'atan|friday prayers")
_learn(_ANCHOR, (8 * 60, 17 * 60), "kerja|work|kantor|ngantor")
for _spelling in ("pulang kerja", "pulang kantor", "jam pulang kerja", "jam pulang kantor"):
    _VOCAB[tuple(_spelling.split())] = ((_AFTER, None), (_ANCHOR, (8 * 60, 17 * 60)))

_learn(_SOFT, None, "dan|dn|atau|ato|atw|ataupun|serta|sama|and|or|plus|n")
_learn(_HARD, None, "tapi|tetapi|tp|namun|however")
# Value "before": it only excludes what follows ("kecuali Jumat"); the others may also follow
# what they exclude ("Jumat tidak bisa").
_learn(_NEG, "before",
       "kecuali|kcuali|kec|selain|slain|except|excluding|exclude|apart from|other than|bukan|"
       "jangan|jgn|never")
_learn(_NEG, None,
       "tidak|tdk|tak|gak|ga|gk|nggak|ngga|enggak|engga|ndak|nda|gabisa|gbisa|gbs|gabs|not|no|"
       "cannot|can't|cant|unable")
_learn(_BUT, None, "but")
_learn(_POS, None,
       "bisa|bs|bsa|dapat|dpt|can|could|available|free|luang|kosong|senggang|tersedia|sempat|"
       "smpt|ada waktu")
# The small words around the meaning, in both languages; they carry none of it.
_learn(_FILLER, None,
       "hari|hr|harinya|pada|pd|di|tiap|setiap|stiap|saya|sy|aku|aq|gue|gw|kami|kita|biasanya|"
       "bisanya|biasa|insya allah|insyaallah|insyallah|inshaallah|insya alloh|pak|bu|bapak|ibu|"
       "bpk|bp|mas|mbak|mba|kak|bunda|ya|yaa|iya|ok|oke|okay|okey|sip|siap|aja|saja|sj|ja|deh|"
       "sih|kok|nih|lah|dong|kah|jadwal|waktu|wkt|untuk|utk|buat|bagi|ketemu|bertemu|ketemuan|"
       "pertemuan|rapat|datang|dtg|hadir|ke|sekolah|kalau|kalo|klo|kl|jika|hanya|cuma|cuman|"
       "hny|juga|jg|sekali|banget|bgt|boleh|asal|asalkan|yang penting|yg penting|jadi|lebih|baik|enak|paling|sekitar|skitar|sktr|kira|an|jam|jm|pukul|pkl|pk|"
       "wib|wita|wit|yang|yg|mungkin|kayaknya|sepertinya|sholat|solat|salat|terima kasih|"
       "makasih|trims|tks|thx|thanks|thank you|i|i'm|im|i am|we|we're|are|is|be|the|a|on|at|"
       "in|of|for|me|my|our|us|usually|mostly|normally|generally|only|just|prefer|preferably|"
       "best|good|fine|please|pls|every|each|also|too|around|about|approximately|approx|"
       "roughly|ish|o'clock|oclock|time|times|meeting|meet|come|school|sir|madam|yes|yeah|"
       "sure|would|will|it|that|works|okay")
# A doubled word keeps its meaning ("sore2", "pagi-pagi"); "jam2" stays "jam 2".
_REDUPLICABLE = frozenset({_DAY, _DAYS, _PART, _FILLER})
_LONGEST = max(len(key) for key in _VOCAB)

_LEX = re.compile(r"""[ \t\r\f\v]*(?:
      (?P<sd>s\ ?[./]\ ?d\b\.?)
    | (?P<date>\d+\ ?/\ ?\d+)
    | (?P<num>\d+(?:[.:]\d+)?)(?:\ ?(?P<mer>[ap])\.?\ ?m\b\.?)?
    | (?P<word>[a-z]+(?:'[a-z]+)*)
    | (?P<dash>[-–—~])
    | (?P<soft>[,/&+])
    | (?P<dot>\.)
    | (?P<hard>[;\n!?])
    | (?P<other>.)
)""", re.VERBOSE | re.DOTALL)
_LEX_KINDS = ("sd", "date", "num", "word", "dash", "soft", "dot", "hard", "other")
_DIGIT_AHEAD = re.compile(r"[ \t]*\d")


@dataclass
class _Token:
    kind: str
    value: Any
    text: str
    start: int
    end: int


def _number(text: str, meridiem: str | None) -> _Clock:
    hours, _, minutes = text.replace(":", ".").partition(".")
    hour = int(hours)
    minute = int(minutes) if minutes else 0
    valid = (not minutes or len(minutes) == 2) and hour <= 23 and minute <= 59
    if meridiem is not None:
        valid = valid and 1 <= hour <= 12
    fixed = len(hours) == 2 and (hours[0] == "0" or bool(minutes))
    return _Clock(hour if valid else 0, minute if valid else 0, text, fixed=fixed,
                  meridiem=meridiem, valid=valid)


def _lex(low: str) -> list[_Token]:
    """Raw tokens: words (still to be looked up), numbers and punctuation."""
    tokens: list[_Token] = []
    position = 0
    while position < len(low):
        match = _LEX.match(low, position)
        if match is None:  # only trailing blanks are left
            break
        kind = next(name for name in _LEX_KINDS if match[name] is not None)
        start, end = match.start(kind), match.end()
        position = end
        if kind == "word":
            tokens.append(_Token("word", match["word"], match["word"], start, end))
        elif kind == "num":
            tokens.append(_Token(_CLOCK, _number(match["num"], match["mer"] and match["mer"] + "m"),
                                 low[start:end], start, end))
        elif kind == "sd":
            tokens.append(_Token(_RANGE, None, "s.d.", start, end))
        elif kind == "date":
            tokens.append(_Token(_DATE, None, low[start:end], start, end))
        elif kind == "dash":
            tokens.append(_Token(_RANGE, None, "-", start, end))
        elif kind == "soft":
            tokens.append(_Token(_SOFT, None, low[start:end], start, end))
        elif kind == "hard" or (kind == "dot" and not _DIGIT_AHEAD.match(low, end)):
            # A full stop ends a sentence; "pkl. 19.00" is an abbreviation.
            tokens.append(_Token(_HARD, None, low[start:end], start, end))
    return tokens


def _look_up(raw: list[_Token], low: str) -> list[_Token]:
    """Words to meanings, longest phrase first; fillers dropped, unknown words kept to report."""
    tokens: list[_Token] = []
    index = 0
    while index < len(raw):
        token = raw[index]
        if token.kind != "word":
            tokens.append(token)
            index += 1
            continue
        run = 1  # consecutive words, so a phrase never reaches over punctuation
        while index + run < len(raw) and raw[index + run].kind == "word" and run < _LONGEST:
            run += 1
        for size in range(run, 0, -1):
            key = tuple(t.value for t in raw[index:index + size])
            meaning = _VOCAB.get(key)
            if meaning is None:
                continue
            start, end = token.start, raw[index + size - 1].end
            if size == 1 and meaning[0][0] in _REDUPLICABLE:
                doubled = re.compile(rf"(?:2|-{re.escape(token.value)})(?![a-z0-9])").match(low, end)
                if doubled:
                    end = doubled.end()
                    if index + 1 < len(raw) and raw[index + 1].start < end:
                        index += 1  # the "-sore" of "sore-sore" was lexed as a dash and a word
            for kind, value in meaning:
                if kind != _FILLER:
                    tokens.append(_Token(kind, value, " ".join(key), start, end))
            index += size
            break
        else:
            tokens.append(_Token(_UNKNOWN, token.value, token.value, token.start, token.end))
            index += 1
    return _settle(tokens)


def _settle(tokens: list[_Token]) -> list[_Token]:
    """Words whose meaning depends on their neighbours."""
    settled: list[_Token] = []
    between = False
    for index, token in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if token.kind == _BETWEEN:
            between = True
            continue
        if between and token.kind == _SOFT and token.text in ("dan", "and"):
            # "antara jam 7 dan 9": a range, not two parts.
            token = _Token(_RANGE, None, token.text, token.start, token.end)
            between = False
        elif token.kind in (_SOFT, _HARD, _NEG):
            between = False
        if token.kind == _BUT:
            # "anything but Friday" excludes; "but not" and "but can" say it themselves.
            if following is not None and following.kind in (_NEG, _POS):
                token = _Token(_HARD, None, token.text, token.start, token.end)
            else:
                token = _Token(_NEG, "before", token.text, token.start, token.end)
        if token.kind == _POS and settled and settled[-1].kind == _NEG:
            continue  # the "bisa" of "tidak bisa"
        if token.kind in (_NEG, _AFTER) and settled and settled[-1].kind == token.kind:
            continue  # "kecuali tidak", "but not", "setelah pulang kerja"
        settled.append(token)
    return settled


# ---------------------------------------------------------------------------------------------
# One part ("clause") of the text.


@dataclass
class _Spec:
    kind: str  # "point", "after", "before", "range"
    first: _Clock
    second: _Clock | None = None
    hint: str | None = None  # "jam 7 malam": the day part written right after the clock
    second_hint: str | None = None


@dataclass
class _Reading:
    text: str
    days: set[int] = field(default_factory=set)
    every: bool = False
    anytime: bool = False
    parts: list[str] = field(default_factory=list)
    specs: list[_Spec] = field(default_factory=list)
    positive: bool = False  # opens with "bisa"/"can": an exclusion before it has ended

    @property
    def timed(self) -> bool:
        return bool(self.anytime or self.parts or self.specs)

    @property
    def stated_days(self) -> frozenset[int] | None:
        if self.days:
            return frozenset(self.days)
        return _ALL_DAYS if self.every or self.anytime else None


def _read(tokens: list[_Token], text: str) -> _Reading:
    """One part, ``text`` as written (for errors)."""
    reading = _Reading(text)
    cannot = AvailabilityError(text)

    def clock_at(index: int) -> tuple[_Clock, str | None, int]:
        """The clock starting at ``index``, the day part written right after it, the next index."""
        token = tokens[index]
        if token.kind == _HALF:  # "setengah 8" is half past seven
            if index + 1 >= len(tokens) or tokens[index + 1].kind != _CLOCK:
                raise cannot
            whole = tokens[index + 1].value
            if not whole.valid or whole.minute or whole.meridiem or not 1 <= whole.hour <= 12:
                raise AvailabilityError(text, "impossible time")
            clock, index = _Clock(whole.hour - 1, 30, f"setengah {whole.text}"), index + 2
        else:
            clock, index = token.value, index + 1
        if not clock.valid:
            raise AvailabilityError(text, "impossible time")
        hint = None
        if index < len(tokens) and tokens[index].kind == _PART:
            hint = tokens[index].value
            reading.parts.append(hint)
            index += 1
        return clock, hint, index

    def is_clock(index: int) -> bool:
        return index < len(tokens) and tokens[index].kind in (_CLOCK, _HALF)

    index = 0
    while index < len(tokens):
        token = tokens[index]
        kind = token.kind
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if kind == _DAY:
            if (following is not None and following.kind == _RANGE and index + 2 < len(tokens)
                    and tokens[index + 2].kind == _DAY):
                first, last = token.value, tokens[index + 2].value
                # A range may wrap over the weekend ("Jumat-Senin").
                reading.days.update((first + offset) % 7 for offset in range((last - first) % 7 + 1))
                index += 3
                continue
            reading.days.add(token.value)
        elif kind == _DAYS:
            reading.days.update(token.value)
        elif kind == _EVERY:
            reading.every = True
        elif kind == _ANY:
            reading.anytime = True
        elif kind == _PART:
            eve = (token.text in _EVE_WORDS and following is not None and following.kind == _DAY
                   and not (index + 2 < len(tokens) and tokens[index + 2].kind == _RANGE))
            reading.parts.append(token.value)
            if eve:
                reading.days.add((following.value - 1) % 7)  # type: ignore[union-attr]
                index += 2
                continue
        elif kind in (_CLOCK, _HALF):
            clock, hint, index = clock_at(index)
            if index < len(tokens) and tokens[index].kind == _RANGE and is_clock(index + 1):
                second, second_hint, index = clock_at(index + 1)
                reading.specs.append(_Spec("range", clock, second, hint, second_hint))
            elif index < len(tokens) and tokens[index].kind == _UPWARD:
                reading.specs.append(_Spec("after", clock, hint=hint))
                index += 1
            else:
                reading.specs.append(_Spec("point", clock, hint=hint))
            continue
        elif kind in (_AFTER, _BEFORE) or (kind == _RANGE and is_clock(index + 1)):
            # "dari Senin" is just Monday; "sampai jam 11" (no start) is "before 11".
            if kind == _AFTER and following is not None and following.kind in (_DAY, _DAYS):
                index += 1
                continue
            if following is not None and following.kind == _ANCHOR:
                start, end = following.value
                moment = end if kind == _AFTER else start
                anchor = _Clock(moment // 60, moment % 60, following.text, exact=True)
                reading.specs.append(_Spec("after" if kind == _AFTER else "before", anchor))
                index += 2
                continue
            if not is_clock(index + 1):
                raise cannot
            clock, hint, index = clock_at(index + 1)
            if (kind == _AFTER and index < len(tokens) and tokens[index].kind == _RANGE
                    and is_clock(index + 1)):
                second, second_hint, index = clock_at(index + 1)  # "dari jam 7 sampai 9"
                reading.specs.append(_Spec("range", clock, second, hint, second_hint))
            else:
                reading.specs.append(_Spec("after" if kind == _AFTER else "before", clock,
                                           hint=hint))
            continue
        elif kind == _RANGE:
            pass  # a dash used as punctuation: "- Sabtu pagi"
        elif kind == _POS:
            # "kecuali Jumat, bisa Sabtu pagi": "bisa" opening a part ends the exclusion.
            reading.positive = reading.positive or index == 0
        elif kind == _DATE:
            raise AvailabilityError(text, "a date, not a weekly time")
        else:  # unknown words, a bare "kerja" or "maghrib", a stray "until"
            raise cannot
        index += 1
    if not (reading.days or reading.every or reading.timed):
        raise cannot
    return reading


def _candidates(clock: _Clock, in_context: bool) -> list[tuple[int, bool]]:
    """(minutes, as written) for each half of the day the clock may mean."""
    hour, minute = clock.hour, clock.minute
    if clock.meridiem == "am":
        return [((0 if hour == 12 else hour) * 60 + minute, True)]
    if clock.meridiem == "pm":
        return [((12 if hour == 12 else hour + 12) * 60 + minute, True)]
    if clock.exact or hour == 0 or hour >= 12 or (clock.fixed and not in_context):
        return [(hour * 60 + minute, True)]
    return [(hour * 60 + minute, True), ((hour + 12) * 60 + minute, False)]


def _distance(value: int, context: Sequence[tuple[int, int]]) -> int:
    return min(max(0, low - value, value - high) for low, high in context)


class _Resolver:
    """Reads the clocks of one part against the day parts written in it."""

    def __init__(self, reading: _Reading) -> None:
        self.reading = reading
        self.parts = [_PART_MINUTES[p] for p in reading.parts]

    def context(self, hint: str | None) -> list[tuple[int, int]]:
        if hint is not None:
            return [_PART_MINUTES[hint]]
        return self.parts or [_MEETING_MINUTES]

    def point(self, clock: _Clock, hint: str | None) -> int:
        context = self.context(hint)
        options = _candidates(clock, bool(hint or self.parts))
        return min(options, key=lambda o: (_distance(o[0], context), not o[1], o[0]))[0]

    def pair(self, first: _Clock, first_hint: str | None, second: _Clock,
             second_hint: str | None) -> tuple[int, int]:
        in_context = bool(first_hint or second_hint or self.parts)
        first_context, second_context = self.context(first_hint), self.context(second_hint)
        best: tuple[tuple[int, int, int, int], tuple[int, int]] | None = None
        for start, start_literal in _candidates(first, in_context):
            for end, end_literal in _candidates(second, in_context):
                if end <= start:
                    continue
                score = (_distance(start, first_context) + _distance(end, second_context),
                         -(start_literal + end_literal), end - start, start)
                if best is None or score < best[0]:
                    best = (score, (start, end))
        if best is None:
            raise AvailabilityError(self.reading.text, "ends before it starts")
        return best[1]


def _intervals(reading: _Reading, negative: bool) -> list[tuple[int, int]]:
    """The minutes of a day one part covers. Excluding reaches the edges of the day."""
    resolver = _Resolver(reading)
    spans = [_PART_MINUTES[p] for p in dict.fromkeys(reading.parts)]
    if negative:
        spans = [(0 if low == _PART_MINUTES["pagi"][0] else low,
                  _DAY_END if high == _PART_MINUTES["malam"][1] else high) for low, high in spans]
    if not reading.specs:
        if spans:
            return spans
        return [(0, _DAY_END)] if negative else [_MEETING_MINUTES]
    edges = spans or ([(0, _DAY_END)] if negative else [_MEETING_MINUTES])
    specs = reading.specs
    kinds = sorted(s.kind for s in specs)
    if kinds == ["after", "before"]:  # "setelah jam 5 sebelum jam 8"
        after = next(s for s in specs if s.kind == "after")
        before = next(s for s in specs if s.kind == "before")
        return [resolver.pair(after.first, after.hint, before.first, before.hint)]
    result = []
    for spec in specs:
        if spec.kind == "range":
            assert spec.second is not None
            result.append(resolver.pair(spec.first, spec.hint, spec.second, spec.second_hint))
            continue
        moment = resolver.point(spec.first, spec.hint)
        if spec.kind == "point":
            result.append((moment, min(moment + _HOUR, _DAY_END)))
        elif spec.kind == "after":
            end = max(high for _, high in edges)
            result.append((moment, end if end > moment else min(moment + _HOUR, _DAY_END)))
        else:
            start = min(low for low, _ in edges)
            result.append((start if start < moment else max(moment - _HOUR, 0), moment))
    return result


# ---------------------------------------------------------------------------------------------
# The whole text.

_LINK_RANK = {None: 0, _SOFT: 1, _HARD: 2, _NEG: 3}


def _split(tokens: list[_Token], source: str) -> list[tuple[_Reading, bool, str | None]]:
    """Each part with whether it excludes and how it is joined to the part before it."""
    items: list[_Token | tuple[list[_Token], str]] = []
    current: list[_Token] = []
    begin = 0  # where the part being collected starts in ``source``
    for token in tokens:
        if token.kind in (_SOFT, _HARD, _NEG):
            if current:
                items.append((current, source[begin:token.start].strip()))
                current = []
            items.append(token)
            begin = token.end
        else:
            current.append(token)
    if current:
        items.append((current, source[begin:].strip()))

    parts: list[tuple[_Reading, bool, str | None]] = []
    negative = False
    link: str | None = None
    for index, item in enumerate(items):
        if isinstance(item, tuple):
            reading = _read(*item)
            if reading.positive:
                negative = False
            parts.append((reading, negative, link))
            link = None
            continue
        if item.kind == _NEG:
            following = items[index + 1] if index + 1 < len(items) else None
            if isinstance(following, tuple):
                negative = True
            elif item.value is None and index > 0 and isinstance(items[index - 1], tuple):
                _exclude_last(parts)  # "Rabu tidak bisa"
                continue
            else:
                raise AvailabilityError(source.strip(), "nothing to exclude")
        elif item.kind == _HARD:
            negative = False
        if _LINK_RANK[item.kind] > _LINK_RANK[link]:
            link = item.kind
    return parts


def _exclude_last(parts: list[tuple[_Reading, bool, str | None]]) -> None:
    """A trailing "tidak bisa" excludes the part before it, and the bare days listed just
    before that ("Jumat sama Sabtu tidak bisa"), but not a part with a time of its own
    ("Senin-Jumat malam, Rabu tidak bisa" excludes only Wednesday)."""
    index = len(parts) - 1
    while True:
        reading, _, link = parts[index]
        parts[index] = (reading, True, link)
        if reading.timed or link != _SOFT or index == 0:
            return
        before, negative, _ = parts[index - 1]
        if before.timed or negative:
            return
        index -= 1


_Spans = dict[int, list[tuple[int, int]]]


def _add(into: _Spans, days: Iterable[int], spans: Iterable[tuple[int, int]]) -> None:
    spans = list(spans)
    for day in days:
        into.setdefault(day, []).extend(spans)


def _subtract(spans: list[tuple[int, int]], cuts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    result = spans
    for cut_low, cut_high in cuts:
        result = [piece for low, high in result
                  for piece in ((low, min(high, cut_low)), (max(low, cut_high), high))
                  if piece[0] < piece[1]]
    return result


def parse_availability(text: str) -> list[AvailabilityWindow]:
    """Weekly windows, sorted and merged, from what a parent wrote.

    Raises ``AvailabilityError`` (a ``ValueError``) naming the part it could not read, for
    empty text, words it does not know, impossible times ("jam 25") and exclusions that leave
    nothing.
    """
    if not text or not text.strip():
        raise AvailabilityError("", "empty")
    normal = text.replace("’", "'").replace("‘", "'").replace("`", "'")
    low = normal.lower()
    source = normal if len(low) == len(normal) else low  # spans index the original when they can
    parts = _split(_look_up(_lex(low), low), source)
    if not parts:
        raise AvailabilityError(text.strip(), "empty")

    include: _Spans = {}
    exclude: _Spans = {}
    pending: list[frozenset[int]] = []  # "Senin, Rabu" waiting for "... Jumat malam"
    previous: frozenset[int] | None = None

    def flush() -> None:
        for days in pending:
            _add(include, days, [_MEETING_MINUTES])
        pending.clear()

    for reading, negative, link in parts:
        if pending and (link != _SOFT or negative):
            flush()
        stated = reading.stated_days
        days = stated if stated is not None else (
            frozenset().union(*pending) if pending else previous or _ALL_DAYS)
        if not reading.timed:
            if negative:
                _add(exclude, days, [(0, _DAY_END)])
            else:
                pending.append(days)
            previous = days
            continue
        spans = _intervals(reading, negative)
        if negative:
            _add(exclude, days, spans)
        else:
            for waiting in pending:
                _add(include, waiting, spans)
                days |= waiting  # a later "atau sore" applies to the whole list
            pending.clear()
            _add(include, days, spans)
        previous = days
    flush()

    if not include:  # only exclusions: "kecuali Jumat" is any time but Friday
        _add(include, _ALL_DAYS, [_MEETING_MINUTES])
    windows = [
        AvailabilityWindow(day, _clock(low_), _clock(high))
        for day, spans in include.items()
        for low_, high in _subtract(_merge_spans(spans), _merge_spans(exclude.get(day, [])))
    ]
    windows = _merge_windows(windows)
    if not windows:
        raise AvailabilityError(text.strip(), "nothing left after the exclusions")
    return windows


# ---------------------------------------------------------------------------------------------
# Storage, questions, words, buttons.


def fits(windows: Iterable[AvailabilityWindow], start_local: datetime,
         end_local: datetime) -> bool:
    """Whether a meeting from ``start_local`` to ``end_local`` (school-local) lies entirely
    inside one window. Windows are joined first, so two guardians' touching windows count as
    one."""
    if end_local <= start_local or end_local.date() != start_local.date():
        return False
    weekday, start, end = start_local.weekday(), start_local.time(), end_local.time()
    return any(w.weekday == weekday and w.start <= start and end <= w.end
               for w in _merge_windows(windows))


def is_preferred_time(start_local: datetime) -> bool:
    """A weekend, or a weekday evening (from 18:00): the times parents asked for."""
    return start_local.weekday() >= 5 or start_local.time() >= EVENING


def window_for(weekday: int, part: str) -> AvailabilityWindow:
    """The window of one button of the grid, e.g. ``window_for(5, "pagi")``: Saturday morning."""
    if not 0 <= weekday <= 6 or part not in DAY_PARTS:
        raise AvailabilityError(f"{weekday}:{part}", "no such day or day part")
    start, end = DAY_PARTS[part]
    return AvailabilityWindow(weekday, start, end)


def button_grid() -> list[list[tuple[int, str]]]:
    """Days × day parts for a chat that offers buttons: one row per weekday (Monday first) of
    ``(weekday, part)``; button data such as ``f"av:{weekday}:{part}"`` maps back through
    ``window_for``."""
    return [[(weekday, part) for part in DAY_PARTS] for weekday in range(7)]


def describe_availability(windows: Iterable[AvailabilityWindow], lang: str) -> str:
    """What the bot repeats back, in plain words, e.g. ``Sabtu pagi (07.00–11.00); Senin–Jumat
    19.00–21.00`` / ``Saturday morning (07:00–11:00); Monday–Friday 19:00–21:00``.

    Days with the same windows are grouped into ranges; a window that is exactly a day part is
    named. ``parse_availability`` reads the result back to the same windows.
    """
    lang = language_or_default(lang)
    vocabulary = words(lang)["availability"]
    merged = _merge_windows(windows)
    if not merged:
        return str(vocabulary["none"])
    separator = "." if lang == "id" else ":"
    joiner = f" {vocabulary['and']} "

    def clock(value: time) -> str:
        return f"{value.hour:02d}{separator}{value.minute:02d}"

    def span(window: AvailabilityWindow, alone: bool) -> str:
        hours = f"{clock(window.start)}–{clock(window.end)}"
        for name, bounds in DAY_PARTS.items():
            if bounds == (window.start, window.end):
                return f"{vocabulary['parts'][name]} ({hours})"
        # Only named alone: "Minggu 02.00–05.00 dan kapan saja" would read as every day.
        if alone and (window.start, window.end) == MEETING_DAY:
            return f"{vocabulary['anytime']} ({hours})"
        return hours

    by_day: dict[int, list[AvailabilityWindow]] = {}
    for window in merged:
        by_day.setdefault(window.weekday, []).append(window)
    groups: dict[tuple[str, ...], list[int]] = {}
    for day, day_windows in by_day.items():
        spans = tuple(span(w, len(day_windows) == 1) for w in day_windows)
        groups.setdefault(spans, []).append(day)
    texts = [f"{_day_list(days, vocabulary, joiner)} {joiner.join(spans)}"
             for spans, days in sorted(groups.items(), key=lambda item: item[1][0])]
    return "; ".join(texts)


def _day_list(days: list[int], vocabulary: dict[str, Any], joiner: str) -> str:
    if len(days) == 7:
        return str(vocabulary["every_day"])
    names = vocabulary["days"]
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    items: list[str] = []
    for run in runs:
        # Three days or more read as a range; two are named ("Sabtu dan Minggu").
        if len(run) >= 3:
            items.append(f"{names[run[0]]}–{names[run[-1]]}")
        else:
            items.extend(names[d] for d in run)
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])}{joiner}{items[-1]}"
