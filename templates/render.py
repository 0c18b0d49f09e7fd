"""Rendering: one Jinja2 environment for chat texts (id/, en/) and web pages (web/), Babel dates.

Chat texts are plain text (no parse mode on any channel), so user words are never interpreted
as markup; web pages autoescape. User text is always data, never template source.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context

HERE = Path(__file__).resolve().parent
LANGUAGES = ("id", "en")

# A value that ends in a full stop ("Dewi Kartikasari, S.Psi.") carries this invisible mark out
# of the template; a full stop the template writes right after it is then dropped, so a name
# with an academic title may end a sentence without "S.Psi.." (see ``_finish``).
_ENDS_WITH_STOP = "\u2063"


def _mark_full_stop(value: Any) -> Any:
    if isinstance(value, str) and value.endswith("."):
        return value + _ENDS_WITH_STOP
    return value


def _finish(text: str) -> str:
    """The rendered text without the marks: one full stop where a value and the template met."""
    return text.replace(_ENDS_WITH_STOP + ".", "").replace(_ENDS_WITH_STOP, "")

_ZONE_ABBREVIATIONS = {
    "Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB",
    "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT",
}


def zone_abbreviation(tz: str) -> str:
    """WIB / WITA / WIT for Indonesian zones, the IANA name otherwise."""
    return _ZONE_ABBREVIATIONS.get(tz, tz)


def format_when(value: datetime, lang: str, tz: str) -> str:
    """A date and time the way a school writes it: 'Sabtu, 19 Desember 2026 pukul 08.00 WIB'."""
    pattern = "EEEE, d MMMM y 'pukul' HH.mm" if lang == "id" else "EEEE, d MMMM y 'at' HH:mm"
    text = format_datetime(value, pattern, tzinfo=ZoneInfo(tz), locale=lang)
    return f"{text} {zone_abbreviation(tz)}"


def format_day(value: datetime, lang: str, tz: str) -> str:
    """A date only: 'Sabtu, 19 Desember 2026'."""
    return format_datetime(value, "EEEE, d MMMM y", tzinfo=ZoneInfo(tz), locale=lang)


def format_slot(start: datetime, end: datetime, lang: str, tz: str) -> str:
    """A slot short enough for a button: 'Sab, 19 Des 08.00–08.20' / 'Sat, 19 Dec 08:00–08:20'."""
    zone = ZoneInfo(tz)
    clock = "HH.mm" if lang == "id" else "HH:mm"
    day = format_datetime(start, "EEE, d MMM", tzinfo=zone, locale=lang)
    return (f"{day} {format_datetime(start, clock, tzinfo=zone, locale=lang)}–"
            f"{format_datetime(end, clock, tzinfo=zone, locale=lang)}")


def office_hours_text(said: dict[str, str] | str, lang: str) -> str:
    """Office hours in the reader's language, from ``domain.office_hours.described`` (a message
    queued before that was passed the roster's text, which is shown as written)."""
    if isinstance(said, dict):
        return said.get(lang) or said.get("id", "")
    return said


@cache
def _reasons(lang: str) -> list[tuple[re.Pattern[str], str]]:
    path = HERE / lang / "reasons.yaml"
    if not path.is_file():
        return []  # English: the checks' own words
    with path.open(encoding="utf-8") as handle:
        return [(re.compile(pattern, re.S), text) for pattern, text in yaml.safe_load(handle)]


def reason(lang: str, text: str) -> str:
    """A check's reason (English, as the CLI prints it) in ``lang`` for a form or an upload."""
    for pattern, said in _reasons(lang):
        match = pattern.fullmatch(text.strip())
        if match:
            return said.format(**match.groupdict())
    return text


@cache
def words(lang: str) -> dict[str, Any]:
    """Short labels (roles, categories, relations, buttons) in one language."""
    with (HERE / lang / "words.yaml").open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def preload() -> None:
    """Read what every message needs (each language's words) ahead of the first one. A server
    calls it in a thread at start-up: parsed by its first webhook, the YAML held the event loop
    for 80 to 250 ms (every answer meanwhile waited; BENCHMARKS.md)."""
    for lang in LANGUAGES:
        words(lang)


@pass_context
def addressed(context: Context, name: str) -> str:
    """A guardian's name with how the school addresses them: 'Bapak Yusuf Maulana' for a father,
    'Ibu Ratna Pratiwi' for a mother, 'Bapak/Ibu ...' when the roster says wali or nothing.

    The relation is the context's ``relation`` (that guardian's, as meeting and concern texts
    carry it), else the one relation all of ``children`` share (welcome, menu).
    """
    relation = context.get("relation")
    if not relation:
        found = {c.get("relation") for c in context.get("children") or [] if isinstance(c, dict)}
        relation = found.pop() if len(found) == 1 else None
    honorific = context["w"]["honorific"]
    return f"{honorific.get(relation, honorific['default'])} {name}"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(HERE)),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        finalize=_mark_full_stop,
    )
    env.filters["when"] = lambda dt, lang, tz: format_when(dt, lang, tz)
    env.filters["day"] = lambda dt, lang, tz: format_day(dt, lang, tz)
    env.filters["hours"] = office_hours_text
    env.filters["longdate"] = lambda d, lang: format_date(d, "EEEE, d MMMM y", locale=lang)
    # ISO-8601 text (the case book's JSON) as a school date and time; empty stays empty.
    env.filters["isowhen"] = lambda s, lang, tz: format_when(datetime.fromisoformat(s), lang, tz) if s else ""
    env.filters["addressed"] = addressed
    env.filters["number"] = lambda n, lang: format_decimal(n, locale=lang)
    env.filters["rupiah"] = lambda n, lang: f"Rp{format_decimal(round(n), locale='id')}" if lang == "id" \
        else f"IDR {format_decimal(round(n), locale='en')}"
    env.filters["slot"] = lambda start, end, lang, tz: f"{format_slot(start, end, lang, tz)} {zone_abbreviation(tz)}"
    env.filters["clock"] = lambda dt, lang, tz: (
        format_datetime(dt, "HH.mm" if lang == "id" else "HH:mm", tzinfo=ZoneInfo(tz), locale=lang)
        + " " + zone_abbreviation(tz)
    )
    return env


def language_or_default(lang: str | None, default: str = "id") -> str:
    return lang if lang in LANGUAGES else default


def has_template(lang: str, name: str) -> bool:
    return (HERE / language_or_default(lang) / f"{name}.j2").exists()


def render(lang: str, name: str, context: dict[str, Any] | None = None) -> str:
    """Render chat template ``<lang>/<name>.j2`` to plain text."""
    lang = language_or_default(lang)
    template = environment().get_template(f"{lang}/{name}.j2")
    text = template.render(lang=lang, w=words(lang), **(context or {}))
    return _finish(text).strip()


def label(lang: str, key: str) -> str:
    """A dotted key into the words file, e.g. 'buttons.counselor_info'."""
    node: Any = words(language_or_default(lang))
    for part in key.split("."):
        node = node[part]
    return str(node)


def render_page(name: str, context: dict[str, Any]) -> str:
    """Render a web page from ``web/`` (autoescaped)."""
    return _finish(environment().get_template(f"web/{name}").render(**context))
