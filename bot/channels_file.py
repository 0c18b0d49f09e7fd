"""`CHANNELS_FILE`: each school of a district its own Telegram bot and WhatsApp / SMS sender.

The file is a YAML mapping from a school code to that school's channels::

    SMPN3:
      telegram_bot_token: "123:ABC"
      telegram_webhook_secret: "..."          # webhook mode (the default when a secret is given)
      telegram_mode: webhook                  # optional: polling | webhook
      twilio_whatsapp_from: "whatsapp:+62..." # on the deployment's Twilio account
      twilio_sms_from: "+62..."               # optional
      whatsapp_daily_tier: 1000               # optional: unique recipients a day (Meta's tier)

A school without an entry, and a kind of channel its entry does not name, use the deployment's
default channels. Every mistake is reported as ``file:line: reason`` before anything starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

KEYS = ("telegram_bot_token", "telegram_webhook_secret", "telegram_mode", "telegram_api_base_url",
        "twilio_whatsapp_from", "twilio_sms_from", "whatsapp_daily_tier")
CHANNEL_KEYS = ("telegram_bot_token", "twilio_whatsapp_from", "twilio_sms_from")


class ChannelsFileError(ValueError):
    """A CHANNELS_FILE that cannot be used: the message is ``file:line: reason``."""


@dataclass(frozen=True)
class SchoolChannels:
    """One school's own channels; ``None`` where it uses the deployment's default."""

    code: str
    telegram_bot_token: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_mode: str = "polling"
    telegram_api_base_url: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_sms_from: str | None = None
    whatsapp_daily_tier: int | None = None  # its WhatsApp sender's tier; None: WHATSAPP_DAILY_TIER

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of channel this school has its own of (telegram, whatsapp, sms)."""
        return tuple(kind for kind, value in (("telegram", self.telegram_bot_token),
                                               ("whatsapp", self.twilio_whatsapp_from),
                                               ("sms", self.twilio_sms_from)) if value)

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.telegram_bot_token, self.telegram_webhook_secret) if s]


@dataclass(frozen=True)
class ChannelsConfig:
    """The parsed file: its schools, and the file's modification time when it was read."""

    path: str | None
    schools: dict[str, SchoolChannels]
    mtime: float = 0.0

    @property
    def secrets(self) -> list[str]:
        return [secret for school in self.schools.values() for secret in school.secrets]

    def school(self, code: str | None) -> SchoolChannels | None:
        return self.schools.get(code) if code else None


EMPTY = ChannelsConfig(None, {})


def load_channels(path: str | None, *, default_mode: str = "polling",
                  twilio_account: bool = True) -> ChannelsConfig:
    """Read and check the file (``None``: no file, every school on the default channels)."""
    if not path:
        return EMPTY
    file = Path(path)
    try:
        raw = file.read_text(encoding="utf-8")
        mtime = os.stat(file).st_mtime
    except OSError as exc:
        raise ChannelsFileError(f"{path}:1: cannot read the file: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ChannelsFileError(f"{path}:1: not UTF-8 text") from exc
    try:
        root = yaml.compose(raw, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ChannelsFileError(f"{path}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if root is None:
        return ChannelsConfig(path, {}, mtime)
    if not isinstance(root, MappingNode):
        raise ChannelsFileError(f"{path}:{_line(root)}: expected a mapping from school codes to channels")
    schools: dict[str, SchoolChannels] = {}
    tokens: dict[str, str] = {}
    senders: dict[str, str] = {}
    for key_node, entry_node in root.value:
        code = _scalar(path, key_node, "a school code")
        if code in schools:
            raise ChannelsFileError(f"{path}:{_line(key_node)}: school {code} appears twice")
        if not isinstance(entry_node, MappingNode):
            raise ChannelsFileError(f"{path}:{_line(entry_node)}: {code}: expected a mapping of channel keys")
        values: dict[str, str] = {}
        lines: dict[str, int] = {}
        for name_node, value_node in entry_node.value:
            name = _scalar(path, name_node, "a key")
            if name not in KEYS:
                raise ChannelsFileError(f"{path}:{_line(name_node)}: {code}: unknown key {name!r} "
                                        f"(expected one of {', '.join(KEYS)})")
            value = _scalar(path, value_node, name).strip()
            if not value:
                raise ChannelsFileError(f"{path}:{_line(value_node)}: {code}: {name} is empty")
            values[name], lines[name] = value, _line(name_node)
        where = f"{path}:{_line(key_node)}: {code}"
        if not any(values.get(key) for key in CHANNEL_KEYS):
            raise ChannelsFileError(f"{where}: missing key: one of {', '.join(CHANNEL_KEYS)}")
        secret = values.get("telegram_webhook_secret")
        mode = values.get("telegram_mode") or ("webhook" if secret else default_mode)
        if mode not in ("polling", "webhook"):
            raise ChannelsFileError(f"{path}:{lines['telegram_mode']}: {code}: telegram_mode must be "
                                    "polling or webhook")
        token = values.get("telegram_bot_token")
        if token and mode == "webhook" and not secret:
            raise ChannelsFileError(f"{where}: missing key telegram_webhook_secret (webhook mode)")
        if not token and (secret or "telegram_mode" in values):
            line = lines.get("telegram_webhook_secret") or lines["telegram_mode"]
            raise ChannelsFileError(f"{path}:{line}: {code}: missing key telegram_bot_token")
        if token and token in tokens:
            raise ChannelsFileError(f"{path}:{lines['telegram_bot_token']}: {code}: the same bot token "
                                    f"as {tokens[token]} (each school needs its own bot)")
        whatsapp = values.get("twilio_whatsapp_from")
        if whatsapp and not whatsapp.startswith("whatsapp:"):
            whatsapp = f"whatsapp:{whatsapp}"
        sms = values.get("twilio_sms_from")
        for name, sender in (("twilio_whatsapp_from", whatsapp), ("twilio_sms_from", sms)):
            if sender and not twilio_account:
                raise ChannelsFileError(f"{path}:{lines[name]}: {code}: {name} needs the deployment's "
                                        "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
            if sender and sender in senders:
                raise ChannelsFileError(f"{path}:{lines[name]}: {code}: the same sender as "
                                        f"{senders[sender]}")
            if sender:
                senders[sender] = code
        tier = values.get("whatsapp_daily_tier")
        if tier is not None and not (tier.replace("_", "").replace(",", "").isdigit()
                                     and int(tier.replace("_", "").replace(",", "")) > 0):
            raise ChannelsFileError(f"{path}:{lines['whatsapp_daily_tier']}: {code}: whatsapp_daily_tier "
                                    "must be a whole number of recipients a day (250, 1000, 10000, 100000)")
        if tier is not None and not whatsapp:
            raise ChannelsFileError(f"{path}:{lines['whatsapp_daily_tier']}: {code}: whatsapp_daily_tier "
                                    "needs twilio_whatsapp_from (the default sender's is WHATSAPP_DAILY_TIER)")
        if token:
            tokens[token] = code
        schools[code] = SchoolChannels(
            code=code, telegram_bot_token=token, telegram_webhook_secret=secret,
            telegram_mode=mode, telegram_api_base_url=values.get("telegram_api_base_url"),
            twilio_whatsapp_from=whatsapp, twilio_sms_from=sms,
            whatsapp_daily_tier=int(tier.replace("_", "").replace(",", "")) if tier else None)
    return ChannelsConfig(path, schools, mtime)


def check_codes(config: ChannelsConfig, known: set[str]) -> None:
    """Every school the file names must be in the database (a typo would silently mean no bot)."""
    if not config.path:
        return
    root = yaml.compose(Path(config.path).read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    lines = {key.value: _line(key) for key, _ in root.value} if isinstance(root, MappingNode) else {}
    for code in config.schools:
        if code not in known:
            raise ChannelsFileError(f"{config.path}:{lines.get(code, 1)}: unknown school code {code!r} "
                                    f"(known: {', '.join(sorted(known)) or 'none imported yet'})")


def file_mtime(path: str | None) -> float:
    """The file's modification time now (0 when it cannot be read)."""
    if not path:
        return 0.0
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _scalar(path: str, node: Node, what: str) -> str:
    if not isinstance(node, ScalarNode):
        raise ChannelsFileError(f"{path}:{_line(node)}: {what} must be a single value")
    return str(node.value)
