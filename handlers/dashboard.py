"""`dasbor` / `dashboard`: a staff member gets a one-time link that signs them in to the dashboard."""

from __future__ import annotations

from handlers.turn import Turn
from storage.dashboard_access import LINK_MINUTES, issue_link

LOCAL_ADDRESS = "http://127.0.0.1:8000"  # `make run`'s default, for an app not started by `serve`


async def send_link(turn: Turn, _argument: str) -> None:
    """Reply with a short-lived, single-use sign-in link bound to this staff member."""
    staff = turn.staff[0]
    token = await issue_link(turn.session, staff, now=turn.now)
    base = (turn.policy.public_base_url or turn.policy.served_at or LOCAL_ADDRESS).rstrip("/")
    turn.reply("dashboard_link", {"name": staff.name, "url": f"{base}/dashboard/login/{token}",
                                  "minutes": LINK_MINUTES})
