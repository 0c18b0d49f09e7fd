"""One turn of conversation: the inbound message, who sent it, their state, and the clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.messages import Button, Inbound, Outbound, Recipient
from domain.whatsapp_costs import CostPolicy
from storage.models import ChannelAccount, Conversation, Guardian, Staff


@dataclass(frozen=True)
class Policy:
    """School-wide settings the conversation needs (from Settings, passed down)."""

    default_language: str = "id"
    default_timezone: str = "Asia/Jakarta"
    answer_limit_hours: float = 24.0
    link_code_ttl_hours: float = 72.0
    sms_enabled: bool = False
    simulator_enabled: bool = False
    public_base_url: str | None = None  # where links in messages point (the dashboard sign-in)
    served_at: str | None = None  # else the address `jembatan serve` was started on
    costs: CostPolicy = CostPolicy()  # WhatsApp's prices and the default sender's daily tier


@dataclass
class Turn:
    """Everything a handler may read or change while answering one inbound message."""

    session: AsyncSession
    inbound: Inbound
    account: ChannelAccount
    conversation: Conversation
    guardians: list[Guardian]
    staff: list[Staff]
    now: datetime
    policy: Policy
    first_contact: bool = False  # a new account the channel vouched for: welcome it first
    # The school whose own bot or sender received this (CHANNELS_FILE): people are known only
    # within it. None on the deployment's default channels.
    school_id: int | None = None
    replies: list[Outbound] = field(default_factory=list)

    @property
    def linked(self) -> bool:
        return bool(self.guardians or self.staff)

    @property
    def language(self) -> str:
        for person in [*self.staff, *self.guardians]:
            return person.language
        return self.policy.default_language

    def reply(self, template: str, context: dict[str, Any] | None = None,
              buttons: list[list[Button]] | None = None, concern_id: int | None = None) -> None:
        """Answer the sender on the channel they wrote from."""
        self.replies.append(Outbound(
            to=Recipient(phone=self.account.phone if self.linked else None, account_id=self.account.id,
                         language=self.language),
            template=template, context=context or {}, buttons=buttons or [], concern_id=concern_id))

    def send(self, out: Outbound) -> None:
        self.replies.append(out)

    def set_state(self, flow: str | None, step: str | None = None, **data: Any) -> None:
        self.conversation.flow = flow
        self.conversation.step = step
        self.conversation.data = dict(data)
        # updated_at is stamped by the inbox once, at the end of the turn (one write of the row).

    def clear_state(self) -> None:
        self.set_state(None)
