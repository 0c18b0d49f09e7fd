"""Small HTTP helpers shared by the webhooks: bounded bodies and JSON parsing."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

MAX_BODY = 1024 * 1024  # 1 MiB


class BadInput(Exception):
    """A malformed request body (400)."""


class TooLarge(Exception):
    """A body over MAX_BODY (413)."""


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The body, refusing more than ``limit`` bytes without reading it all into memory."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge()
        chunks.append(chunk)
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
