"""The school dashboard at ``/dashboard``: one-time sign-in links, pages by role, CSV downloads."""

from bot.dashboard.web import Dashboard

__all__ = ["Dashboard"]
