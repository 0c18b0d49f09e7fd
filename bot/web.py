"""Small HTTP helpers shared by the webhooks: bounded bodies (in size and in time) and JSON."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import ClientDisconnect, Request

MAX_BODY = 1024 * 1024  # 1 MiB
BODY_SECONDS = 10.0  # the platforms send a webhook body at once; a trickle is a slow-loris client


class BadInput(Exception):
    """A malformed request body (400)."""


class TooLarge(Exception):
    """A body over MAX_BODY (413)."""


class ClientGone(Exception):
    """The client hung up before its body was in, or sent it too slowly: nothing was accepted,
    nothing to log but a line (a platform retries, a slow-loris client is dropped)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def read_body(request: Request, limit: int = MAX_BODY, seconds: float = BODY_SECONDS) -> bytes:
    """The body, refusing more than ``limit`` bytes without reading it all into memory, and a
    body that takes more than ``seconds`` to arrive."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge()
    chunks, size = [], 0
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise TooLarge()
                chunks.append(chunk)
    except ClientDisconnect as exc:
        raise ClientGone("disconnected") from exc
    except TimeoutError as exc:
        raise ClientGone("too slow") from exc
    return b"".join(chunks)


async def read_json(request: Request) -> dict[str, Any]:
    """A JSON object body, or BadInput."""
    body = await read_body(request)
    try:
        data = json.loads(body, parse_constant=_not_json)
        # Lone surrogates ("\ud800") parse, but no database or platform can store or send them.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError) as exc:  # also 5,000-digit numbers and nesting too deep
        raise BadInput(f"malformed JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadInput("expected a JSON object")
    return data


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")
