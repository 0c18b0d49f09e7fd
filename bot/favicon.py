"""/favicon.ico: the little green bridge browsers show in the tab (drawn here, no file to ship)."""

from __future__ import annotations

import struct
from functools import cache

from starlette.requests import Request
from starlette.responses import Response

SIZE = 16
GREEN = (0x0B, 0x7A, 0x5A)  # the simulator's and dashboard's green
WHITE = (0xFF, 0xFF, 0xFF)


def _pixel(x: int, y: int) -> tuple[int, int, int, int]:
    """Top-down: a green tile with a white deck (rows 9-10) on two white piers — a bridge."""
    corner = (x in (0, SIZE - 1)) and (y in (0, SIZE - 1))
    if corner:
        return (0, 0, 0, 0)
    deck = y in (9, 10) and 1 <= x <= SIZE - 2
    piers = y >= 11 and y <= SIZE - 3 and x in (4, 5, 10, 11)
    arch = y == 8 and 6 <= x <= 9
    r, g, b = WHITE if deck or piers or arch else GREEN
    return (r, g, b, 0xFF)


@cache
def icon_bytes() -> bytes:
    """A 16×16 32-bit ICO: directory, one BMP entry (bottom-up rows, BGRA), an empty AND mask."""
    pixels = b"".join(bytes((b, g, r, a)) for y in reversed(range(SIZE)) for x in range(SIZE)
                      for r, g, b, a in (_pixel(x, y),))
    mask = bytes(4 * SIZE)  # one 32-bit padded row of bits per row; alpha does the work
    header = struct.pack("<IiiHHIIiiII", 40, SIZE, SIZE * 2, 1, 32, 0, len(pixels) + len(mask), 0, 0, 0, 0)
    image = header + pixels + mask
    directory = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", SIZE, SIZE, 0, 0, 1, 32, len(image), 6 + 16)
    return directory + entry + image


async def favicon(request: Request) -> Response:
    return Response(icon_bytes(), media_type="image/x-icon", headers={"Cache-Control": "public, max-age=86400"})
