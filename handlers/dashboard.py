"""`dasbor` / `dashboard`: a staff member gets a one-time link that signs them in to the dashboard."""

from __future__ import annotations

from handlers.turn import Turn
from storage.dashboard_access import LINK_MINUTES, issue_link

LOCAL_ADDRESS = "http://127.0.0.1:8000"  # `make run`'s default, for an app not started by `serve`


def dashboard_address(turn: Turn, path: str = "/dashboard") -> str:
    """A dashboard page's address: PUBLIC_BASE_URL, else where the server was started."""
    base = (turn.policy.public_base_url or turn.policy.served_at or LOCAL_ADDRESS).rstrip("/")
    return f"{base}{path}"


async def send_link(turn: Turn, _argument: str) -> None:
    """Reply with a short-lived, single-use sign-in link bound to this staff member."""
    staff = turn.staff[0]
    token = await issue_link(turn.session, staff, now=turn.now)
    turn.reply("dashboard_link", {"name": staff.name, "url": dashboard_address(turn, f"/dashboard/login/{token}"),
                                  "minutes": LINK_MINUTES})
