"""Logging for every process: one configuration, and the filter that keeps secrets out of logs.

Libraries log what they see: httpx logs every request URL (a Telegram URL carries the bot
token), uvicorn's access log every path (a dashboard sign-in path carries a one-time login
token), python-telegram-bot at DEBUG every parameter it sends (message texts, contacts).
``Redactor`` rewrites each record's final text — the message with its arguments, and the
exception text — before any handler writes it. It is installed on the handlers, because a
filter on a logger never sees the records its children propagate.

``log_config`` is the one ``dictConfig`` used by the CLI and handed to uvicorn as its
``log_config``, so the web workers uvicorn spawns are configured the same way.

Structured: every line carries the school code, the channel and the bot or sender it is about
(``school=SMPN3 channel=whatsapp bot=SMPN3``, or JSON with ``LOG_FORMAT=json``). Code sets them
for what it does next with :func:`log_context` (a ``contextvars`` value, so each asyncio task
has its own); ``ContextFilter`` copies them onto every record. A recipient's number appears only
masked (``to=+62812****678``), and every field passes ``redact`` too.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from storage.phones import mask_phone

HIDDEN = "[redacted]"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
# Loggers that write what families wrote (SQL parameters; python-telegram-bot's DEBUG lines
# carry every message text) or ten lines per message sent (twilio's request log): kept at
# WARNING whatever LOG_LEVEL says.
QUIET_LOGGERS = ("aiosqlite", "sqlalchemy.engine", "sqlalchemy.pool", "telegram.Bot", "twilio")

# The fields a line carries about what it concerns, in this order.
CONTEXT_FIELDS = ("school", "channel", "bot", "to", "outbox_id", "category")
_context: ContextVar[dict[str, Any]] = ContextVar("jembatan_log_context", default={})

# Secrets known by value (the configured tokens); filled by ``register_secrets``.
_known: set[str] = set()

# (pattern, replacement) pairs for secrets recognised by their shape.
_SHAPES: list[tuple[re.Pattern[str], str]] = [
    # A Telegram bot token inside a Bot API URL (…/bot123456:ABC…/sendMessage), or bare.
    (re.compile(r"(?i)(?<=bot)\d{3,}(?::|%3A)[\w-]+"), HIDDEN),
    (re.compile(r"\b\d{6,}:[A-Za-z0-9_-]{30,}\b"), HIDDEN),
    # A one-time dashboard sign-in link.
    (re.compile(r"(/dashboard/login/)[^\s\"'?#&<>]+"), rf"\g<1>{HIDDEN}"),
    # Link codes: /start payloads, t.me deep links, "daftar CODE" from a letter.
    (re.compile(r"(?i)(/start[ +]|/start%20|[?&]start=)[^\s\"'&<>]+"), rf"\g<1>{HIDDEN}"),
    (re.compile(r"(?i)\b((?:daftar|register)(?: |%20|\+))[A-Za-z0-9-]{4,}"), rf"\g<1>{HIDDEN}"),
    # HTTP credentials: Basic/Bearer headers and user:password@ in URLs.
    (re.compile(r"(?i)\b(basic|bearer)\s+[A-Za-z0-9+/=._-]{8,}"), rf"\g<1> {HIDDEN}"),
    (re.compile(r"(://)[^/\s:@]+:[^/\s@]+@"), rf"\g<1>{HIDDEN}@"),
    # The Telegram webhook secret header, whatever its value.
    (re.compile(r"(?i)(x-telegram-bot-api-secret-token['\"]?\s*[:=,]\s*['\"]?)[^\s'\"]+"),
     rf"\g<1>{HIDDEN}"),
]
# Phone numbers: +62…, 62…, 08…, whatsapp:+…, with spaces or dashes inside.
_PHONE = re.compile(r"(?i:whatsapp|sms|tel):\+?\d{6,15}"
                    r"|(?<![\d*])\+?62(?:[\s-]?\d){8,13}(?!\d)"
                    r"|(?<![\d*])08(?:[\s-]?\d){7,12}(?!\d)")
_ENCODED_PLUS = re.compile(r"(?i)%2B(?=\d)")  # ?phone=%2B62… in an access-log path


def _mask(match: re.Match[str]) -> str:
    text = match.group(0)
    prefix = ""
    if ":" in text:
        prefix, text = text.split(":", 1)
        prefix += ":"
    digits = re.sub(r"\D", "", text)
    if digits.startswith("0"):
        digits = "62" + digits[1:]
    return prefix + mask_phone("+" + digits)


def register_secrets(values: Iterable[str | None]) -> None:
    """Hide these exact values (tokens, secrets) wherever they appear in a log line."""
    for value in values:
        if value and len(value.strip()) >= 6:
            _known.add(value.strip())
    _redacted_fields.clear()  # redacted against the secrets known before


def settings_secrets(settings: Any) -> list[str | None]:
    """The secret values of a ``Settings``."""
    return [getattr(settings, name, None) for name in (
        "telegram_bot_token", "telegram_webhook_secret", "twilio_auth_token", "dashboard_secret",
        "simulator_secret")]


def redact(text: str) -> str:
    """``text`` with every known secret, secret-shaped string and phone number hidden."""
    if not text:
        return text
    for value in sorted(_known, key=len, reverse=True):
        if value in text:
            text = text.replace(value, HIDDEN)
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return _PHONE.sub(_mask, _ENCODED_PLUS.sub("+", text))


class Redactor(logging.Filter):
    """Rewrites a record's message, arguments and exception text with ``redact``; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted", False):
            return True
        record._redacted = True  # type: ignore[attr-defined]  # several handlers, one rewrite
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: let logging report it as it always does
            return True
        clean = redact(message)
        if clean != message:
            if isinstance(record.args, tuple) and record.args and record.name.startswith("uvicorn.access"):
                # uvicorn's access formatter reads the arguments themselves.
                record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
                if redact(record.getMessage()) != record.getMessage():
                    record.msg, record.args = clean, ()
            else:
                record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Every line logged inside carries these fields (None leaves a field out); nests."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Copies the current :func:`log_context` fields onto the record (``extra=`` ones win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


# The context fields' values repeat line after line (a channel, a bot, a school code, a masked
# number): each is redacted once (nine patterns, some 15 µs), then remembered.
_redacted_fields: dict[str, str] = {}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    found = {}
    for key in CONTEXT_FIELDS:
        value = getattr(record, key, None)
        if value is not None and value != "":
            if isinstance(value, str):
                clean = _redacted_fields.get(value)
                if clean is None:
                    if len(_redacted_fields) >= 4096:
                        _redacted_fields.clear()
                    clean = _redacted_fields[value] = redact(value)
                value = clean
            found[key] = value
    return found


class TextFormatter(logging.Formatter):
    """The plain line, then the context as ``key=value`` pairs."""

    def __init__(self) -> None:
        super().__init__(FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _fields(record)
        if not fields:
            return line
        pairs = " ".join(f"{key}={value}" for key, value in fields.items())
        head, newline, rest = line.partition("\n")  # a traceback stays below the pairs
        return f"{head} {pairs}{newline}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the context, the exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
            **_fields(record)}
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def make_handler(stream: Any, fmt: str = "text") -> logging.Handler:
    """A handler as the configuration makes them: context, redaction, text or JSON lines."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    handler.addFilter(Redactor())
    return handler


def log_config(level: str = "INFO", fmt: str = "text") -> dict[str, Any]:
    """The one logging configuration: every record through one handler with the context and
    the ``Redactor``, written as text with ``key=value`` context or as JSON lines (``fmt``).

    uvicorn's loggers get no handlers of their own and propagate to it, so its access log
    (which holds every path, sign-in links included) passes the same filter.
    """
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "bot.logs.ContextFilter"}, "redact": {"()": "bot.logs.Redactor"}},
        "formatters": {"plain": {"()": "bot.logs.TextFormatter"}, "json": {"()": "bot.logs.JsonFormatter"}},
        "handlers": {"default": {"class": "logging.StreamHandler",
                                 "formatter": "json" if fmt == "json" else "plain",
                                 "filters": ["context", "redact"], "stream": "ext://sys.stderr"}},
        "root": {"level": level, "handlers": ["default"]},
        "loggers": {**{name: {"level": level, "handlers": [], "propagate": True} for name in UVICORN_LOGGERS},
                    **{name: {"level": "WARNING"} for name in QUIET_LOGGERS}},
    }


def configure_logging(level: str = "INFO", secrets: Iterable[str | None] = (), fmt: str = "text") -> None:
    """Configure this process's logging (the CLI calls this first) and hide ``secrets``."""
    register_secrets(secrets)
    logging.config.dictConfig(log_config(level, fmt))
    install()


def install() -> None:
    """Put the ``Redactor`` on every handler of the root and uvicorn loggers that lacks one
    (handlers someone added after the configuration, e.g. a test's capture)."""
    for logger in (logging.getLogger(), *(logging.getLogger(name) for name in UVICORN_LOGGERS)):
        for handler in logger.handlers:
            if not any(isinstance(f, ContextFilter) for f in handler.filters):
                handler.addFilter(ContextFilter())
            if not any(isinstance(f, Redactor) for f in handler.filters):
                handler.addFilter(Redactor())
