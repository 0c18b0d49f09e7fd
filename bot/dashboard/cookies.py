"""The dashboard's session cookie: staff id and sign-in time, signed with HMAC-SHA256.

The signature also covers the staff member's session generation (``Staff.session_generation``),
which logging out increments: every cookie made before is refused from then on, by every
worker, without a list of revoked cookies. The generation is not in the cookie's text, so the
cookie keeps its shape ``staff_id.signed_in.signature``."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

COOKIE = "jembatan_dashboard"
SESSION = timedelta(hours=12)  # a school day; then the bot sends a new link
CLOCK_SKEW = 300  # seconds another web worker's clock may run behind


class SessionCookie:
    """Makes and checks session cookies; any worker with the same secret accepts them."""

    def __init__(self, secret: str, lifetime: timedelta = SESSION) -> None:
        self._key = hashlib.sha256(b"jembatan-dashboard-session:" + secret.encode()).digest()
        self.lifetime = lifetime

    def _sign(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    @staticmethod
    def _signed(payload: str, generation: int) -> str:
        return payload if not generation else f"{payload}.{generation}"  # generation 0: as before

    def dump(self, staff_id: int, signed_in: datetime, generation: int = 0) -> str:
        payload = f"{staff_id}.{int(signed_in.timestamp())}"
        return f"{payload}.{self._sign(self._signed(payload, generation))}"

    def form_token(self, cookie: str) -> str:
        """The token the dashboard's forms carry: only pages shown to this session (this cookie)
        have it, so a form from another site or from an earlier sign-in is refused."""
        return self._sign(f"form:{cookie}")

    @staticmethod
    def claimed(value: str | None) -> int | None:
        """The staff id a cookie claims, before any check: whose generation to check it with."""
        staff_id = (value or "").partition(".")[0]
        return int(staff_id) if staff_id.isdigit() and len(staff_id) < 12 else None

    def load(self, value: str | None, now: datetime, generation: int = 0) -> int | None:
        """The staff id of a genuine, unexpired cookie of this session generation; else None."""
        if not value:
            return None
        payload, _, signature = value.rpartition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(self._signed(payload, generation)).encode()):
            return None
        staff_id, _, signed_in = payload.partition(".")
        if not (staff_id.isdigit() and signed_in.isdigit()):
            return None
        age = now.timestamp() - int(signed_in)
        return int(staff_id) if -CLOCK_SKEW <= age < self.lifetime.total_seconds() else None
