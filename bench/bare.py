"""The baseline for ``bench.inbound``: a bare Starlette app under the same uvicorn that only reads
each webhook's body and answers, with no database, no signature check and no conversation.

``python -m uvicorn bench.bare:app --host 127.0.0.1 --port P`` (the benchmark starts it).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


async def telegram(request: Request) -> Response:
    await request.body()
    return JSONResponse({"ok": True})


async def whatsapp(request: Request) -> Response:
    await request.body()
    return Response(EMPTY_TWIML, media_type="text/xml")


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[
    Route("/webhooks/telegram", telegram, methods=["POST"]),
    Route("/webhooks/whatsapp", whatsapp, methods=["POST"]),
    Route("/healthz", healthz, methods=["GET"]),
])
