"""Telegram adapter: Bot API updates to ``Inbound``, outbox rows to ``sendMessage``.

Built on python-telegram-bot's ``Bot`` (pointed at ``TELEGRAM_API_BASE_URL``). Polling is our own
``getUpdates`` loop so that each update is stored in the inbox before its offset is confirmed;
webhook updates arrive through the ASGI app. No school logic lives here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.inbox import Inbox
from bot.sender import PermanentFailure, RetryLater
from domain.messages import Inbound
from storage.models import ChannelAccount, OutboxMessage

if TYPE_CHECKING:
    from telegram import Bot, InlineKeyboardMarkup, ReplyKeyboardMarkup

# python-telegram-bot (0.1 s of imports) is read where it is used: a process without Telegram (the
# simulator) never reads it, and one with it reads it when the channel is made.
log = logging.getLogger(__name__)

MAX_TEXT = 4096
ALLOWED_UPDATES = ["message", "callback_query"]
CHECK_DELAY = 1.0  # seconds after start-up: a webhook bot's token is checked (getMe) then


class MalformedUpdate(ValueError):
    """A body that is not shaped like an Update Telegram sends (400 at the webhook)."""


_UNREAD = object()  # receive(): the update was not translated by the caller


def update_to_inbound(raw: dict[str, Any], bot: Bot | None = None) -> Inbound | None:
    """Translate a raw Update; None for updates the conversation does not handle.

    Raises MalformedUpdate when a field the conversation reads is missing or of the wrong type,
    or an object it reads lacks a field Telegram always sends (a message's id, date and chat, a
    user's id, first name and is_bot, a chat's id and type, a contact's number and first name).
    ``bot`` is not needed any more (kept for callers that pass it).
    """
    try:
        return _translate(raw)
    except MalformedUpdate:
        raise
    except Exception as exc:  # odd values (a date beyond any calendar...): not an Update we read
        raise MalformedUpdate(f"not a Telegram Update: {type(exc).__name__}: {exc}") from exc


# The JSON is read directly: python-telegram-bot's Update.de_json built some hundred objects an
# update (0.3 ms, half of it attribute setting) to read eight fields. The checks it made on the
# fields read here (required keys, nested objects, the date as a timestamp) are made below.
def _typed(value: Any, kind: type, what: str, *, optional: bool = False) -> Any:
    if (value is None and optional) or (isinstance(value, kind) and not (kind is int and isinstance(value, bool))):
        return value
    raise MalformedUpdate(f"{what} must be {'absent or ' if optional else ''}{kind.__name__}")


def _object(value: Any, what: str, required: tuple[str, ...]) -> dict[str, Any]:
    """A nested Telegram object: a JSON object with the fields Telegram always sends in it."""
    if not isinstance(value, dict):
        raise MalformedUpdate(f"{what} must be an object")
    missing = [key for key in required if key not in value]
    if missing:
        raise MalformedUpdate(f"{what} lacks {', '.join(missing)}")
    return value


def _user(value: Any, what: str) -> dict[str, Any]:
    return _object(value, what, ("id", "first_name", "is_bot"))


def _message(value: Any, what: str) -> dict[str, Any]:
    message = _object(value, what, ("message_id", "date", "chat"))
    date = message["date"]
    if date is not None:  # (python-telegram-bot let a null date through)
        if not isinstance(date, int | float) or isinstance(date, bool):
            raise MalformedUpdate(f"{what}.date must be a timestamp")
        datetime.fromtimestamp(date, UTC)  # a timestamp beyond the calendar raises (OverflowError...)
    _object(message["chat"], f"{what}.chat", ("id", "type"))
    if message.get("from") is not None:
        _user(message["from"], f"{what}.from")
    return message


def _user_name(user: dict[str, Any], what: str) -> str:
    _typed(user["id"], int, f"{what}.id")
    first = _typed(user["first_name"], str, f"{what}.first_name")
    last = _typed(user.get("last_name"), str, f"{what}.last_name", optional=True)
    return str((f"{first} {last}" if last else first) if first else None)  # python-telegram-bot's full_name


def _translate(raw: dict[str, Any]) -> Inbound | None:
    kinds = [kind for kind in ALLOWED_UPDATES if raw.get(kind) is not None]
    if not kinds:
        return None  # an edited message, a poll, a kind Telegram added later: not ours to read
    if "update_id" not in raw:
        raise MalformedUpdate("an Update needs an update_id")
    message = _message(raw["message"], "message") if "message" in kinds else None
    if "callback_query" in kinds:
        query = _object(raw["callback_query"], "callback_query", ("id", "from", "chat_instance"))
        sender = _user(query["from"], "from")
        name = _user_name(sender, "from")
        shown = _message(query["message"], "callback_query.message") if query.get("message") is not None else None
        chat = _typed(shown["chat"]["id"], int, "chat.id") if shown is not None else sender["id"]
        return Inbound(channel="telegram", sender_id=str(sender["id"]), chat_id=str(chat),
                       callback=_typed(query.get("data"), str, "data", optional=True) or "", display_name=name)
    assert message is not None
    user, chat = message.get("from"), message["chat"]
    if user is None or chat["type"] != "private":
        return None
    name = _user_name(user, "from")
    _typed(chat["id"], int, "chat.id")
    _typed(message["message_id"], int, "message_id")
    reply_to = None
    replied = message.get("reply_to_message")
    if replied is not None:
        replied = _message(replied, "reply_to_message")
        if replied.get("from") is not None and replied["from"]["is_bot"] is True:
            reply_to = str(_typed(replied["message_id"], int, "reply_to_message.message_id"))
    contact = message.get("contact")
    if contact is not None:
        contact = _object(contact, "contact", ("phone_number", "first_name"))
        _typed(contact["phone_number"], str, "contact.phone_number")
        _typed(contact.get("user_id"), int, "contact.user_id", optional=True)
    text = message.get("text")
    if text is None:
        text = message.get("caption")
    _typed(text, str, "text", optional=True)
    return Inbound(
        channel="telegram", sender_id=str(user["id"]), chat_id=str(chat["id"]),
        message_id=str(message["message_id"]), text=text, reply_to=reply_to,
        contact_phone=contact["phone_number"] if contact else None,
        contact_is_own=bool(contact and contact.get("user_id") == user["id"]),
        display_name=name, has_media=message.get("text") is None and contact is None,
    )


def reply_markup(buttons: list[list[dict[str, Any]]]) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | None:
    """Inline buttons for choices; a one-time reply keyboard for sharing the contact."""
    if not buttons:
        return None
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup

    if any(b.get("request_contact") for row in buttons for b in row):
        return ReplyKeyboardMarkup(
            [[KeyboardButton(b["label"], request_contact=bool(b.get("request_contact"))) for b in row]
             for row in buttons], one_time_keyboard=True, resize_keyboard=True)
    return InlineKeyboardMarkup([[InlineKeyboardButton(b["label"], callback_data=b["data"]) for b in row]
                                 for row in buttons])


class TelegramChannel:
    """The Telegram side: receiving (polling or webhook) and delivering outbox rows."""

    name = "telegram"

    def __init__(self, *, token: str, base_url: str, inbox: Inbox, rate_per_second: float = 30.0,
                 chat_rate_per_second: float = 1.0, owner: str = "") -> None:
        self.owner = owner  # "" the deployment's bot, else the code of the school it belongs to
        self._token, self._base_url = token, base_url
        self._bot: Bot | None = None
        self._making = threading.Lock()  # the Bot is made once, by a webhook or the start-up thread
        self.inbox = inbox
        self.rate_per_second = rate_per_second
        self.chat_rate_per_second = chat_rate_per_second
        self._polling: asyncio.Task[None] | None = None
        self._checking: asyncio.Task[None] | None = None
        inbox.register("telegram", lambda raw: update_to_inbound(raw, self.bot))

    @property
    def bot(self) -> Bot:
        """python-telegram-bot's ``Bot``, made at its first use (its modules: 0.1 s to read; its
        two HTTP clients: an SSL context each, tens of milliseconds). A webhook bot makes it in a
        thread right after start-up (:meth:`start`): made by the first webhook, on the event
        loop, it held up every answer meanwhile (BENCHMARKS.md, issue 18 item 5)."""
        if self._bot is None:
            with self._making:
                if self._bot is None:
                    from telegram import Bot
                    from telegram.request import HTTPXRequest

                    self._bot = Bot(self._token, base_url=self._base_url,
                                    request=HTTPXRequest(connection_pool_size=16),
                                    get_updates_request=HTTPXRequest(read_timeout=40))
        return self._bot

    @property
    def username(self) -> str | None:
        return self.bot.username if self._bot is not None and self._bot._bot_user is not None else None

    async def start(self, *, polling: bool, poll_timeout: int = 30) -> None:
        """Polling: check the token (getMe: fails early when it is wrong) and start the loop.
        Webhooks: they arrive without any call to Telegram, so the Bot is made in a thread at
        once and the token checked a second after start-up (a wrong one is logged as an error),
        once the service answers."""
        if not polling:
            self._checking = asyncio.create_task(self._check_token_soon(),
                                                 name=f"telegram-getme-{self.owner or 'default'}")
            return
        await self.bot.initialize()
        await self.bot.delete_webhook()
        self._polling = asyncio.create_task(self._poll(poll_timeout),
                                            name=f"telegram-polling-{self.owner or 'default'}")

    async def _check_token_soon(self) -> None:
        await asyncio.to_thread(lambda: self.bot)  # off the event loop (see ``bot``)
        from telegram.error import InvalidToken  # read with the Bot's modules

        await asyncio.sleep(CHECK_DELAY)
        try:
            await self.bot.initialize()
        except InvalidToken:
            log.error("Telegram refused the bot token%s (getMe): updates are stored, answers cannot be sent",
                      f" of school {self.owner}" if self.owner else "")
        except Exception as exc:  # Telegram unreachable: the sender retries each message anyway
            log.warning("Telegram getMe failed: %s", type(exc).__name__)

    async def stop(self) -> None:
        for task in (self._checking, self._polling):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._bot is not None:
            await self._bot.shutdown()

    async def receive(self, raw: dict[str, Any], inbound: Inbound | None | object = _UNREAD) -> bool:
        """Store and process one update (webhook or poll); False for a repeated ``update_id``.
        ``inbound``: the update as the webhook already translated it (not parsed again).

        A button press is stored first, then its spinner stopped (a call to Telegram, never
        inside a transaction), then answered; anything else is stored and answered at once."""
        if not isinstance(raw.get("callback_query"), dict):
            extra = {} if inbound is _UNREAD else {"inbound": inbound}
            return await self.inbox.accept("telegram", str(raw["update_id"]), raw, self.owner, **extra)
        row = await self.inbox.store("telegram", str(raw["update_id"]), raw, self.owner)
        if row is None:
            return False
        await self._answer_callback(raw)
        await self.inbox.process(row.id, stored=row)  # type: ignore[arg-type]
        return True

    async def _poll(self, timeout: int) -> None:
        from telegram.error import InvalidToken, RetryAfter, TelegramError

        offset: int | None = None
        failures = 0
        while True:
            try:
                updates = await self.bot.get_updates(offset=offset, timeout=timeout,
                                                     allowed_updates=ALLOWED_UPDATES)
                failures = 0
            except asyncio.CancelledError:
                raise
            except InvalidToken:
                log.error("Telegram refused the bot token; polling stopped")
                return
            except RetryAfter as exc:
                await asyncio.sleep(exc._retry_after.total_seconds())  # PTB 22: timedelta behind a deprecated int
                continue
            except TelegramError as exc:
                failures += 1
                log.warning("getUpdates failed (%s); retrying", exc)
                await asyncio.sleep(min(2 ** failures, 30))
                continue
            for update in updates:
                try:
                    await self.receive(update.to_dict())
                except Exception:
                    # Not stored: leave the offset so Telegram hands it to us again.
                    log.exception("telegram update %s could not be stored", update.update_id)
                    await asyncio.sleep(1)
                    break
                offset = update.update_id + 1

    async def _answer_callback(self, raw: dict[str, Any]) -> None:
        from telegram.error import TelegramError

        query = raw.get("callback_query")
        if isinstance(query, dict) and query.get("id"):
            try:
                await self.bot.answer_callback_query(str(query["id"]))
            except TelegramError as exc:  # the spinner stops by itself; not worth failing over
                log.info("answerCallbackQuery failed: %s", exc)

    async def deliver(self, message: OutboxMessage, account: ChannelAccount | None = None) -> str:
        from telegram.error import BadRequest, Forbidden, RetryAfter

        text = message.text if len(message.text) <= MAX_TEXT else message.text[: MAX_TEXT - 1] + "…"
        try:
            sent = await self.bot.send_message(
                chat_id=int(message.chat_id), text=text, reply_markup=reply_markup(message.buttons))
        except RetryAfter as exc:
            raise RetryLater(exc._retry_after.total_seconds(), str(exc), whole_channel=True,
                             throttled=True) from exc
        except Forbidden as exc:
            raise PermanentFailure(f"forbidden: {exc.message}", unreachable=True) from exc
        except BadRequest as exc:
            unreachable = "chat not found" in exc.message.lower()
            raise PermanentFailure(f"bad request: {exc.message}", unreachable=unreachable) from exc
        return str(sent.message_id)
