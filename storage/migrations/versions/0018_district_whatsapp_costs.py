"""WhatsApp costs and tiers: each outbox row's pricing category, each school sender's daily tier.

Revision ID: 0018_district
Revises: 0017
Create Date: 2026-12-05 09:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0018_district'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pricing_category', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_message_pricing_category'), ['pricing_category'],
                              unique=False)
    with op.batch_alter_table('channel_route', schema=None) as batch_op:
        batch_op.add_column(sa.Column('whatsapp_daily_tier', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('channel_route', schema=None) as batch_op:
        batch_op.drop_column('whatsapp_daily_tier')
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_message_pricing_category'))
        batch_op.drop_column('pricing_category')
