"""The dashboard's session cookie: staff id and sign-in time, signed with HMAC-SHA256."""

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

    def dump(self, staff_id: int, signed_in: datetime) -> str:
        payload = f"{staff_id}.{int(signed_in.timestamp())}"
        return f"{payload}.{self._sign(payload)}"

    def load(self, value: str | None, now: datetime) -> int | None:
        """The staff id of a genuine, unexpired cookie; None otherwise."""
        if not value:
            return None
        payload, _, signature = value.rpartition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            return None
        staff_id, _, signed_in = payload.partition(".")
        if not (staff_id.isdigit() and signed_in.isdigit()):
            return None
        age = now.timestamp() - int(signed_in)
        return int(staff_id) if -CLOCK_SKEW <= age < self.lifetime.total_seconds() else None
