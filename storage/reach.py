"""Who the school can reach by chat: the one rule every count and the outbox follow.

A guardian is reachable when they have a linked chat account that still takes messages
(Telegram, WhatsApp, SMS; the simulator's when it is on), or, when the simulator is on, a real
phone number in the roster: the simulator stands in for the real channels and delivers to that
number as WhatsApp would. A guardian with no number and no account (named by Dapodik, not
enrolled yet) cannot be reached: nothing is sent to them, and the school phones them.

``meeting invite`` and ``report participation`` count the held outbox rows (the outbox decides
with ``reaches_by_number``), ``broadcast`` and the dashboard ask ``reachable_phones``: one rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ChannelAccount
from storage.phones import has_phone


def reaches_by_number(phone: str | None, *, simulator_enabled: bool,
                      blocked_channels: Iterable[str] = ()) -> bool:
    """Whether a roster number alone reaches its owner (no linked account needed)."""
    return simulator_enabled and has_phone(phone) and "simulator" not in set(blocked_channels)


def usable_channels(accounts: Iterable[tuple[str, bool]], *, simulator_enabled: bool) -> list[str]:
    """The channels of (channel, blocked) accounts that take messages, sorted."""
    return sorted({channel for channel, blocked in accounts
                   if not blocked and (channel != "simulator" or simulator_enabled)})


def is_reachable(phone: str | None, accounts: Iterable[tuple[str, bool]], *, simulator_enabled: bool) -> bool:
    """The rule, for a phone and its accounts' (channel, blocked)."""
    held = list(accounts)
    return bool(usable_channels(held, simulator_enabled=simulator_enabled)) or reaches_by_number(
        phone, simulator_enabled=simulator_enabled, blocked_channels=[c for c, blocked in held if blocked])


async def accounts_of(session: AsyncSession, phones: Iterable[str]) -> dict[str, list[tuple[str, bool]]]:
    """Each phone's linked accounts as (channel, blocked)."""
    wanted = sorted({p for p in phones if p})
    found: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for start in range(0, len(wanted), 500):
        for phone, channel, blocked in (await session.exec(
                select(ChannelAccount.phone, ChannelAccount.channel, ChannelAccount.blocked)
                .where(col(ChannelAccount.phone).in_(wanted[start:start + 500])))).all():
            found[phone].append((channel, bool(blocked)))  # type: ignore[index]
    return found


async def reachable_phones(session: AsyncSession, phones: Iterable[str], *, simulator_enabled: bool) -> set[str]:
    """The phones (roster keys) among ``phones`` whose owner the school can reach by chat."""
    wanted = set(phones)
    accounts = await accounts_of(session, wanted)
    return {p for p in wanted if is_reachable(p, accounts.get(p, []), simulator_enabled=simulator_enabled)}
