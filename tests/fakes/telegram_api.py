"""A local, in-memory Telegram Bot API for tests.

python-telegram-bot is pointed at it with ``base_url`` (``Bot(token, base_url=api.base_url)`` or
``ApplicationBuilder().base_url(api.base_url)``), so the real request and response code of PTB is
exercised — form encoding, JSON-string nested objects, error bodies — without reaching Telegram.

It runs a real uvicorn server on 127.0.0.1 (free port) inside the current event loop and speaks
the Bot API wire format: ``{"ok": true, "result": ...}`` on success and
``{"ok": false, "error_code": N, "description": ..., "parameters": {...}}`` on failure. Where
Telegram is strict in ways that catch real bugs it is strict here too (text length, empty text,
HTML/MarkdownV2 that Telegram cannot parse, callback_data over 64 bytes, "message is not
modified", getUpdates while a webhook is set); where strictness would only make tests brittle it
is lenient (replies to or edits of messages it never saw are accepted).

Optionally it enforces Telegram's flood limits on ``sendMessage`` (``rate_limit`` calls in any
one-second window for the whole bot, ``chat_rate_limit`` a second sustained to one chat with
bursts of ``chat_burst``) and answers an excess call with Telegram's 429 body
(``parameters.retry_after``), counting them in ``throttled``. The limits read an injectable
clock (real monotonic time by default) so a test can share the sender's ``ManualClock``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import html
import json
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.clocks import DEFAULT_TOLERANCE, RateClock, seconds_from
from tests.fakes.server import LocalServer

__all__ = ["DEFAULT_BOT_USER", "DEFAULT_TOKEN", "FakeBotAPI", "FloodControl"]

DEFAULT_TOKEN = "123456:TEST-TOKEN"
DEFAULT_BOT_USER: dict[str, Any] = {
    "id": 123456,
    "is_bot": True,
    "first_name": "Jembatan",
    "username": "jembatan_test_bot",
}

MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
# Parameters that are free text: never JSON-decoded, so a message "123" or "[ok]" stays a string.
_FREE_TEXT = frozenset({
    "text", "caption", "data", "query", "secret_token", "url", "parse_mode", "callback_query_id",
    "inline_message_id", "business_connection_id", "language_code", "description",
    "short_description", "name", "title", "phone_number", "first_name", "last_name", "emoji",
    "ip_address", "action", "start_parameter", "payload", "message_effect_id", "file_id",
    "photo", "document", "sticker", "audio", "video", "voice", "animation",
})
# Update fields that Telegram only delivers when explicitly listed in allowed_updates.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

Handler = Callable[[dict[str, Any]], Awaitable[Any]]
# Methods that Telegram's flood control counts (the bot's own messages).
_LIMITED_METHODS = frozenset({"sendmessage"})


class FloodControl:
    """Telegram-like flood limits: per bot, a sliding window; per chat, a token bucket.

    ``check(chat_id)`` answers None when a call may go through now, else the whole seconds to
    wait (Telegram's ``retry_after``, at least 1); ``record(chat_id)`` spends the budget of an
    accepted call. Refused calls spend nothing. The attributes may be changed at any time
    (``api.flood.rate_limit = None`` lifts the per-bot limit).
    """

    def __init__(self, *, rate_limit: int | None, chat_rate_limit: float | None,
                 chat_burst: int, clock: Callable[[], float], tolerance: float,
                 window: float = 1.0) -> None:
        self.rate_limit = rate_limit
        self.chat_rate_limit = chat_rate_limit
        self.chat_burst = max(1, chat_burst)
        self.window = window
        self.tolerance = tolerance
        self.clock = clock
        self._sent: deque[float] = deque()  # accepted calls within the last window
        self._tat: dict[int, float] = {}  # per chat: theoretical arrival time (GCRA)

    def check(self, chat_id: int) -> int | None:
        now = self.clock()
        waits: list[float] = []
        if self.rate_limit is not None:
            while self._sent and now - self._sent[0] >= self.window - self.tolerance:
                self._sent.popleft()
            if len(self._sent) >= self.rate_limit:
                waits.append(self._sent[0] + self.window - now)
        if self.chat_rate_limit:
            interval = 1.0 / self.chat_rate_limit
            allowed_at = self._tat.get(chat_id, now) - (self.chat_burst - 1) * interval
            if now < allowed_at - self.tolerance:
                waits.append(allowed_at - now)
        if not waits:
            return None
        return max(1, math.ceil(max(waits)))

    def record(self, chat_id: int) -> None:
        now = self.clock()
        if self.rate_limit is not None:
            self._sent.append(now)
        if self.chat_rate_limit:
            interval = 1.0 / self.chat_rate_limit
            self._tat[chat_id] = max(self._tat.get(chat_id, now), now) + interval


class _ApiError(Exception):
    """A Bot API error answer: raised by method handlers, turned into Telegram's error body."""

    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {
            "ok": False, "error_code": self.status, "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return JSONResponse(body, status_code=self.status)


def _bad(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")



class FakeBotAPI:
    """A local Telegram Bot API: records what the bot sends, serves updates for polling.

    ``rate_limit``: sendMessage calls accepted in any one-second window (None: unlimited).
    ``chat_rate_limit``: sustained sendMessage calls a second to one chat, with bursts of
    ``chat_burst`` (None: unlimited). ``clock``: what the limits read — a seconds callable
    (default ``time.monotonic``) or an object with ``now() -> datetime`` such as the app's
    ``ManualClock``. ``tolerance``: seconds of slack before a call counts as too early.
    ``FakeBotAPI.telegram_like()`` sets Telegram's documented limits (30/s, 1/s per chat).
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        bot_user: dict[str, Any] | None = None,
        *,
        rate_limit: int | None = None,
        chat_rate_limit: float | None = None,
        chat_burst: int = 3,
        clock: RateClock | None = None,
        tolerance: float = DEFAULT_TOLERANCE,
        latency: float = 0.0,
    ) -> None:
        self.token = token
        # Seconds every answer takes to come back: the round trip to Telegram's servers, which
        # loopback does not have (benchmarks only; tests keep 0 and never wait on the wall clock).
        self.latency = latency
        self.flood = FloodControl(rate_limit=rate_limit, chat_rate_limit=chat_rate_limit,
                                  chat_burst=chat_burst, clock=seconds_from(clock),
                                  tolerance=tolerance)
        # Flood-control 429s answered (injected fail_next() errors are not counted here).
        self.throttled = 0
        # Every sendMessage attempt: {"at": seconds on the limits' clock, "chat_id", "status",
        # and "retry_after" on a 429}.
        self.send_log: list[dict[str, Any]] = []
        self.bot_user: dict[str, Any] = dict(bot_user or DEFAULT_BOT_USER)
        self.sent: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.webhook: dict[str, Any] = {"url": ""}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.port: int | None = None

        self._updates: list[dict[str, Any]] = []
        self._allowed_updates: list[str] | None = None
        self._poll_generation = 0
        self._failures: dict[str, deque[_ApiError]] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._raw_text: dict[tuple[int, int], tuple[str, str | None]] = {}
        self._last_message_id: dict[int, int] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._closing = False
        self._http = LocalServer("fake-telegram-api")
        self._changed = asyncio.Condition()  # any call arrived / anything was sent
        self._updates_changed = asyncio.Condition()  # updates pushed / a newer poll started

        methods: dict[str, Handler] = {
            "getMe": self._get_me,
            "sendMessage": self._send_message,
            "answerCallbackQuery": self._answer_callback_query,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._true,
            "sendChatAction": self._true,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getUpdates": self._get_updates,
        }
        # Telegram method names are case-insensitive.
        self._methods = {name.lower(): (name, handler) for name, handler in methods.items()}

    @classmethod
    def telegram_like(cls, *, clock: RateClock | None = None,
                      tolerance: float = DEFAULT_TOLERANCE) -> FakeBotAPI:
        """A fake enforcing Telegram's limits: 30 messages/s per bot, 1/s per chat (burst 3)."""
        return cls(rate_limit=30, chat_rate_limit=1.0, chat_burst=3, clock=clock,
                   tolerance=tolerance)

    # ----------------------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """What to pass to PTB's ``base_url``; requests go to ``{base_url}{token}/{method}``."""
        if self.port is None:
            raise RuntimeError("FakeBotAPI is not started")
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self) -> None:
        if self._http.running:
            return
        # Conditions bind to the loop that first uses them: make fresh ones for this loop.
        self._changed = asyncio.Condition()
        self._updates_changed = asyncio.Condition()
        self._closing = False
        app = Starlette(routes=[
            Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"]),
            Route("/{path:path}", self._not_found, methods=["GET", "POST"]),
        ])
        self.port = await self._http.start(app)

    async def stop(self) -> None:
        if not self._http.running:
            return
        # Pending long polls would keep uvicorn's graceful shutdown waiting: answer them now.
        self._closing = True
        async with self._updates_changed:
            self._updates_changed.notify_all()
        try:
            await self._http.stop()
        finally:
            for task in list(self._background):
                task.cancel()

    async def __aenter__(self) -> FakeBotAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------------ test-side API

    def messages_to(self, chat_id: int) -> list[dict[str, Any]]:
        """Every sendMessage to ``chat_id``, oldest first."""
        return [m for m in self.sent if m["chat_id"] == chat_id]

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        """The params of every call of ``method`` (case-insensitive), oldest first."""
        return [params for name, params in self.calls if name.lower() == method.lower()]

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """The current state (after edits) of a message the fake knows, as a Message object."""
        found = self._messages.get((chat_id, message_id))
        return copy.deepcopy(found) if found is not None else None

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates pushed but not yet confirmed by a getUpdates offset."""
        return copy.deepcopy(self._updates)

    async def wait_for(
        self,
        predicate: Callable[[list[dict[str, Any]]], bool] | None = None,
        *,
        count: int | None = None,
        timeout: float = 10,
    ) -> list[dict[str, Any]]:
        """Wait until ``predicate(sent)`` holds and/or ``len(sent) >= count``; return ``sent``.

        With neither, waits for at least one message. The predicate is re-checked whenever a
        call arrives, so it may also look at ``calls``. On timeout raises AssertionError listing
        what was sent.
        """

        def satisfied() -> bool:
            if count is not None and len(self.sent) < count:
                return False
            if predicate is not None:
                return bool(predicate(list(self.sent)))
            return count is not None or len(self.sent) >= 1

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(satisfied), timeout)
            except TimeoutError:
                want = f"count={count}" if count is not None else "the predicate"
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {want}; throttled={self.throttled}; "
                    "sent so far:\n" + self._describe_sent()
                ) from None
        return list(self.sent)

    async def wait_for_call(
        self, method: str, *, count: int = 1, timeout: float = 10
    ) -> list[dict[str, Any]]:
        """Wait until ``method`` has been called ``count`` times; return those calls' params."""
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: len(self.calls_of(method)) >= count), timeout
                )
            except TimeoutError:
                seen = [name for name, _ in self.calls]
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {count} x {method}; calls: {seen}"
                ) from None
        return self.calls_of(method)

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates (``update_id`` assigned if missing); wakes long polls."""
        update = copy.deepcopy(update)
        if "update_id" not in update:
            last = max((u["update_id"] for u in self._updates), default=0)
            update = {"update_id": last + 1, **update}
        self._remember_update(update)
        self._updates.append(update)
        self._updates.sort(key=lambda u: u["update_id"])
        self._notify_soon(self._updates_changed)

    def fail_next(
        self,
        method: str,
        *,
        retry_after: int | None = None,
        status: int = 429,
        times: int = 1,
        description: str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` answer with a Telegram error body.

        A 429 always carries ``parameters.retry_after`` (default 1 s) as Telegram does, which PTB
        turns into ``RetryAfter``; 403 → ``Forbidden``, 400 → ``BadRequest``, 5xx →
        ``NetworkError``. ``description`` defaults to Telegram's wording for the status.
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            if status == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            else:
                description = _DEFAULT_DESCRIPTIONS.get(status) or _phrase(status)
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        queue = self._failures.setdefault(method.lower(), deque())
        for _ in range(times):
            queue.append(_ApiError(status, description, parameters))

    # ------------------------------------------------------------------------------ HTTP side

    async def _not_found(self, request: Request) -> JSONResponse:
        return _ApiError(404, "Not Found").response()

    async def _endpoint(self, request: Request) -> JSONResponse:
        response = await self._answer(request)
        if self.latency:
            await asyncio.sleep(self.latency)
        return response

    async def _answer(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return _ApiError(401, "Unauthorized").response()
        method = request.path_params["method"]
        try:
            params = await _read_params(request)
        except _ApiError as exc:
            return exc.response()
        name, handler = self._methods.get(method.lower(), (method, None))
        self.calls.append((name, params))
        await self._notify(self._changed)

        limited = name.lower() in _LIMITED_METHODS
        failures = self._failures.get(name.lower())
        if failures:
            error = failures.popleft()
            if limited:
                self._log_send(params, error.status, (error.parameters or {}).get("retry_after"))
            return error.response()
        if handler is None:
            return _ApiError(404, "Not Found").response()
        if limited:
            refused = self._flood_check(params)
            if refused is not None:
                await self._notify(self._changed)
                return refused.response()
        try:
            result = await handler(params)
        except _ApiError as exc:
            if limited:
                self._log_send(params, exc.status)
            return exc.response()
        finally:
            await self._notify(self._changed)  # sent/messages may have changed
        if limited:
            self.flood.record(_as_int(params.get("chat_id"), 0))
            self._log_send(params, 200)
        return JSONResponse({"ok": True, "result": result})

    def _flood_check(self, params: dict[str, Any]) -> _ApiError | None:
        """Telegram's 429 when this call is over a limit (nothing is spent), else None."""
        retry_after = self.flood.check(_as_int(params.get("chat_id"), 0))
        if retry_after is None:
            return None
        self.throttled += 1
        self._log_send(params, 429, retry_after)
        return _ApiError(429, f"Too Many Requests: retry after {retry_after}",
                         {"retry_after": retry_after})

    def _log_send(self, params: dict[str, Any], status: int, retry_after: int | None = None) -> None:
        entry: dict[str, Any] = {"at": self.flood.clock(),
                                 "chat_id": _as_int(params.get("chat_id"), 0), "status": status}
        if retry_after is not None:
            entry["retry_after"] = retry_after
        self.send_log.append(entry)

    # --------------------------------------------------------------------------------- methods

    async def _true(self, params: dict[str, Any]) -> bool:
        return True

    async def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = _chat_id(params)
        text = params.get("text")
        parse_mode = params.get("parse_mode")
        plain = _check_text(text, parse_mode)
        markup = _check_markup(params.get("reply_markup"))

        message_id = self._next_message_id(chat_id)
        date = int(time.time())
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": dict(self.bot_user),
            "chat": self._chat(chat_id),
            "date": date,
            "text": plain,
        }
        # Telegram echoes only inline keyboards in Message.reply_markup, never reply keyboards.
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        reply_to = self._reply_target(chat_id, params)
        if reply_to is not None:
            message["reply_to_message"] = reply_to

        key = (chat_id, message_id)
        self._messages[key] = message
        self._raw_text[key] = (str(text), parse_mode)
        self.sent.append({**params, "chat_id": chat_id, "message_id": message_id, "date": date})
        return copy.deepcopy(message)

    async def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        if not params.get("callback_query_id"):
            raise _bad('parameter "callback_query_id" is required')
        text = params.get("text")
        if isinstance(text, str) and len(text) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        return True

    async def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        text = params.get("text")
        parse_mode = params.get("parse_mode")
        plain = _check_text(text, parse_mode)
        markup = _check_markup(params.get("reply_markup"), inline_only=True)
        key, message = self._edit_target(params)
        if key is None or message is None:
            return True  # inline message: Telegram answers True
        unchanged = self._raw_text.get(key) == (str(text), parse_mode)
        if unchanged and message.get("reply_markup") == markup:
            raise _bad(_NOT_MODIFIED)
        message["text"] = plain
        self._raw_text[key] = (str(text), parse_mode)
        # Omitting reply_markup in editMessageText removes the inline keyboard, as on Telegram.
        _set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    async def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        markup = _check_markup(params.get("reply_markup"), inline_only=True)
        key, message = self._edit_target(params)
        if key is None or message is None:
            return True
        if message.get("reply_markup") == markup:
            raise _bad(_NOT_MODIFIED)
        _set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    async def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = params.get("url")
        if not isinstance(url, str):
            raise _bad('parameter "url" is required')
        self.webhook = {"url": url}
        for field in ("secret_token", "allowed_updates", "max_connections"):
            if field in params:
                self.webhook[field] = params[field]
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _delete_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook = {"url": ""}
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook["url"],
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook["url"]:
            info["max_connections"] = self.webhook.get("max_connections", 40)
            info["ip_address"] = "127.0.0.1"
            if "allowed_updates" in self.webhook:
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    async def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad('parameter "commands" is required')
        for command in commands:
            name = command.get("command", "") if isinstance(command, dict) else ""
            description = command.get("description", "") if isinstance(command, dict) else ""
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name) or not 1 <= len(description) <= 256:
                raise _bad("BOT_COMMAND_INVALID")
        self.commands[_commands_key(params)] = commands
        return True

    async def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.commands.get(_commands_key(params), [])

    async def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self.commands.pop(_commands_key(params), None)
        return True

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook["url"]:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _int_param(params, "offset", 0)
        limit = min(max(_int_param(params, "limit", 100), 1), 100)
        timeout = max(_int_param(params, "timeout", 0), 0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = allowed or None  # [] means "back to the default set"

        cond = self._updates_changed
        async with cond:
            # Telegram answers an older pending getUpdates with 409 when a newer one arrives.
            self._poll_generation += 1
            generation = self._poll_generation
            cond.notify_all()
            self._confirm(offset)

            def ready() -> bool:
                return (self._closing or generation != self._poll_generation
                        or bool(self._deliverable()))

            if timeout and not ready():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(cond.wait_for(ready), timeout)
            if generation != self._poll_generation and not self._closing:
                raise _ApiError(409, _DEFAULT_DESCRIPTIONS[409])
            return copy.deepcopy(self._deliverable()[:limit])

    # -------------------------------------------------------------------------------- helpers

    def _confirm(self, offset: int) -> None:
        """Apply getUpdates' offset: confirm (forget) earlier updates, as Telegram does."""
        if offset < 0:  # -N: keep only the last N updates, forget everything before them
            del self._updates[: max(len(self._updates) + offset, 0)]
        else:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        # Updates of types the bot did not ask for are never delivered: drop them.
        self._updates = [u for u in self._updates if self._is_allowed(u)]

    def _deliverable(self) -> list[dict[str, Any]]:
        return [u for u in self._updates if self._is_allowed(u)]

    def _is_allowed(self, update: dict[str, Any]) -> bool:
        kinds = [k for k in update if k != "update_id"]
        if self._allowed_updates is None:
            return not any(k in _OPT_IN_UPDATES for k in kinds)
        return any(k in self._allowed_updates for k in kinds)

    def _remember_update(self, update: dict[str, Any]) -> None:
        """Learn chats and user messages so replies and sent messages look like Telegram's."""
        for field in ("message", "edited_message"):
            message = update.get(field)
            if isinstance(message, dict):
                self._remember_message(message)
        query = update.get("callback_query")
        if isinstance(query, dict) and isinstance(query.get("message"), dict):
            self._remember_message(query["message"])

    def _remember_message(self, message: dict[str, Any]) -> None:
        chat = message.get("chat")
        message_id = message.get("message_id")
        if not isinstance(chat, dict) or not isinstance(message_id, int):
            return
        chat_id = int(chat["id"])
        if not (message.get("from") or {}).get("is_bot"):
            self._chats[chat_id] = dict(chat)
        self._messages.setdefault((chat_id, message_id), copy.deepcopy(message))
        # Message ids are one sequence per chat shared by both sides: never reuse a seen id.
        self._last_message_id[chat_id] = max(self._last_message_id.get(chat_id, 0), message_id)

    def _next_message_id(self, chat_id: int) -> int:
        self._last_message_id[chat_id] = self._last_message_id.get(chat_id, 0) + 1
        return self._last_message_id[chat_id]

    def _chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id in self._chats:
            return dict(self._chats[chat_id])
        if chat_id > 0:
            return {"id": chat_id, "first_name": "Budi", "type": "private"}
        kind = "supergroup" if chat_id <= -1_000_000_000_000 else "group"  # -100xxxxxxxxxx
        return {"id": chat_id, "title": "Grup", "type": kind}

    def _reply_target(self, chat_id: int, params: dict[str, Any]) -> dict[str, Any] | None:
        reply_parameters = params.get("reply_parameters")
        message_id: Any = None
        if isinstance(reply_parameters, dict):
            message_id = reply_parameters.get("message_id")
            chat_id = _as_int(reply_parameters.get("chat_id"), chat_id)
        elif params.get("reply_to_message_id") is not None:
            message_id = params["reply_to_message_id"]
        if message_id is None:
            return None
        message_id = _as_int(message_id, 0)
        found = self._messages.get((chat_id, message_id))
        if found is None:  # lenient: a message we never saw (e.g. an update sent by webhook)
            return {"message_id": message_id, "date": int(time.time()), "chat": self._chat(chat_id)}
        reply = copy.deepcopy(found)
        reply.pop("reply_to_message", None)  # Telegram nests replies one level only
        return reply

    def _edit_target(
        self, params: dict[str, Any]
    ) -> tuple[tuple[int, int] | None, dict[str, Any] | None]:
        if params.get("inline_message_id"):
            return None, None
        chat_id = _chat_id(params)
        if params.get("message_id") is None:
            raise _bad("message identifier is not specified")
        key = (chat_id, _as_int(params["message_id"], 0))
        if key not in self._messages:  # lenient: accept edits of messages we never saw
            self._messages[key] = {
                "message_id": key[1], "from": dict(self.bot_user), "chat": self._chat(chat_id),
                "date": int(time.time()), "text": "",
            }
        return key, self._messages[key]

    def _describe_sent(self) -> str:
        if not self.sent:
            return "  (nothing)"
        return "\n".join(
            f"  #{m['message_id']} → {m['chat_id']}: {m.get('text')!r}"
            + (f" markup={json.dumps(m['reply_markup'], ensure_ascii=False)}"
               if m.get("reply_markup") else "")
            for m in self.sent
        )

    async def _notify(self, cond: asyncio.Condition) -> None:
        async with cond:
            cond.notify_all()

    def _notify_soon(self, cond: asyncio.Condition) -> None:
        """Notify from sync code: Condition.notify needs the lock, so do it in a task."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: nobody can be waiting
        task = loop.create_task(self._notify(cond))
        self._background.add(task)
        task.add_done_callback(self._background.discard)


# ------------------------------------------------------------------------ request decoding


async def _read_params(request: Request) -> dict[str, Any]:
    """Params from the query string plus a form-encoded, multipart or JSON body."""
    raw: dict[str, Any] = dict(request.query_params)
    content_type = request.headers.get("content-type", "").lower()
    if request.method == "POST":
        if content_type.startswith("application/json"):
            body = await request.body()
            if body.strip():
                try:
                    data = json.loads(body)
                except ValueError:
                    raise _bad("can't parse JSON encoded request") from None
                if not isinstance(data, dict):
                    raise _bad("JSON request must be an object")
                raw.update(data)
        elif content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            async with request.form() as form:
                for key, value in form.multi_items():
                    if isinstance(value, UploadFile):
                        content = await value.read()
                        raw[key] = {
                            "filename": value.filename,
                            "content_type": value.content_type,
                            "size": len(content),
                        }
                    else:
                        raw[key] = value
    return {key: _decode(key, value) for key, value in raw.items()}


def _decode(key: str, value: Any) -> Any:
    """PTB sends nested objects, numbers and booleans as JSON text in form fields: decode them."""
    if not isinstance(value, str) or key in _FREE_TEXT:
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    return parsed if isinstance(parsed, dict | list | bool | int | float) else value


def _as_int(value: Any, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return default


def _int_param(params: dict[str, Any], name: str, default: int) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, float):
        return int(value)
    if isinstance(value, bool) or _as_int(value, default=-(2**63)) == -(2**63):
        raise _bad(f'parameter "{name}" must be an integer')
    return _as_int(value, default)


def _chat_id(params: dict[str, Any]) -> int:
    value = params.get("chat_id")
    if value is None or value == "":
        raise _bad("chat_id is empty")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise _bad("chat not found")  # "@username" chats do not exist here


def _commands_key(params: dict[str, Any]) -> tuple[str, str]:
    scope = params.get("scope")
    scope_type = scope.get("type", "default") if isinstance(scope, dict) else "default"
    return scope_type, str(params.get("language_code") or "")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Error {status}"


def _set_markup(message: dict[str, Any], markup: dict[str, Any] | None) -> None:
    if markup is None:
        message.pop("reply_markup", None)
    else:
        message["reply_markup"] = markup


# ----------------------------------------------------------------------------- validation


def _check_markup(markup: Any, *, inline_only: bool = False) -> dict[str, Any] | None:
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _bad("can't parse reply keyboard markup JSON object")
    if inline_only and "inline_keyboard" not in markup:
        raise _bad("inline keyboard expected")  # edits only accept inline keyboards
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
                raise _bad("BUTTON_DATA_INVALID")
    return markup


def _check_text(text: Any, parse_mode: str | None) -> str:
    """Validate message text like Telegram; return the text after entity parsing."""
    if not isinstance(text, str) or not text.strip():
        raise _bad("message text is empty")
    mode = (parse_mode or "").lower()
    if mode == "html":
        plain = _parse_html(text)
    elif mode == "markdownv2":
        plain = _parse_markdown_v2(text)
    else:
        plain = text
    if not plain.strip():
        raise _bad("message text is empty")
    if len(plain) > MAX_TEXT:
        raise _bad("message is too long")
    return plain


_HTML_TAGS = frozenset({
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
    "code", "pre", "blockquote", "tg-emoji",
})
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)([^<>]*)>")


def _parse_html(text: str) -> str:
    """Conservative check of Telegram's HTML: only errors Telegram certainly reports."""

    def fail(reason: str) -> _ApiError:
        return _bad(f"can't parse entities: {reason}")

    def offset(index: int) -> int:
        return len(text[:index].encode())

    stack: list[str] = []
    plain: list[str] = []
    pos = 0
    while (start := text.find("<", pos)) != -1:
        plain.append(text[pos:start])
        following = text[start + 1: start + 2]
        if not (following.isalpha() or following == "/"):
            plain.append("<")  # not tag-like: Telegram is not checked here, keep lenient
            pos = start + 1
            continue
        match = _TAG_RE.match(text, start)
        if match is None:
            raise fail(f"Unclosed start tag at byte offset {offset(start)}")
        closing, name, attrs = match.group(1), match.group(2).lower(), match.group(3)
        if closing:
            if not stack:
                raise fail(f'Unexpected end tag at byte offset {offset(start)}')
            if stack[-1] != name:
                raise fail(
                    f'Unmatched end tag at byte offset {offset(start)}, '
                    f'expected "</{stack[-1]}>", found "</{name}>"'
                )
            stack.pop()
        else:
            if name not in _HTML_TAGS:
                raise fail(f'Unsupported start tag "{name}" at byte offset {offset(start)}')
            if name == "span" and "tg-spoiler" not in attrs:
                raise fail('Tag "span" must have class "tg-spoiler" at byte offset '
                           f"{offset(start)}")
            stack.append(name)
        pos = match.end()
    plain.append(text[pos:])
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return html.unescape("".join(plain))


_MDV2_RESERVED = frozenset(".!-=+#{}()")


def _parse_markdown_v2(text: str) -> str:
    """Conservative check of MarkdownV2: unescaped reserved characters and unclosed code."""

    def fail(reason: str) -> _ApiError:
        return _bad(f"can't parse entities: {reason}")

    def find_closing(token: str, start: int) -> int:
        i = start
        while i < len(text):
            if text[i] == "\\":
                i += 2
                continue
            if text.startswith(token, i):
                return i
            i += 1
        return -1

    plain: list[str] = []
    i = 0
    line_start = True
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            plain.append(text[i + 1])
            i += 2
            line_start = False
            continue
        if text.startswith("```", i) or char == "`":
            token = "```" if text.startswith("```", i) else "`"
            end = find_closing(token, i + len(token))
            if end == -1:
                kind = "Pre" if token == "```" else "Code"
                raise fail(f"Can't find end of {kind} entity at byte offset "
                           f"{len(text[:i].encode())}")
            plain.append(text[i + len(token): end])
            i = end + len(token)
            line_start = False
            continue
        if char == "]" and text.startswith("(", i + 1):  # link URL: only ")" must be escaped
            end = find_closing(")", i + 2)
            if end == -1:
                raise fail("Can't find end of a URL")
            i = end + 1
            line_start = False
            continue
        reserved = char in _MDV2_RESERVED and not (char == "!" and text.startswith("[", i + 1))
        if reserved or (char == ">" and not line_start):  # "![..](tg://emoji..)" is allowed
            raise fail(f"Character '{char}' is reserved and must be escaped with the "
                       "preceding '\\'")
        if char not in "*_~|[>":
            plain.append(char)
        line_start = char == "\n"
        i += 1
    return "".join(plain)
