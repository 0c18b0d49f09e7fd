"""Builders for Telegram Update JSON, shaped as Telegram sends it (plain dicts).

Feed them to ``FakeBotAPI.push_update`` (polling), POST them to the webhook route, or parse them
with ``telegram.Update.de_json(update, bot)``. All chats are private: ``chat.id == user_id``.

User messages get ids from a high range (100001, 100002, ...) unless ``message_id`` is given,
so they never collide with the ids the fake assigns to the bot's own messages (1, 2, ... per
chat); the fake keeps one sequence per chat afterwards, like Telegram.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from tests.fakes.telegram_api import DEFAULT_BOT_USER

__all__ = [
    "callback_update",
    "contact_update",
    "photo_update",
    "start_update",
    "sticker_update",
    "text_update",
]

_message_ids = itertools.count(100_001)
_callback_ids = itertools.count(4_381_926_501_000_001)


def _utf16_len(text: str) -> int:
    """Entity offsets and lengths are in UTF-16 code units, not code points."""
    return len(text.encode("utf-16-le")) // 2


def _user(user_id: int, first_name: str) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "id"}


def _chat(user_id: int, first_name: str) -> dict[str, Any]:
    return {"id": user_id, "first_name": first_name, "type": "private"}


def _message(
    user_id: int, first_name: str, message_id: int | None, **content: Any
) -> dict[str, Any]:
    return {
        "message_id": message_id if message_id is not None else next(_message_ids),
        "from": _user(user_id, first_name),
        "chat": _chat(user_id, first_name),
        "date": int(time.time()),
        **content,
    }


def _command_entities(text: str) -> list[dict[str, Any]]:
    """Telegram marks a leading "/command" (or "/command@bot") with a bot_command entity."""
    if not text.startswith("/") or len(text) < 2:
        return []
    command = text.split(maxsplit=1)[0]
    return [{"offset": 0, "length": _utf16_len(command), "type": "bot_command"}]


def _bot_message(sent: dict[str, Any], user_id: int, first_name: str) -> dict[str, Any]:
    """A message the bot sent — a ``FakeBotAPI.sent`` record or a Message dict — as a Message."""
    message: dict[str, Any] = {
        "message_id": sent["message_id"],
        "from": sent.get("from") or dict(DEFAULT_BOT_USER),
        "chat": sent["chat"] if isinstance(sent.get("chat"), dict)
        else _chat(int(sent.get("chat_id", user_id)), first_name),
        "date": sent.get("date") or int(time.time()),
    }
    if sent.get("text") is not None:
        message["text"] = sent["text"]
    markup = sent.get("reply_markup")
    # Only inline keyboards appear on a Message; reply keyboards are never echoed back.
    if isinstance(markup, dict) and "inline_keyboard" in markup:
        message["reply_markup"] = markup
    return message


def text_update(
    update_id: int,
    user_id: int,
    text: str,
    *,
    first_name: str = "Budi",
    message_id: int | None = None,
    reply_to: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A text message; ``reply_to`` (a message the bot sent) becomes ``reply_to_message``."""
    content: dict[str, Any] = {"text": text}
    entities = _command_entities(text)
    if entities:
        content["entities"] = entities
    if reply_to is not None:
        content["reply_to_message"] = _bot_message(reply_to, user_id, first_name)
    return {"update_id": update_id, "message": _message(user_id, first_name, message_id, **content)}


def start_update(
    update_id: int,
    user_id: int,
    payload: str | None = None,
    *,
    first_name: str = "Budi",
    message_id: int | None = None,
) -> dict[str, Any]:
    """``/start`` or a deep link's ``/start PAYLOAD``."""
    text = "/start" if payload is None else f"/start {payload}"
    return text_update(update_id, user_id, text, first_name=first_name, message_id=message_id)


def contact_update(
    update_id: int,
    user_id: int,
    phone_number: str,
    *,
    contact_user_id: int | None = None,
    first_name: str = "Budi",
    message_id: int | None = None,
) -> dict[str, Any]:
    """A shared contact (the request_contact button). ``contact_user_id`` defaults to the sender;
    pass another id to model a user sharing someone else's contact."""
    contact_owner = user_id if contact_user_id is None else contact_user_id
    contact = {
        "phone_number": phone_number,
        "first_name": first_name if contact_owner == user_id else "Kontak",
        "user_id": contact_owner,
    }
    return {
        "update_id": update_id,
        "message": _message(user_id, first_name, message_id, contact=contact),
    }


def callback_update(
    update_id: int,
    user_id: int,
    data: str,
    *,
    message: dict[str, Any],
    first_name: str = "Budi",
) -> dict[str, Any]:
    """A press on an inline button of ``message`` (a ``FakeBotAPI.sent`` record or Message)."""
    return {
        "update_id": update_id,
        "callback_query": {
            "id": str(next(_callback_ids)),
            "from": _user(user_id, first_name),
            "message": _bot_message(message, user_id, first_name),
            "chat_instance": str(-(7_000_000_000_000_000_000 + user_id)),
            "data": data,
        },
    }


def sticker_update(
    update_id: int,
    user_id: int,
    *,
    emoji: str = "👍",
    first_name: str = "Budi",
    message_id: int | None = None,
) -> dict[str, Any]:
    """A (static, regular) sticker."""
    sticker = {
        "file_id": "CAACAgIAAxkBAAIBsmZ0c3RpY2tlcl9maWxlX2lk",
        "file_unique_id": "AgADsmZ0",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": emoji,
        "set_name": "JembatanTest",
        "file_size": 23_456,
    }
    return {
        "update_id": update_id,
        "message": _message(user_id, first_name, message_id, sticker=sticker),
    }


def photo_update(
    update_id: int,
    user_id: int,
    *,
    caption: str | None = None,
    first_name: str = "Budi",
    message_id: int | None = None,
) -> dict[str, Any]:
    """A photo: Telegram sends several sizes, smallest first, optionally with a caption."""
    sizes = [(90, 67, 1_234), (320, 240, 15_678), (800, 600, 67_890), (1280, 960, 134_567)]
    photo = [
        {
            "file_id": f"AgACAgUAAxkBAAIBs2Z0cGhvdG8{index}",
            "file_unique_id": f"AQADs2Z0{index}",
            "width": width,
            "height": height,
            "file_size": size,
        }
        for index, (width, height, size) in enumerate(sizes)
    ]
    content: dict[str, Any] = {"photo": photo}
    if caption is not None:
        content["caption"] = caption
    return {"update_id": update_id, "message": _message(user_id, first_name, message_id, **content)}
